"""What `/v1/retrieve` returns for an original when the caller gives a query: only the parts that mention it.

A JSON array yields its matching items (as JSON); any other text yields its matching lines with one line of
context on each side. When nothing matches, the whole original is returned, so a retrieval never comes back
empty-handed.
"""

from __future__ import annotations

import itertools
import json

from headroom.pipeline.term_hits import term_hits
from headroom.pipeline.types import omitted

_CONTEXT_LINES = 1


def _filter_array(items: list[object], query: str) -> str | None:
    dumped = [json.dumps(item, ensure_ascii=False) for item in items]
    starts = list(itertools.accumulate((len(d) + 1 for d in dumped), initial=0))[:-1]
    hits = term_hits("\n".join(dumped), starts, query)
    if not hits:
        return None
    return json.dumps([items[i] for i in sorted(hits)], ensure_ascii=False)


def _filter_lines(original: str, query: str) -> str | None:
    lines = original.split("\n")
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))[:-1]
    hits = term_hits(original, starts, query)
    if not hits:
        return None
    shown: set[int] = set()
    for i in hits:
        shown.update(range(max(0, i - _CONTEXT_LINES), min(len(lines), i + _CONTEXT_LINES + 1)))
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
