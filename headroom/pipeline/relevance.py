"""Relevance of text units (lines, items, rows, sentences) to the query: BM25 over word terms.

Shared by every compressor that keeps "what the query asks about", so relevance means the same thing for
logs, JSON items, table rows and prose.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:\-/]*[A-Za-z0-9_]|[A-Za-z0-9_]")
_SPLIT = re.compile(r"[._:\-/]")
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


def query_terms(query: str) -> frozenset[str]:
    """Distinct informative terms of a query (stopwords and one-letter terms removed)."""
    return frozenset(t for t in terms(query) if t not in STOPWORDS and len(t) > 1)


def bm25_scores(units: Sequence[str], query: str, k1: float = 1.2, b: float = 0.75) -> list[float]:
    """BM25 score of each unit against the query; all zeros when the query has no informative term."""
    qterms = query_terms(query)
    if not qterms or not units:
        return [0.0] * len(units)
    unit_terms = [[t for t in terms(unit) if t in qterms] for unit in units]
    lengths = [max(1, len(unit) // 6) for unit in units]
    avg_len = sum(lengths) / len(lengths)
    df: Counter[str] = Counter()
    for found in unit_terms:
        df.update(set(found))
    n = len(units)
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in df}
    scores: list[float] = []
    for found, length in zip(unit_terms, lengths, strict=True):
        if not found:
            scores.append(0.0)
            continue
        score = 0.0
        for term, tf in Counter(found).items():
            score += idf[term] * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg_len))
        scores.append(score)
    return scores


def top_indices(scores: Sequence[float], limit: int, min_score: float = 0.0) -> list[int]:
    """Indices of the `limit` best scores above `min_score`, in original order; ties keep the earlier unit."""
    ranked = sorted((i for i, s in enumerate(scores) if s > min_score), key=lambda i: (-scores[i], i))
    return sorted(ranked[:limit])
