"""Which function bodies the code compressor keeps: the symbols the query names and the bodies that match a
learned keep-pattern, whole; at the normal depth also the few bodies most relevant to the query's terms (a long
one trimmed to the blocks where the terms occur).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from headroom.pipeline.code_languages import LanguageSpec
from headroom.pipeline.code_outline import Symbol
from headroom.pipeline.code_relevance import code_like, relevance
from headroom.pipeline.code_trim import Cut, kept_rows, trim_cuts

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUALIFIED = re.compile(r"(?<![\w/.])[A-Za-z_]\w*(?:(?:\.|::|#)[A-Za-z_]\w*)+(?![\w/])")
_CALLED = re.compile(r"([A-Za-z_]\w*)\s*\(|`([A-Za-z_]\w*)`")
_FILE_SUFFIXES = frozenset({"py", "go", "rs", "ts", "tsx", "js", "jsx", "java", "c", "h", "cc", "cpp", "md", "txt"})
_RELATIVE_FLOOR = 0.5
_MAX_RELEVANT = 4
_TARGET_SHARE = 0.45
_MIN_BUDGET_ROWS = 40
_TRIM_ROWS = 40
_CALLEE_ROWS = 12
_MIN_CALLEE_NAME = 3
_BYTES_TOKEN = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(slots=True)
class Selection:
    """Bodies kept whole, and bodies kept trimmed (with the cuts that trim them)."""

    whole: set[int] = field(default_factory=set)
    trimmed: dict[int, list[Cut]] = field(default_factory=dict)


def select_bodies(
    spec: LanguageSpec,
    symbols: Sequence[Symbol],
    source: bytes,
    query: str,
    keep_patterns: Sequence[str],
    depth: int,
) -> Selection:
    """Named and keep-pattern bodies whole; at depth 1 also the most relevant bodies (see `_add_relevant`)."""
    selection = Selection(whole=named_symbols(symbols, query) | pattern_symbols(symbols, source, keep_patterns))
    if depth < 2 and symbols:
        _add_relevant(spec, selection, symbols, source, query)
    return selection


def named_symbols(symbols: Sequence[Symbol], query: str) -> set[int]:
    """Indices of the symbols the query names: `Class.method`, a code-like name (`should_strip_auth`,
    `maxRedirects`), a name written as a call or in backticks, or the last part of a dotted name (`pytest.approx`)."""
    pairs: set[tuple[str, str]] = set()
    dotted: set[str] = set()
    for match in _QUALIFIED.finditer(query):
        parts = re.split(r"\.|::|#", match.group(0))
        if parts[-1] in _FILE_SUFFIXES:
            continue
        pairs.update(itertools.pairwise(parts))
        dotted.add(parts[-1])
    words = set(_TOKEN.findall(query))
    called = {name for groups in _CALLED.findall(query) for name in groups if name}
    hits: set[int] = set()
    for index, symbol in enumerate(symbols):
        name = symbol.name
        if len(name) < 2:
            continue
        qualified = (symbol.container, name) in pairs
        if qualified or (name in words and (code_like(name) or name in called or name in dotted)):
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


def _add_relevant(
    spec: LanguageSpec, selection: Selection, symbols: Sequence[Symbol], source: bytes, query: str
) -> None:
    """Add the few best-scoring bodies. They share a row budget with the bodies already kept: what the skeleton
    leaves of 45% of the file, so a large file still shrinks by more than half. A long body is trimmed to the
    statements that hold the query's informative terms."""
    scored = relevance(symbols, source, query)
    best = max(scored.scores, default=0.0)
    if best <= 0:
        return
    total_rows = source.count(b"\n") + 1
    skeleton_rows = total_rows - sum(symbol.body.rows - 1 for symbol in symbols)
    budget = max(_MIN_BUDGET_ROWS, int(_TARGET_SHARE * total_rows) - skeleton_rows)
    budget -= sum(symbols[index].body.rows for index in selection.whole)
    added = 0
    for index in sorted(range(len(symbols)), key=lambda i: (-scored.scores[i], i)):
        if scored.scores[index] < _RELATIVE_FLOOR * best or added >= _MAX_RELEVANT:
            break
        if index in selection.whole:
            continue
        symbol = symbols[index]
        cuts = trim_cuts(spec, symbol.body_node, scored.hits[index]) if symbol.body.rows > _TRIM_ROWS else []
        cost = kept_rows(symbol.body, cuts)
        if cost > budget:
            continue
        if cuts:
            selection.trimmed[index] = cuts
        else:
            selection.whole.add(index)
        budget -= cost
        added += 1
    _add_callees(selection, symbols, source, scored.scores, budget)


def _add_callees(
    selection: Selection, symbols: Sequence[Symbol], source: bytes, scores: Sequence[float], budget: int
) -> None:
    """Short functions that a kept body calls and that match the query at all are kept too: the answer often
    sits one call away (`.or_else(excludes_file_default)`)."""
    by_name: dict[bytes, list[int]] = {}
    for index, symbol in enumerate(symbols):
        if len(symbol.name) >= _MIN_CALLEE_NAME and symbol.body.rows <= _CALLEE_ROWS and scores[index] > 0:
            by_name.setdefault(symbol.name.encode(), []).append(index)
    called: set[int] = set()
    for index in sorted(selection.whole | selection.trimmed.keys()):
        body = symbols[index].body
        for name in set(_BYTES_TOKEN.findall(source, body.start, body.end)):
            called.update(by_name.get(name, ()))
    for index in sorted(called - selection.whole - selection.trimmed.keys(), key=lambda i: (-scores[i], i)):
        rows = symbols[index].body.rows
        if rows <= budget:
            selection.whole.add(index)
            budget -= rows
