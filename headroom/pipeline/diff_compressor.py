"""Diff compressor for unified diffs and `git format-patch` output.

First pass: keep the message, file headers, hunk headers and every changed line; unchanged context lines go,
and each hunk header says how many it lost. When that is still large, keep the hunks most relevant to the
query (all hunks of files the query names), drop the rest behind a marker that counts them and still shows
their gist (definition lines such as `+def f(` and one-key replacements such as `-  name="a",` / `+  name="b",`),
and trim very large kept hunks to their relevant lines and that same gist.
"""

from __future__ import annotations

import re

from headroom.pipeline.diff_parse import Hunk, Segment, parse_diff
from headroom.pipeline.relevance import bm25_scores, query_terms
from headroom.pipeline.types import Compressed, CompressionContext, omitted

_MIN_GAIN = 0.10
_BUDGET_CHARS = 4_000
_BUDGET_SHARE = 0.15
_HUNK_HEAD_LINES = 4
_CHANGELOG = re.compile(r"(?:^|/)(?:changelog|changes|news|release[-_]?notes)\b", re.I)
_CHANGELOG_HUNK_CHARS = 1_000
_MIN_TRIM_CHARS = 600
_TRIM_LINE_CHARS = 60
_REPLACEMENT_LINE_CHARS = 100
# A changed line's key: its indentation and the name before `=`, `:` or `(` (`    name=`, `  timeout:`).
# Possessive quantifiers: what follows each one never starts with what it consumes, so giving characters back
# could never help a match, and a failing line is given up after one pass instead of once per indent width.
_KEYED_LINE = re.compile(r"^([+-])(\s*+[\w.]++\s*+[=:(])")
_DEFINITION = re.compile(
    r"^[+-]\s*+(?:export\s++|pub(?:\([\w:]+\))?\s++|public\s++|private\s++|static\s++|async\s++)*+"
    r"(?:def|class|func|fn|interface|type|struct|enum|trait|impl|function)\s++[A-Za-z_(<]"
)


class DiffCompressor:
    """Unified diffs without unchanged context; past a size budget, only the hunks the query needs."""

    name = "diff"

    def compress(self, text: str, ctx: CompressionContext) -> Compressed | None:
        segments = parse_diff(text)
        if segments is None:
            return None
        hunks = [segment for segment in segments if isinstance(segment, Hunk)]
        trimmed = _render(segments, None, {}, ctx)
        budget = int(max(_BUDGET_CHARS, _BUDGET_SHARE * len(text))) // max(1, ctx.depth)
        result = trimmed
        if sum(hunk.size() for hunk in hunks) > budget:
            keep, trim = _select(hunks, ctx, budget)
            result = _render(segments, keep, trim, ctx)
        if len(result) > (1 - _MIN_GAIN) * len(text):
            return None
        return Compressed(text=result, lossless=False, transform="diff_context" if result is trimmed else "diff_hunks")


def _select(hunks: list[Hunk], ctx: CompressionContext, budget: int) -> tuple[set[int], dict[int, int]]:
    """Hunks to keep (by id) and, for relevant hunks too large to keep whole, how many changed lines to keep.

    Hunks of files the query names and small changelog entries come first, then hunks by relevance, then the
    smallest of the rest while the budget lasts.
    """
    named = _files_named(hunks, ctx.query)
    scores = bm25_scores([f"{h.path}\n{h.text()}" for h in hunks], ctx.query, split_camel=True)
    for hunk in hunks:
        if _CHANGELOG.search(hunk.path) and hunk.size() <= _CHANGELOG_HUNK_CHARS:
            named.add(hunk.path)
    relevant = sorted(
        (i for i in range(len(hunks)) if hunks[i].path in named or scores[i] > 0),
        key=lambda i: (hunks[i].path not in named, -scores[i], i),
    )
    keep: set[int] = set()
    trim: dict[int, int] = {}
    left = budget
    for i in relevant:
        hunk = hunks[i]
        if hunk.size() <= left:
            keep.add(id(hunk))
            left -= hunk.size()
        elif left >= _MIN_TRIM_CHARS:
            keep.add(id(hunk))
            trim[id(hunk)] = max(_HUNK_HEAD_LINES, left // _TRIM_LINE_CHARS)
            left -= min(hunk.size(), _TRIM_LINE_CHARS * trim[id(hunk)])
    for hunk in sorted((h for h in hunks if id(h) not in keep), key=lambda h: (h.size(), h.header)):
        if hunk.size() > left:
            break
        keep.add(id(hunk))
        left -= hunk.size()
    return keep, trim


def _files_named(hunks: list[Hunk], query: str) -> set[str]:
    """Paths whose full name or file name the query mentions."""
    lowered = query.lower()
    qterms = query_terms(query)
    named: set[str] = set()
    for hunk in hunks:
        base = hunk.path.rsplit("/", 1)[-1].lower()
        if hunk.path.lower() in lowered or ("." in base and base in qterms):
            named.add(hunk.path)
    return named


def _render(segments: list[Segment], keep: set[int] | None, trim: dict[int, int], ctx: CompressionContext) -> str:
    out: list[str] = []
    dropped: list[Hunk] = []
    for segment in segments:
        if isinstance(segment, str):
            out.extend(_dropped_marker(dropped))
            dropped = []
            out.append(segment)
            continue
        if keep is not None and id(segment) not in keep:
            dropped.append(segment)
            continue
        out.extend(_dropped_marker(dropped))
        dropped = []
        header = segment.header
        if segment.context:
            header += " " + omitted(segment.context, "unchanged lines")
        out.append(header)
        limit = trim.get(id(segment))
        out.extend(segment.changed if limit is None else _trimmed(segment.changed, limit, ctx))
    out.extend(_dropped_marker(dropped))
    return "\n".join(out)


def _dropped_marker(dropped: list[Hunk]) -> list[str]:
    """One line counting a run of dropped hunks, then their gist (definitions and one-key replacements)."""
    if not dropped:
        return []
    added = sum(h.added for h in dropped)
    removed = sum(h.removed for h in dropped)
    what = f"hunks (+{added}/-{removed} lines)" if len(dropped) != 1 else f"hunk (+{added}/-{removed} lines)"
    return [omitted(len(dropped), what), *(h.changed[i] for h in dropped for i in sorted(_gist(h.changed)))]


def _gist(changed: list[str]) -> set[int]:
    """What a hunk changes, as indices of its own lines: definitions and one-key replacements."""
    return {i for i, line in enumerate(changed) if _DEFINITION.match(line)} | set(_replacements(changed))


def _replacements(changed: list[str]) -> list[int]:
    """Short lines where the hunk changes one key's value (`-    name="old",` and `+    name="new",`): the
    key is removed once and added once, so the pair is a rename or a new setting, not a rewritten block."""
    removed: dict[str, list[int]] = {}
    added: dict[str, list[int]] = {}
    for i, line in enumerate(changed):
        match = _KEYED_LINE.match(line) if len(line) <= _REPLACEMENT_LINE_CHARS else None
        if match is not None:
            (removed if match.group(1) == "-" else added).setdefault(match.group(2), []).append(i)
    pairs: list[int] = []
    for key, old in removed.items():
        new = added.get(key, [])
        if len(old) == 1 and len(new) == 1 and changed[old[0]][1:] != changed[new[0]][1:]:
            pairs.extend((old[0], new[0]))
    return pairs


def _trimmed(changed: list[str], limit: int, ctx: CompressionContext) -> list[str]:
    """The first changed lines, definition lines, one-key replacements and the lines most relevant to the query;
    the rest counted."""
    scores = bm25_scores(changed, ctx.query, split_camel=True)
    ranked = sorted((i for i, s in enumerate(scores) if s > 0), key=lambda i: (-scores[i], i))
    keep = set(range(min(_HUNK_HEAD_LINES, len(changed)))) | set(ranked[:limit])
    keep.update(_gist(changed))
    out: list[str] = []
    skipped = 0
    for i, line in enumerate(changed):
        if i not in keep:
            skipped += 1
            continue
        if skipped:
            out.append(omitted(skipped, "changed lines"))
            skipped = 0
        out.append(line)
    if skipped:
        out.append(omitted(skipped, "changed lines"))
    return out
