"""Relevance of text units (lines, items, rows, sentences) to the query: BM25 over word terms.

Shared by every compressor that keeps "what the query asks about", so relevance means the same thing for
logs, JSON items, table rows and prose.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:\-/]*[A-Za-z0-9_]|[A-Za-z0-9_]")
_SPLIT = re.compile(r"[._:\-/]")
_ALNUM = re.compile(r"[a-z0-9]+")
_ALNUM_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_WORD_CHARS = _ALNUM_CHARS | {"_"}
STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in into is it its
    me my no not of on or our so that the their them then there these they this those to was we were what when
    where which who why will with would you your any all give list show tell find which's whats about over than
    was were most more each per only also just""".split()
)


def terms(text: str) -> list[str]:
    """Lower-cased word terms; compound tokens (a.b, x_y, host:port) also yield their parts."""
    out: list[str] = []
    for match in _WORD.finditer(text):
        word = match.group(0).lower()
        out.append(word)
        if _SPLIT.search(word):
            out.extend(part for part in _SPLIT.split(word) if len(part) > 1)
    return out


@functools.lru_cache(maxsize=256)
def query_terms(query: str) -> frozenset[str]:
    """Distinct informative terms of a query (stopwords and one-letter terms removed). Cached: every block of a
    request, and every string nested in a JSON block, is scored against the same query."""
    return frozenset(t for t in terms(query) if t not in STOPWORDS and len(t) > 1)


def _plain_and_camel_positions(unit: str, low: str, term: str) -> list[int]:
    """Where a plain `term` counts in `unit` with camelCase splitting: where no letter or digit touches it (as
    its pattern matches), and again where a camelCase boundary delimits it on one side (`Crash` in
    `KubePodCrashLooping`). One scan of every occurrence in place of the pattern's own."""
    found: list[int] = []
    size = len(term)
    length = len(low)
    find = low.find
    at = find(term)
    while at >= 0:
        end = at + size
        left_open = at == 0 or low[at - 1] not in _ALNUM_CHARS
        right_open = end == length or low[end] not in _ALNUM_CHARS
        if left_open and right_open:
            found.append(at)
        if at > 0 and unit[at].isupper() and unit[at - 1].islower():
            # camelCase on the left: the right side needs a boundary of either kind.
            if right_open or (unit[end].isupper() and unit[end - 1].islower()):
                found.append(at)
        elif left_open and end < length and unit[end].isupper() and unit[end - 1].islower():
            found.append(at)
        at = find(term, at + 1)
    return found


def _word_starts_at(low: str, at: int) -> bool:
    """Whether a `terms()` word starts at `at`: only separators, if anything, join it to a word before."""
    before = at - 1
    while before >= 0 and low[before] in ".:/-":
        before -= 1
    return before < 0 or low[before] not in _WORD_CHARS


_TermPatterns = tuple[tuple[tuple[str, re.Pattern[str]], ...], tuple[tuple[str, re.Pattern[str]], ...]]


@functools.lru_cache(maxsize=64)
def _term_patterns(qterms: frozenset[str]) -> _TermPatterns:
    """One pattern per query term, for counting it among `terms(unit)` without tokenizing units.

    A plain alphanumeric term occurs once per maximal alphanumeric run equal to it (as a whole word or as a
    part of a compound word); a compound term (`crash-looping`, `host:port`) only ever occurs as a whole word.
    Each pattern starts with the term itself, so the regex engine can skip ahead.
    """
    simple = tuple(
        (term, re.compile(f"{re.escape(term)}(?<![a-z0-9]{re.escape(term)})(?![a-z0-9])"))
        for term in sorted(qterms)
        if _ALNUM.fullmatch(term)
    )
    compound = tuple(
        (term, re.compile(f"{re.escape(term)}(?![.:/\\-]*[a-z0-9_])"))
        for term in sorted(qterms)
        if not _ALNUM.fullmatch(term)
    )
    return simple, compound


def _counts(
    text: str, low: str, starts: Sequence[int], patterns: _TermPatterns, camel: bool
) -> dict[int, dict[str, int]]:
    """Query-term counts of the units of `text` (unit k starts at starts[k]; units are joined by newlines, which
    no term match spans), for the units holding any. With `camel`, plain terms also count where camelCase
    delimits them (`low` is `text` lower-cased, of the same length). Occurrences are assigned to units in C."""
    simple, compound = patterns
    unit_of = functools.partial(bisect.bisect_right, starts)
    found: dict[int, dict[str, int]] = {}
    for term, pattern in simple:
        if term not in low:
            continue
        if camel:
            positions = _plain_and_camel_positions(text, low, term)
        else:
            positions = list(map(re.Match.start, pattern.finditer(low)))
        for unit, count in Counter(map(unit_of, positions)).items():
            found.setdefault(unit - 1, {})[term] = count
    for term, pattern in compound:
        if term not in low:
            continue
        positions = [match.start() for match in pattern.finditer(low) if _word_starts_at(low, match.start())]
        for unit, count in Counter(map(unit_of, positions)).items():
            found.setdefault(unit - 1, {})[term] = count
    return found


def _one_byte(low: str) -> str:
    """`low` with every character past U+00FF replaced by `?`, so it is stored one byte a character and every
    search of it runs twice as fast (one emoji makes a whole text two or four bytes a character). Positions stay
    put, and the counts do not change: query terms are ASCII, and every check of a character next to a match
    asks whether it is an ASCII letter, digit or separator."""
    return low if low.isascii() else low.encode("latin-1", "replace").decode("latin-1")


def _unit_counts(units: Sequence[str], patterns: _TermPatterns, split_camel: bool) -> dict[int, dict[str, int]]:
    """Query-term counts per unit (only units holding a term), found by scanning all units at once."""
    lowered = [unit.lower() for unit in units]
    if sum(map(len, lowered)) == sum(map(len, units)):
        # Lower-casing never shortens a unit, so equal sums mean every unit kept its length. Each unit is
        # lowered and made one byte a character on its own: most are ASCII, where both are fast.
        low = "\n".join(map(_one_byte, lowered))
        starts = list(itertools.accumulate((len(unit) + 1 for unit in units[:-1]), initial=0))
        return _counts("\n".join(units) if split_camel else low, low, starts, patterns, split_camel)
    # Lower-casing changed the length of some unit ("İ" becomes two characters): count unit by unit.
    found: dict[int, dict[str, int]] = {}
    for k, (unit, low) in enumerate(zip(units, lowered, strict=True)):
        counts = _counts(unit, low, (0,), patterns, split_camel and len(low) == len(unit)).get(0)
        if counts:
            found[k] = counts
    return found


def bm25_scores(
    units: Sequence[str], query: str, k1: float = 1.2, b: float = 0.75, *, split_camel: bool = False
) -> list[float]:
    """BM25 score of each unit against the query; all zeros when the query has no informative term.

    `split_camel` also matches terms inside camelCase words (JSON keys, alert and class names).
    """
    qterms = query_terms(query)
    scores = [0.0] * len(units)
    if not qterms or not units:
        return scores
    unit_counts = _unit_counts(units, _term_patterns(qterms), split_camel)
    lengths = [max(1, len(unit) // 6) for unit in units]
    avg_len = sum(lengths) / len(lengths)
    df = Counter(term for found in unit_counts.values() for term in found)
    n = len(units)
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in df}
    for k, found in unit_counts.items():
        score = 0.0
        norm = k1 * (1 - b + b * lengths[k] / avg_len)
        for term in sorted(found):
            tf = found[term]
            score += idf[term] * tf * (k1 + 1) / (tf + norm)
        scores[k] = score
    return scores


def top_indices(scores: Sequence[float], limit: int, min_score: float = 0.0) -> list[int]:
    """Indices of the `limit` best scores above `min_score`, in original order; ties keep the earlier unit."""
    ranked = sorted((i for i, s in enumerate(scores) if s > min_score), key=lambda i: (-scores[i], i))
    return sorted(ranked[:limit])
