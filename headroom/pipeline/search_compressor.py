"""Search-result compressor for `path:line:text` output (grep -n, ripgrep, IDE search): fold the matches by
file losslessly, then keep the matches most relevant to the query when the fold is still large."""

from __future__ import annotations

import re
from dataclasses import dataclass

from headroom.pipeline.relevance import bm25_scores, top_indices
from headroom.pipeline.types import Compressed, CompressionContext, omitted

_MATCH = re.compile(r"^(?P<path>[^\s:][^:\n]*?)(?P<sep1>[:-])(?P<line>\d+)(?P<sep2>[:-])(?P<text>.*)$")
_LOSSLESS_BUDGET_CHARS = 8_000
_KEEP_MATCHES = 40
_KEEP_PER_FILE = 2
_MIN_GAIN = 0.10


@dataclass(frozen=True, slots=True)
class _Hit:
    order: int
    path: str
    text: str  # the line without its path: "12:match" or "13-context"


def _parse(text: str) -> tuple[list[_Hit], list[tuple[int, str]]] | None:
    """Hits and the other lines (kept verbatim, in place); None unless most lines are hits."""
    hits: list[_Hit] = []
    other: list[tuple[int, str]] = []
    for order, line in enumerate(text.split("\n")):
        match = _MATCH.match(line)
        if match and match.group("sep1") == match.group("sep2"):
            sep = match.group("sep2")
            hits.append(_Hit(order, match.group("path"), f"{match.group('line')}{sep}{match.group('text')}"))
        else:
            other.append((order, line))
    if len(hits) < 2 or len(hits) < 2 * sum(1 for _, line in other if line.strip() and line != "--"):
        return None
    return hits, other


def _render(hits: list[_Hit], other: list[tuple[int, str]], keep: set[int] | None) -> str:
    """Lines grouped under their file, in original order; an omission marker per run of dropped hits."""
    events: list[tuple[int, str, str]] = [(hit.order, "hit", hit.path) for hit in hits]
    events.extend((order, "other", line) for order, line in other)
    events.sort()
    hit_by_order = {hit.order: hit for hit in hits}
    out: list[str] = []
    current = ""
    dropped = 0
    for order, kind, value in events:
        if kind == "other":
            if keep is not None and value in ("--", ""):
                continue
            out.append(value)
            current = ""
            continue
        hit = hit_by_order[order]
        if keep is not None and order not in keep:
            dropped += 1
            continue
        if dropped:
            out.append("  " + omitted(dropped, "lines"))
            dropped = 0
        if hit.path != current:
            out.append(hit.path)
            current = hit.path
        out.append("  " + hit.text)
    if dropped:
        out.append("  " + omitted(dropped, "lines"))
    return "\n".join(out)


def _select(hits: list[_Hit], ctx: CompressionContext) -> set[int]:
    scores = bm25_scores([f"{hit.path} {hit.text}" for hit in hits], ctx.query)
    best = max(scores, default=0.0)
    keep = {hits[i].order for i in top_indices(scores, _KEEP_MATCHES, min_score=best * 0.2)}
    per_file: dict[str, int] = {}
    for hit in hits:
        if per_file.get(hit.path, 0) < _KEEP_PER_FILE:
            per_file[hit.path] = per_file.get(hit.path, 0) + 1
            keep.add(hit.order)
    for pattern in ctx.keep_patterns:
        try:
            compiled = re.compile(pattern)
        except re.error:
            continue
        keep.update(hit.order for hit in hits if compiled.search(hit.text))
    return keep


class SearchCompressor:
    """`path:line:text` lines folded by file; lossy selection only past a size budget."""

    name = "search"

    def compress(self, text: str, ctx: CompressionContext) -> Compressed | None:
        parsed = _parse(text)
        if parsed is None:
            return None
        hits, other = parsed
        folded = _render(hits, other, None)
        if len(folded) <= _LOSSLESS_BUDGET_CHARS // max(1, ctx.depth):
            return _if_smaller(text, folded, lossless=True)
        lossy = _render(hits, other, _select(hits, ctx))
        return _if_smaller(text, lossy, lossless=False)


def _if_smaller(original: str, text: str, lossless: bool) -> Compressed | None:
    if len(text) > (1 - _MIN_GAIN) * len(original):
        return None
    return Compressed(text=text, lossless=lossless, transform="search_fold" if lossless else "search_select")
