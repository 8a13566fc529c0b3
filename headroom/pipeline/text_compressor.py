"""Plain-text compressor and the fallback for any content: extractive selection of the passages most relevant
to the query, near-duplicates removed, with the opening, the headings, the error lines and the ending kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from headroom.pipeline.relevance import bm25_scores
from headroom.pipeline.term_hits import shortlist, term_hits, units_containing
from headroom.pipeline.text_units import Unit, shingles, split_units
from headroom.pipeline.types import Compressed, CompressionContext, omitted

_MIN_GAIN = 0.10
_MIN_UNITS = 6
_DUPLICATE_SHARE = 0.9
_MIN_SHINGLES = 5
_RERANKED = 300
_ERROR_BONUS = 0.35
_FOLLOWING_LINES = 2
_CODE_RELEVANCE_FLOOR = 0.3
_HEADING = re.compile(r"^\s{0,3}(?:#{1,6} \S|[A-Z][A-Za-z0-9 /&-]{2,60}:?\s*$|={3,}|-{3,}\s*$)")
_ERROR_WORDS = (
    "error",
    "exception",
    "traceback",
    "fail",
    "fatal",
    "warn",
    "denied",
    "cannot",
    "unable to",
    "no such",
    "not found",
    "can't",
)


@dataclass(frozen=True, slots=True)
class _Budget:
    share: float
    min_chars: int
    edge_share: float
    min_edge_chars: int
    headings: int


_BUDGETS = {
    1: _Budget(share=0.18, min_chars=1200, edge_share=0.03, min_edge_chars=300, headings=12),
    2: _Budget(share=0.09, min_chars=600, edge_share=0.015, min_edge_chars=200, headings=6),
}


# (text, units, unit texts, query) -> priority of the units worth keeping; Kompress plugs in embeddings here.
PriorityFn = Callable[[str, Sequence[Unit], Sequence[str], str], dict[int, float]]


def relevance_priority(text: str, units: Sequence[Unit], texts: Sequence[str], query: str) -> dict[int, float]:
    """BM25 relevance of the units shortlisted by their query terms."""
    hits = term_hits(text, [u.start for u in units], query)
    listed = shortlist(hits, len(units), _RERANKED, texts.__getitem__, 1)
    return dict(zip(listed, bm25_scores([texts[k] for k in listed], query), strict=True))


def lexical_priority(text: str, units: Sequence[Unit], texts: Sequence[str], query: str) -> dict[int, float]:
    """BM25 relevance of the shortlisted units, plus a bonus for units that report an error (what answers
    most often hinge on)."""
    starts = [u.start for u in units]
    priority = relevance_priority(text, units, texts, query)
    bonus = _ERROR_BONUS * (max(priority.values(), default=0.0) or 1.0)
    for k in units_containing(text, starts, _ERROR_WORDS):
        priority[k] = priority.get(k, 0.0) + bonus
    return priority


class TextCompressor:
    """Compresses prose and anything else no specialised compressor took (see the module docstring)."""

    name = "text"

    def __init__(self, priority: PriorityFn = lexical_priority, transform: str = "text:extract") -> None:
        self._priority = priority
        self._transform = transform

    def compress(self, text: str, ctx: CompressionContext) -> Compressed | None:
        units = split_units(text)
        if len(units) < _MIN_UNITS:
            return None
        budget = _BUDGETS[2 if ctx.depth >= 2 else 1]
        texts = [text[u.start : u.end] for u in units]
        limit = max(budget.min_chars, int(budget.share * len(text)))
        edge = max(budget.min_edge_chars, int(budget.edge_share * len(text)))
        chosen = _edges(texts, edge)
        headings = [i for i, t in enumerate(texts) if units[i].line_end and len(t) < 80 and _HEADING.match(t)]
        chosen.update(headings[: budget.headings])
        patterns = [re.compile(p) for p in ctx.keep_patterns if _valid(p)]
        chosen.update(i for i, t in enumerate(texts) if any(p.search(t) for p in patterns))

        if ctx.language_hint:
            # Source code: error words handle errors rather than report them, lines far less relevant than the best
            # one only share a common word with the query, and lines are read in runs.
            relevance = relevance_priority(text, units, texts, ctx.query)
            floor = _CODE_RELEVANCE_FLOOR * max(relevance.values(), default=0.0)
            strong = {i: value for i, value in relevance.items() if value >= floor}
            ranked = _with_following(_ranked(strong, chosen), len(units), chosen)
        else:
            ranked = _ranked(self._priority(text, units, texts, ctx.query), chosen)
        _add_distinct(texts, ranked, chosen, limit)
        chosen.update(_cheap_gaps(texts, chosen))
        result = _assemble(text, units, sorted(chosen))
        if len(result) > (1 - _MIN_GAIN) * len(text):
            return None
        return Compressed(text=result, lossless=False, transform=self._transform)


def _ranked(priority: dict[int, float], chosen: set[int]) -> list[int]:
    """Units not yet chosen with a positive priority, best first (ties to the earlier unit)."""
    return sorted((i for i, p in priority.items() if p > 0 and i not in chosen), key=lambda i: (-priority[i], i))


def _add_distinct(texts: Sequence[str], ranked: Sequence[int], chosen: set[int], limit: int) -> None:
    """Adds units in ranked order until `limit` characters are chosen, skipping near-duplicates of units
    already chosen: nearly all of the unit's word 3-grams (numbers masked) seen before, or, for a short unit,
    its exact text."""
    seen: set[str] = set()
    seen_short: set[str] = set()
    for i in chosen:
        seen.update(shingles(texts[i]))
        seen_short.add(texts[i].strip())
    used = sum(len(texts[i]) for i in chosen)
    for i in ranked:
        if used >= limit:
            break
        grams = shingles(texts[i])
        if len(grams) >= _MIN_SHINGLES:
            if len(grams & seen) >= _DUPLICATE_SHARE * len(grams):
                continue
        elif texts[i].strip() in seen_short:
            continue
        seen.update(grams)
        seen_short.add(texts[i].strip())
        chosen.add(i)
        used += len(texts[i])


def _with_following(ranked: Sequence[int], count: int, chosen: set[int]) -> list[int]:
    """Source lines in rank order, each followed by the lines after it (a signature and its body's start, a
    statement and the one that uses it): code is read in runs, not in scattered lines."""
    out: dict[int, None] = {}
    for i in ranked:
        out.update((k, None) for k in range(i, min(i + 1 + _FOLLOWING_LINES, count)) if k not in chosen)
    return list(out)


def _cheap_gaps(texts: Sequence[str], chosen: set[int]) -> list[int]:
    """Gaps between two chosen units that are cheaper kept than replaced by a marker: blank lines, or one unit no
    longer than the marker would be."""
    cheap: list[int] = []
    run: list[int] = []
    for i in range(len(texts)):
        if i not in chosen:
            run.append(i)
            continue
        if run and run[0] - 1 in chosen:
            blank = all(not texts[k].strip() for k in run)
            if blank or (len(run) == 1 and len(texts[run[0]]) <= len(omitted(1, "lines")) + 1):
                cheap.extend(run)
        run = []
    return cheap


def _edges(texts: Sequence[str], chars: int) -> set[int]:
    """The opening and closing units, about `chars` characters at each end (at least one unit each)."""
    chosen: set[int] = set()
    for order in (range(len(texts)), range(len(texts) - 1, -1, -1)):
        used = 0
        for i in order:
            if used >= chars and used > 0:
                break
            chosen.add(i)
            used += len(texts[i])
    return chosen


def _valid(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _assemble(text: str, units: Sequence[Unit], chosen: Sequence[int]) -> str:
    """The chosen units in order; each run of dropped units becomes one marker (on its own line when the run
    spans a line break)."""
    out: list[str] = []
    previous = -1
    for i in [*chosen, len(units)]:
        gap = i - previous - 1
        if gap > 0:
            spans_line = any(units[k].line_end for k in range(previous + 1, i))
            marker = omitted(gap, "lines" if all(units[k].line_end for k in range(previous + 1, i)) else "passages")
            if out and spans_line and not out[-1].endswith("\n"):
                out.append("\n")
            out.append(marker + ("\n" if spans_line else " "))
        if i < len(units):
            out.append(text[units[i].start : units[i].end])
        previous = i
    return "".join(out).rstrip("\n") + ("\n" if text.endswith("\n") else "")
