"""Relevance of text units (lines, items, rows, sentences) to the query: BM25 over word terms.

Shared by every compressor that keeps "what the query asks about", so relevance means the same thing for
logs, JSON items, table rows and prose.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

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


def _camel_occurrences(unit: str, low: str, term: str) -> int:
    """Occurrences of `term` that a camelCase boundary delimits on one side (`Crash` in `KubePodCrashLooping`)."""
    found = 0
    size = len(term)
    at = low.find(term)
    while at >= 0:
        end = at + size
        left_camel = at > 0 and unit[at].isupper() and unit[at - 1].islower()
        right_camel = end < len(unit) and unit[end].isupper() and unit[end - 1].islower()
        if (left_camel or right_camel) and (
            (left_camel or at == 0 or low[at - 1] not in _ALNUM_CHARS)
            and (right_camel or end == len(low) or low[end] not in _ALNUM_CHARS)
        ):
            found += 1
        at = low.find(term, at + 1)
    return found


def _word_starts_at(low: str, at: int) -> bool:
    """Whether a `terms()` word starts at `at`: only separators, if anything, join it to a word before."""
    before = at - 1
    while before >= 0 and low[before] in ".:/-":
        before -= 1
    return before < 0 or low[before] not in _WORD_CHARS


@functools.lru_cache(maxsize=64)
def _term_counter(qterms: frozenset[str], split_camel: bool) -> Callable[[str], dict[str, int]]:
    """A function counting how often each query term occurs among `terms(unit)`, without tokenizing units.

    A plain alphanumeric term occurs once per maximal alphanumeric run equal to it (as a whole word or as a
    part of a compound word); a compound term (`crash-looping`, `host:port`) only ever occurs as a whole word.
    Each plain term gets its own pattern that starts with the term itself, so the regex engine can skip ahead.
    With `split_camel`, plain terms also count where camelCase delimits them.
    """
    simple = [
        (term, re.compile(f"{re.escape(term)}(?<![a-z0-9]{re.escape(term)})(?![a-z0-9])"))
        for term in sorted(qterms)
        if _ALNUM.fullmatch(term)
    ]
    compound = [
        (term, re.compile(f"{re.escape(term)}(?![.:/\\-]*[a-z0-9_])"))
        for term in sorted(qterms)
        if not _ALNUM.fullmatch(term)
    ]

    def count(unit: str) -> dict[str, int]:
        low = unit.lower()
        camel = split_camel and len(low) == len(unit) and not unit.islower()
        found: dict[str, int] = {}
        for term, pattern in simple:
            if term in low:
                occurrences = len(pattern.findall(low))
                if camel:
                    occurrences += _camel_occurrences(unit, low, term)
                if occurrences:
                    found[term] = occurrences
        for term, pattern in compound:
            if term in low:
                occurrences = sum(1 for match in pattern.finditer(low) if _word_starts_at(low, match.start()))
                if occurrences:
                    found[term] = occurrences
        return found

    return count


def bm25_scores(
    units: Sequence[str], query: str, k1: float = 1.2, b: float = 0.75, *, split_camel: bool = False
) -> list[float]:
    """BM25 score of each unit against the query; all zeros when the query has no informative term.

    `split_camel` also matches terms inside camelCase words (JSON keys, alert and class names).
    """
    qterms = query_terms(query)
    if not qterms or not units:
        return [0.0] * len(units)
    count = _term_counter(qterms, split_camel)
    unit_counts = [count(unit) for unit in units]
    lengths = [max(1, len(unit) // 6) for unit in units]
    avg_len = sum(lengths) / len(lengths)
    df = Counter(term for found in unit_counts for term in found)
    n = len(units)
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in df}
    scores: list[float] = []
    for found, length in zip(unit_counts, lengths, strict=True):
        if not found:
            scores.append(0.0)
            continue
        score = 0.0
        norm = k1 * (1 - b + b * length / avg_len)
        for term in sorted(found):
            tf = found[term]
            score += idf[term] * tf * (k1 + 1) / (tf + norm)
        scores.append(score)
    return scores


def top_indices(scores: Sequence[float], limit: int, min_score: float = 0.0) -> list[int]:
    """Indices of the `limit` best scores above `min_score`, in original order; ties keep the earlier unit."""
    ranked = sorted((i for i, s in enumerate(scores) if s > min_score), key=lambda i: (-scores[i], i))
    return sorted(ranked[:limit])
