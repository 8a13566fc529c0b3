"""Which function bodies the code compressor keeps whole: the symbols the query names, the bodies that match a
learned keep-pattern and, at the normal depth, the few bodies most relevant to the query's terms.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from headroom.pipeline.code_outline import Symbol
from headroom.pipeline.relevance import STOPWORDS

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUALIFIED = re.compile(r"(?<![\w/.])[A-Za-z_]\w*(?:(?:\.|::|#)[A-Za-z_]\w*)+(?![\w/])")
_CALLED = re.compile(r"([A-Za-z_]\w*)\s*\(|`([A-Za-z_]\w*)`")
_SUBWORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_CAMEL = re.compile(r"[a-z0-9][A-Z]")
_FILE_SUFFIXES = frozenset({"py", "go", "rs", "ts", "tsx", "js", "jsx", "java", "c", "h", "cc", "cpp", "md", "txt"})
_QUESTION_WORDS = frozenset({"happens", "happen", "does", "used", "uses", "using", "value", "values", "way"})
_SUFFIXES = ("ing", "ed", "es", "s")
_MIN_STEM = 3
_NAME_WEIGHT = 2.0
_CODE_TOKEN_WEIGHT = 2.0
_RELATIVE_FLOOR = 0.5
_MAX_RELEVANT = 4
_TARGET_SHARE = 0.4
_MIN_BUDGET_ROWS = 40


@dataclass(frozen=True, slots=True)
class _Term:
    text: str
    pattern: bytes
    weight: float
    exact: bool


def _code_like(token: str) -> bool:
    return "_" in token.strip("_") or token.startswith("__") or bool(_CAMEL.search(token))


def _stem(word: str) -> str:
    lowered = word.lower()
    for suffix in _SUFFIXES:
        if len(lowered) - len(suffix) >= 4 and lowered.endswith(suffix):
            return lowered[: -len(suffix)]
    return lowered


def _subwords(token: str) -> list[str]:
    return [part.lower() for part in _SUBWORD.findall(token)]


def named_symbols(symbols: Sequence[Symbol], query: str) -> set[int]:
    """Indices of the symbols the query names: `Class.method`, a code-like name (`should_strip_auth`,
    `maxRedirects`), a name written as a call or in backticks, or one part of a dotted name (`pytest.approx`)."""
    pairs: set[tuple[str, str]] = set()
    dotted: set[str] = set()
    for match in _QUALIFIED.finditer(query):
        parts = re.split(r"\.|::|#", match.group(0))
        if parts[-1] in _FILE_SUFFIXES:
            continue
        pairs.update(itertools.pairwise(parts))
        dotted.update(parts)
    words = set(_TOKEN.findall(query))
    called = {name for groups in _CALLED.findall(query) for name in groups if name}
    hits: set[int] = set()
    for index, symbol in enumerate(symbols):
        name = symbol.name
        if len(name) < 2:
            continue
        qualified = (symbol.container, name) in pairs
        if qualified or (name in words and (_code_like(name) or name in called or name in dotted)):
            hits.add(index)
    return hits


def pattern_symbols(symbols: Sequence[Symbol], source: bytes, keep_patterns: Sequence[str]) -> set[int]:
    """Indices of the symbols whose text matches one of the learned keep-patterns (invalid patterns are skipped)."""
    compiled: list[re.Pattern[str]] = []
    for pattern in keep_patterns:
        try:
            compiled.append(re.compile(pattern, re.M))
        except re.error:
            continue
    if not compiled:
        return set()
    hits: set[int] = set()
    for index, symbol in enumerate(symbols):
        text = source[symbol.definition.start : symbol.body.end].decode("utf-8", "replace")
        if any(pattern.search(text) for pattern in compiled):
            hits.add(index)
    return hits


def _query_terms(query: str) -> list[_Term]:
    terms: dict[bytes, _Term] = {}
    for token in _TOKEN.findall(query):
        if _code_like(token) and len(token) >= _MIN_STEM:
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


def relevance_scores(symbols: Sequence[Symbol], source: bytes, query: str) -> list[float]:
    """How well each symbol (doc comment, signature and body) matches the query's terms: IDF-weighted term hits,
    with code-like terms and hits in the symbol's own name counting more."""
    terms = _query_terms(query)
    if not terms or not symbols:
        return [0.0] * len(symbols)
    starts = [symbol.doc_comment[0].start if symbol.doc_comment else symbol.definition.start for symbol in symbols]
    counts: list[dict[int, int]] = [{} for _ in symbols]
    for term_index, term in enumerate(terms):
        flags = 0 if term.exact else re.IGNORECASE
        for match in re.finditer(term.pattern, source, flags):
            position = match.start()
            owner = bisect.bisect_right(starts, position) - 1
            if owner < 0 or position >= symbols[owner].body.end or not _at_word_start(source, position):
                continue
            counts[owner][term_index] = counts[owner].get(term_index, 0) + 1
    n = len(symbols)
    df = [sum(1 for found in counts if term_index in found) for term_index in range(len(terms))]
    idf = [math.log((n + 1) / (count + 0.5)) for count in df]
    scores: list[float] = []
    for symbol, found in zip(symbols, counts, strict=True):
        name_parts = {_stem(part) for part in _subwords(symbol.name)}
        score = 0.0
        for term_index, tf in found.items():
            term = terms[term_index]
            score += term.weight * idf[term_index] * 2 * tf / (tf + 1)
            if term.text in name_parts or term.text == symbol.name:
                score += _NAME_WEIGHT * idf[term_index]
        scores.append(score)
    return scores


def relevant_symbols(
    symbols: Sequence[Symbol], source: bytes, query: str, total_rows: int, already_kept: set[int]
) -> set[int]:
    """Indices of the few best-scoring bodies. They share a row budget with the bodies already kept (the named
    ones): what the skeleton leaves of 40% of the file, so a large file still shrinks by more than half."""
    scores = relevance_scores(symbols, source, query)
    best = max(scores, default=0.0)
    if best <= 0:
        return set()
    skeleton_rows = total_rows - sum(symbol.body.rows - 1 for symbol in symbols)
    budget = max(_MIN_BUDGET_ROWS, int(_TARGET_SHARE * total_rows) - skeleton_rows)
    budget -= sum(symbols[index].body.rows for index in already_kept)
    kept: set[int] = set()
    for index in sorted(range(len(symbols)), key=lambda i: (-scores[i], i)):
        if index in already_kept:
            continue
        if scores[index] < _RELATIVE_FLOOR * best or len(kept) >= _MAX_RELEVANT:
            break
        rows = symbols[index].body.rows
        if rows <= budget:
            kept.add(index)
            budget -= rows
    return kept
