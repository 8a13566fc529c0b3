"""Relevance of a file's functions to the query: code-aware term matching (identifiers split into their
camelCase and snake_case parts, light suffix stemming) weighted by how rare each term is across the file.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from headroom.pipeline.code_outline import Symbol
from headroom.pipeline.relevance import STOPWORDS

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBWORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_CAMEL = re.compile(r"[a-z0-9][A-Z]")
_QUESTION_WORDS = frozenset({"happens", "happen", "does", "used", "uses", "using", "value", "values", "way"})
_SUFFIXES = ("ing", "ed", "es", "s")
_MIN_STEM = 3
_NAME_WEIGHT = 2.0
_CODE_TOKEN_WEIGHT = 2.0
_INFORMATIVE_IDF = math.log(3)
_TF_WEIGHT = 0.1


@dataclass(frozen=True, slots=True)
class _Term:
    text: str
    pattern: bytes
    weight: float
    exact: bool


@dataclass(frozen=True, slots=True)
class Relevance:
    """Per symbol: its score, and where in it the informative terms (in at most a third of the symbols) match."""

    scores: list[float]
    hits: list[list[int]]


def code_like(token: str) -> bool:
    """`snake_case`, `camelCase` and `__dunder__` names are identifiers, not English words."""
    return "_" in token.strip("_") or token.startswith("__") or bool(_CAMEL.search(token))


def _stem(word: str) -> str:
    lowered = word.lower()
    for suffix in _SUFFIXES:
        if len(lowered) - len(suffix) >= 4 and lowered.endswith(suffix):
            return lowered[: -len(suffix)]
    return lowered


def _subwords(token: str) -> list[str]:
    return [part.lower() for part in _SUBWORD.findall(token)]


def _query_terms(query: str) -> list[_Term]:
    terms: dict[bytes, _Term] = {}
    for token in _TOKEN.findall(query):
        if code_like(token) and len(token) >= _MIN_STEM:
            terms[token.encode()] = _Term(token, re.escape(token.encode()), _CODE_TOKEN_WEIGHT, exact=True)
        for word in _subwords(token):
            if word in STOPWORDS or word in _QUESTION_WORDS or len(word) < _MIN_STEM:
                continue
            stem = _stem(word)
            terms.setdefault(stem.encode(), _Term(stem, re.escape(stem.encode()), 1.0, exact=False))
    return [terms[key] for key in sorted(terms)]


def _at_word_start(source: bytes, start: int) -> bool:
    """A stem matches at the start of a word or of a camelCase part (`max|Redirects`)."""
    if start == 0:
        return True
    before = source[start - 1 : start]
    return not before.isalnum() or (before.islower() and source[start : start + 1].isupper())


def relevance(symbols: Sequence[Symbol], source: bytes, query: str) -> Relevance:
    """How well each symbol (doc comment, signature and body) matches the query's terms: IDF-weighted term hits,
    with code-like terms and hits in the symbol's own name counting more."""
    terms = _query_terms(query)
    positions: list[dict[int, list[int]]] = [{} for _ in symbols]
    starts = [symbol.doc_comment[0].start if symbol.doc_comment else symbol.definition.start for symbol in symbols]
    # Stems are lower-case ASCII: a literal search in the lowered bytes finds what IGNORECASE finds, much faster.
    lowered = source.lower()
    for term_index, term in enumerate(terms):
        for match in re.finditer(term.pattern, source if term.exact else lowered):
            position = match.start()
            owner = bisect.bisect_right(starts, position) - 1
            if owner < 0 or position >= symbols[owner].body.end or not _at_word_start(source, position):
                continue
            positions[owner].setdefault(term_index, []).append(position)
    n = len(symbols)
    df = [sum(1 for found in positions if term_index in found) for term_index in range(len(terms))]
    idf = [math.log((n + 1) / (count + 0.5)) for count in df]
    scores: list[float] = []
    hits: list[list[int]] = []
    for symbol, found in zip(symbols, positions, strict=True):
        name_parts = {_stem(part) for part in _subwords(symbol.name)}
        score = 0.0
        informative: list[int] = []
        for term_index, where in found.items():
            term = terms[term_index]
            tf = len(where)
            score += term.weight * idf[term_index] * (1 + _TF_WEIGHT * math.log(tf))
            if term.text in name_parts or term.text == symbol.name:
                score += _NAME_WEIGHT * idf[term_index]
            if term.exact or idf[term_index] >= _INFORMATIVE_IDF:
                informative.extend(where)
        scores.append(score)
        hits.append(sorted(informative))
    return Relevance(scores, hits)
