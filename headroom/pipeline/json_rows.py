"""Which rows of a large JSON table a lossy pass keeps: errors (failing exit codes included), rows whose state
differs from the usual one, outliers, rows the query asks about, rows that match learned keep-patterns, and the
first and last row."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

from headroom.pipeline.relevance import bm25_scores, query_terms, terms, top_indices
from headroom.pipeline.types import CompressionContext

_ERROR_VALUE = re.compile(
    r"^(error|errored|errors|failed|failure|failing|fatal|critical|crit|firing|crashloopbackoff|unhealthy|"
    r"timed[_ ]?out|timeout|cancelled|canceled|rejected|down|oomkilled|panic)$",
    re.I,
)
_ERROR_KEYS = frozenset({"error", "errors", "exception", "err", "error_message", "stacktrace", "traceback"})
_EXIT_KEYS = frozenset({"exit_code", "exitcode", "returncode", "return_code", "exit_status"})
_STATE_KEYS = frozenset({"state", "status", "phase", "health", "conclusion", "outcome", "result"})
_MAX_STATE_VALUES = 6
_MAX_ERRORS = 30
_MAX_RELEVANT = 8
_MAX_OUTLIERS = 10
_RELEVANT_SHARE = 0.35
_Z_OUTLIER = 3.0


@dataclass(frozen=True, slots=True)
class Row:
    """One table row as printed (`text`) and as leaf fields (for outlier and error tests)."""

    index: tuple[int, ...]
    text: str
    fields: dict[tuple[str, ...], Any]


def _is_error(path: tuple[str, ...], value: Any) -> bool:
    key = path[-1].lower()
    if key in _ERROR_KEYS:
        return value not in (None, "", [], {}, False, 0)
    if key in _EXIT_KEYS:
        return isinstance(value, int) and not isinstance(value, bool) and value != 0
    return isinstance(value, str) and len(value) <= 24 and bool(_ERROR_VALUE.match(value))


def _categorical_outliers(rows: list[Row]) -> list[int]:
    """Rows holding a rare value of a field whose values are few and mostly the same."""
    n = len(rows)
    columns: dict[tuple[str, ...], list[tuple[int, Any]]] = {}
    for i, row in enumerate(rows):
        for path, value in row.fields.items():
            if isinstance(value, (str, bool)) or value is None:
                columns.setdefault(path, []).append((i, value))
    found: list[int] = []
    for values in columns.values():
        counts = Counter(str(v) for _, v in values)
        if len(counts) < 2 or len(counts) > max(3, n // 5):
            continue
        majority = counts.most_common(1)[0][1]
        if majority < n // 2:
            continue
        rare = {v for v, c in counts.items() if c <= max(1, n // 10)}
        found.extend(i for i, v in values if str(v) in rare)
    return sorted(set(found))


def _state_changes(rows: list[Row]) -> list[int]:
    """Rows whose state (`state`, `status`, `phase`, ...) differs from the state most rows are in: a pending
    alert among firing ones, a failed step among completed ones."""
    columns: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for i, row in enumerate(rows):
        for path, value in row.fields.items():
            if path[-1].lower() in _STATE_KEYS and isinstance(value, str) and len(value) <= 24:
                columns.setdefault(path, []).append((i, value))
    found: set[int] = set()
    for values in columns.values():
        counts = Counter(value for _, value in values)
        if not 2 <= len(counts) <= _MAX_STATE_VALUES:
            continue
        usual = min(counts, key=lambda value: (-counts[value], value))
        found.update(i for i, value in values if value != usual)
    return sorted(found)


def _numeric_outliers(rows: list[Row], query: str) -> list[int]:
    """Rows at the extremes of numeric fields the query names, and rows far from the mean of any field."""
    qterms = query_terms(query)
    columns: dict[tuple[str, ...], list[tuple[int, float]]] = {}
    for i, row in enumerate(rows):
        for path, value in row.fields.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                columns.setdefault(path, []).append((i, float(value)))
    found: set[int] = set()
    for path, values in columns.items():
        if len(values) < 3:
            continue
        named = bool(qterms & set(terms(" ".join(path).replace("_", " "))))
        if named:
            found.add(max(values, key=lambda iv: iv[1])[0])
            found.add(min(values, key=lambda iv: iv[1])[0])
        nums = [v for _, v in values]
        spread = statistics.pstdev(nums)
        if len(values) >= 8 and spread > 0:
            mean = statistics.fmean(nums)
            found.update(i for i, v in values if abs(v - mean) / spread > _Z_OUTLIER)
    return sorted(found)


def select_rows(rows: list[Row], ctx: CompressionContext, forced: set[int]) -> set[int]:
    """Indices of the rows to keep; `forced` rows (parents of kept child rows) are always kept."""
    keep = set(forced) | {0, len(rows) - 1}
    scores = bm25_scores([row.text for row in rows], ctx.query, split_camel=True)
    by_relevance = sorted(range(len(rows)), key=lambda i: (-scores[i], i))
    rank = {i: r for r, i in enumerate(by_relevance)}
    errors = {i for i, row in enumerate(rows) if any(_is_error(p, v) for p, v in row.fields.items())}
    errors.update(_state_changes(rows))
    keep.update(sorted(errors, key=lambda i: rank[i])[:_MAX_ERRORS])
    best = max(scores, default=0.0)
    keep.update(top_indices(scores, _MAX_RELEVANT, min_score=best * _RELEVANT_SHARE))
    outliers = _categorical_outliers(rows) + _numeric_outliers(rows, ctx.query)
    keep.update(sorted(set(outliers), key=lambda i: rank[i])[:_MAX_OUTLIERS])
    for pattern in ctx.keep_patterns:
        try:
            compiled = re.compile(pattern)
        except re.error:
            continue
        keep.update(i for i, row in enumerate(rows) if compiled.search(row.text))
    return keep
