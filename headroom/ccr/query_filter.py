"""What `/v1/retrieve` returns for an original when the caller gives a query: only the parts that mention it.

A JSON array yields its matching items (as JSON); any other text yields its matching lines with one line of
context on each side (none when matches are dense). Terms found in most units are ignored when rarer ones
match. When nothing matches, the whole original is returned, so a retrieval never comes back
empty-handed.
"""

from __future__ import annotations

import itertools
import json

from headroom.pipeline.term_hits import term_hits
from headroom.pipeline.types import omitted

_CONTEXT_LINES = 1
_COMMON_SHARE = 0.5
_SPARSE_SHARE = 0.25


def _informative(hits: dict[int, set[str]], unit_count: int) -> dict[int, set[str]]:
    """The hits on terms found in at most half of the units, when there are any: a query such as "SELCT
    syntax error" over a log where every line says "error" should return the SELCT lines only."""
    df: dict[str, int] = {}
    for found in hits.values():
        for term in found:
            df[term] = df.get(term, 0) + 1
    rare = {term for term, count in df.items() if count <= _COMMON_SHARE * unit_count}
    narrowed = {i: found & rare for i, found in hits.items() if found & rare}
    return narrowed or hits


def _filter_array(items: list[object], query: str) -> str | None:
    dumped = [json.dumps(item, ensure_ascii=False) for item in items]
    starts = list(itertools.accumulate((len(d) + 1 for d in dumped), initial=0))[:-1]
    hits = _informative(term_hits("\n".join(dumped), starts, query), len(items))
    if not hits:
        return None
    return json.dumps([items[i] for i in sorted(hits)], ensure_ascii=False)


def _filter_lines(original: str, query: str) -> str | None:
    lines = original.split("\n")
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))[:-1]
    hits = _informative(term_hits(original, starts, query), len(lines))
    if not hits:
        return None
    context = _CONTEXT_LINES if len(hits) <= _SPARSE_SHARE * len(lines) else 0
    shown: set[int] = set()
    for i in hits:
        shown.update(range(max(0, i - context), min(len(lines), i + context + 1)))
    out: list[str] = []
    previous = -1
    for i in sorted(shown):
        if i > previous + 1:
            out.append(omitted(i - previous - 1, "lines"))
        out.append(lines[i])
        previous = i
    if previous < len(lines) - 1:
        out.append(omitted(len(lines) - 1 - previous, "lines"))
    return "\n".join(out)


def filter_original(original: str, query: str) -> str:
    """The parts of `original` that mention a term of `query` (see the module docstring)."""
    if not query.strip() or not original:
        return original
    stripped = original.lstrip()
    if stripped.startswith("["):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return _filter_array(parsed, query) or original
    return _filter_lines(original, query) or original
