"""Fast lookup of which units of a text (lines, passages) hold which query terms, by plain substring search.

BM25 over every unit of a large block is too slow in Python; compressors use these hits to shortlist the
units worth ranking with `relevance.bm25_scores`.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence

from headroom.pipeline.relevance import query_terms


def term_hits(text: str, starts: Sequence[int], query: str) -> dict[int, set[str]]:
    """For each unit holding a query term as a whole word (case-insensitive), the terms it holds. Unit k
    spans text[starts[k]:starts[k + 1]]; `starts` is sorted and begins at 0. Terms occurring more often than
    there are units tell little and are skipped, unless no term is rarer."""
    qterms = query_terms(query)
    if not qterms:
        return {}
    lowered = text.lower()
    limit = len(starts)
    # Occurrences as `str.count` counts them (scanning on from the end of each); a term is read no further
    # than one past the limit, which is enough to know it is too common.
    found = {term: _occurrences(lowered, term, limit + 1) for term in sorted(qterms)}
    informative = [term for term, positions in found.items() if 0 < len(positions) <= limit]
    if not informative:
        frequent = [term for term, positions in found.items() if positions]
        if not frequent:
            return {}
        rarest = min(frequent, key=lambda term: (lowered.count(term), term))
        informative = [rarest]
        found[rarest] = _occurrences(lowered, rarest, None)
    hits: dict[int, set[str]] = {}
    unit_after = functools.partial(bisect.bisect_right, starts)
    for term in informative:
        for after in dict.fromkeys(map(unit_after, _whole_words(lowered, term, found[term]))):
            hits.setdefault(after - 1, set()).add(term)
    return hits


def _occurrences(lowered: str, term: str, most: int | None) -> list[int]:
    """Where `term` occurs in `lowered` (at most `most` of them), found in C."""
    return list(itertools.islice(map(re.Match.start, _literal(term).finditer(lowered)), most))


@functools.lru_cache(maxsize=256)
def _literal(term: str) -> re.Pattern[str]:
    return re.compile(re.escape(term))


def _whole_words(lowered: str, term: str, positions: list[int]) -> list[int]:
    """The occurrences with no letter or digit either side."""
    size = len(term)
    end = len(lowered)
    return [
        at
        for at in positions
        if not (at > 0 and lowered[at - 1].isalnum()) and not (at + size < end and lowered[at + size].isalnum())
    ]


def units_containing(text: str, starts: Sequence[int], needles: Iterable[str]) -> set[int]:
    """Units whose text holds any of the (lower-case) needles anywhere, case-insensitively."""
    lowered = text.lower()
    found: set[int] = set()
    for needle in needles:
        position = lowered.find(needle)
        while position != -1:
            unit = bisect.bisect_right(starts, position) - 1
            found.add(unit)
            next_start = starts[unit + 1] if unit + 1 < len(starts) else len(lowered)
            position = lowered.find(needle, max(position + len(needle), next_start))
    return found


def shortlist(
    hits: dict[int, set[str]],
    unit_count: int,
    limit: int,
    group: Callable[[int], Hashable],
    per_group: int,
    latest_first: bool = False,
) -> list[int]:
    """Up to `limit` units with hits, best first by the summed rarity of their terms, at most `per_group` of
    any one group (so one repeated template cannot fill the list); ties go to the earlier unit, or to the later
    one with `latest_first` (the newest state of a log). Returned in unit order."""
    df: Counter[str] = Counter(itertools.chain.from_iterable(hits.values()))
    rarity = {term: math.log(1 + unit_count / count) for term, count in df.items()}
    by_terms: dict[frozenset[str], float] = {}
    weight: dict[int, float] = {}
    for k, found in hits.items():
        terms = frozenset(found)
        summed = by_terms.get(terms)
        if summed is None:
            summed = by_terms[terms] = sum(rarity[t] for t in sorted(terms))
        weight[k] = summed
    # Heaviest first, ties in unit order (reversed with `latest_first`): two stable sorts with keys read in C.
    ranked = sorted(sorted(hits, reverse=latest_first), key=weight.__getitem__, reverse=True)
    taken: Counter[Hashable] = Counter()
    chosen: list[int] = []
    for k in ranked:
        key = group(k)
        if taken[key] >= per_group:
            continue
        taken[key] += 1
        chosen.append(k)
        if len(chosen) == limit:
            break
    return sorted(chosen)
