"""CLI table compressor (kubectl get, ps, docker ps, ls -l): keep the header, the rows the query names and the
rows that stand out (a status unlike the majority, restarts, not-ready counts), verbatim; count the rest by status.
`kubectl describe` output, the other shape detection calls a table, goes to the describe compressor.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from headroom.pipeline.describe_compressor import DescribeCompressor, looks_like_describe
from headroom.pipeline.relevance import bm25_scores, top_indices
from headroom.pipeline.types import Compressed, CompressionContext, omitted

_COLUMN = re.compile(r"\S+(?: \S+)*")
_STATUS_HEADERS = frozenset({"STATUS", "STATE", "PHASE", "HEALTH", "CONDITION", "RESULT", "STAT"})
_COUNT_HEADERS = frozenset({"RESTARTS", "ERRORS", "FAILURES", "FAILED", "RETRIES"})
_READ_HEADERS = _STATUS_HEADERS | _COUNT_HEADERS | {"READY"}
_READY = re.compile(r"^(\d+)/(\d+)$")
_LEADING_INT = re.compile(r"^(\d+)")
_MIN_ROWS = 8
_KEEP_ALL_CHARS = 2_000
_KEEP_RELEVANT = 10
_KEEP_COUNTED = 5
_MIN_GAIN = 0.10
_DESCRIBE_SAMPLE_CHARS = 6144


@dataclass(frozen=True, slots=True)
class _Table:
    header_index: int
    names: list[str]
    starts: list[int]
    rows: list[int]  # line indices of the table's rows


def _find_table(lines: list[str]) -> _Table | None:
    """The first line with three or more upper-case column titles, and the aligned lines under it."""
    for index, line in enumerate(lines[:20]):
        columns = list(_COLUMN.finditer(line.rstrip()))
        if len(columns) >= 3 and line.strip() == line.strip().upper() and any(c.isalpha() for c in line):
            rows = [i for i in range(index + 1, len(lines)) if lines[i].strip()]
            if len(rows) < _MIN_ROWS:
                return None
            starts = [c.start() for c in columns]
            return _Table(index, [c.group(0) for c in columns], starts, rows)
    return None


def _columns(lines: list[str], table: _Table) -> dict[int, list[str]]:
    """The cells of the columns a compressor reads (status, counters, READY), by column, row by row."""
    columns: dict[int, list[str]] = {}
    for col, name in enumerate(table.names):
        if name in _READ_HEADERS:
            start = table.starts[col]
            end = table.starts[col + 1] if col + 1 < len(table.starts) else None
            columns[col] = [lines[i][start:end].strip() for i in table.rows]
    return columns


def _stands_out(table: _Table, columns: dict[int, list[str]]) -> set[int]:
    """Row positions whose status differs from the majority or whose counters are non-zero."""
    found: set[int] = set()
    for col, values in columns.items():
        name = table.names[col]
        if name in _STATUS_HEADERS:
            majority = Counter(values).most_common(1)[0][0]
            found.update(i for i, v in enumerate(values) if v != majority)
        elif name in _COUNT_HEADERS:
            counted = [(int(m.group(1)), i) for i, v in enumerate(values) if (m := _LEADING_INT.match(v))]
            nonzero = sorted(((n, i) for n, i in counted if n > 0), key=lambda ni: (-ni[0], ni[1]))
            found.update(i for _, i in nonzero[:_KEEP_COUNTED])
        else:
            for i, value in enumerate(values):
                ready = _READY.match(value)
                if ready and int(ready.group(1)) < int(ready.group(2)):
                    found.add(i)
    return found


def _summary(table: _Table, columns: dict[int, list[str]], dropped: list[int]) -> str:
    marker = omitted(len(dropped), "rows" if len(dropped) != 1 else "row")
    for col, values in columns.items():
        name = table.names[col]
        if name in _STATUS_HEADERS:
            counts = Counter(values[i] for i in dropped)
            return f"{marker} ({name}: " + ", ".join(f"{v} {n}" for v, n in counts.most_common()) + ")"
    return marker


class TableCompressor:
    """Column-aligned CLI tables; kept rows stay byte-identical."""

    name = "table"

    def compress(self, text: str, ctx: CompressionContext) -> Compressed | None:
        if looks_like_describe([line for line in text[:_DESCRIBE_SAMPLE_CHARS].split("\n") if line.strip()]):
            return DescribeCompressor().compress(text, ctx)
        lines = text.split("\n")
        table = _find_table(lines)
        if table is None or sum(len(lines[i]) for i in table.rows) <= _KEEP_ALL_CHARS // max(1, ctx.depth):
            return None
        columns = _columns(lines, table)
        keep = _stands_out(table, columns)
        scores = bm25_scores([lines[i] for i in table.rows], ctx.query)
        best = max(scores, default=0.0)
        keep.update(top_indices(scores, _KEEP_RELEVANT // max(1, ctx.depth), min_score=best * 0.5))
        for pattern in ctx.keep_patterns:
            try:
                compiled = re.compile(pattern)
            except re.error:
                continue
            keep.update(pos for pos, i in enumerate(table.rows) if compiled.search(lines[i]))
        position = {line_index: pos for pos, line_index in enumerate(table.rows)}
        out: list[str] = []
        dropped: list[int] = []
        for index, line in enumerate(lines):
            pos = position.get(index)
            if pos is None and index > table.header_index and not line.strip():
                continue
            if pos is not None and pos not in keep:
                dropped.append(pos)
                continue
            if dropped:
                out.append(_summary(table, columns, dropped))
                dropped = []
            out.append(line)
        if dropped:
            out.append(_summary(table, columns, dropped))
        result = "\n".join(out)
        if len(result) > (1 - _MIN_GAIN) * len(text):
            return None
        return Compressed(text=result, lossless=False, transform="table_rows")
