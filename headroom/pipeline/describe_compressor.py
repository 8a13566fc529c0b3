"""`kubectl describe` compressor: `Key: value` sections stay, what explains health is kept whole (states, reasons,
exit codes, images, commands and args, limits and requests, conditions), and the bulk goes: label, annotation,
volume, mount and toleration lists, long-form IDs, and the unremarkable rows of long embedded tables (Events,
Non-terminated Pods). In a long table, warning and failure rows stay (repeats of the same event only once, its
latest), as do the rows the query names and the last row; the rest is counted by kind.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from headroom.pipeline.relevance import bm25_scores, top_indices
from headroom.pipeline.types import Compressed, CompressionContext, omitted

DESCRIBE_LINE = re.compile(r"^\s*+[A-Z][\w .()/-]{0,40}:(\s{2,}\S|\s*$)")
_DESCRIBE_SHARE = 0.4
_DESCRIBE_SAMPLE_LINES = 60
_CONTINUATION_INDENT = 12
_MIN_KEYS = 3
_KEY = re.compile(r"^(\s*)([A-Za-z][\w .()/-]{0,40}):(?:\s|$)")
_UNDERLINE = re.compile(r"^\s*-{2,}(?:\s+-{2,})+\s*$")
_COLUMN = re.compile(r"\S+(?: \S+)*")
_TITLE = re.compile(r"^[A-Z][A-Za-z]*(?: [A-Z]?[a-z]+)*$")
_NOISE_KEYS = frozenset(
    {"labels", "annotations", "volumes", "mounts", "tolerations", "system info", "lease", "ips", "addresses"}
)
_ID_KEY = re.compile(r"(?:^|\s)(?:id|uid|uuid)$", re.I)
_PROBLEM = re.compile(
    r"\b(?:Warning|Error|Err[A-Z]\w*|Fail\w*|BackOff|Back-off|Unhealthy|OOM\w*|Evict\w*|Kill\w*|NotReady)\b"
)
_DIGITS = re.compile(r"\d+")
_SMALL_TABLE_ROWS = 8
_KEEP_RELEVANT = 10
_RELEVANT_SHARE = 0.5
_SUMMARY_KINDS = 6
_MIN_GAIN = 0.10


def looks_like_describe(lines: list[str]) -> bool:
    """Whether sampled non-blank lines read as `kubectl describe` output: mostly `Key:  value` lines, not
    counting the deeply indented continuation lines of a long value list (labels, annotations)."""
    sample = lines[:_DESCRIBE_SAMPLE_LINES]
    found = sum(1 for line in sample if DESCRIBE_LINE.match(line, 0, 400))
    if found < _MIN_KEYS:
        return False
    continued = sum(
        1 for line in sample if ":" not in line and len(line) - len(line.lstrip(" ")) >= _CONTINUATION_INDENT
    )
    return found >= _DESCRIBE_SHARE * (len(sample) - continued)


@dataclass(frozen=True, slots=True)
class _Table:
    """An embedded table: its header line, the column starts, and the line indices of its rows."""

    header: int
    starts: list[int]
    rows: list[int]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _table_at(lines: list[str], index: int) -> _Table | None:
    """The table whose header is line `index`: a header underlined with dashes, or a row of column titles right
    under a section key such as `Conditions:`."""
    line = lines[index]
    columns = list(_COLUMN.finditer(line))
    if len(columns) < 2 or ":" in line:
        return None
    underlined = index + 1 < len(lines) and bool(_UNDERLINE.match(lines[index + 1]))
    if not underlined:
        section = _KEY.match(lines[index - 1]) if index > 0 else None
        titled = all(_TITLE.match(column.group(0)) for column in columns)
        if section is None or not lines[index - 1].rstrip().endswith(":") or not titled:
            return None
    indent = _indent(line)
    first = index + (2 if underlined else 1)
    rows: list[int] = []
    for i in range(first, len(lines)):
        if not lines[i].strip() or _indent(lines[i]) < indent:
            break
        rows.append(i)
    return _Table(index, [column.start() for column in columns], rows) if rows else None


def _cells(line: str, starts: list[int]) -> list[str]:
    bounds = [*starts[1:], len(line) + 1]
    return [line[start:end].strip() for start, end in zip(starts, bounds, strict=True)]


def _without_age(cells: list[str]) -> str:
    """A row without its age column (`19h (x83 over 26h)`): repeats of one event share it."""
    return " ".join(cell for cell in cells if not cell[:1].isdigit())


def _table_keep(lines: list[str], table: _Table, ctx: CompressionContext) -> set[int]:
    """Row line indices a long table keeps: the latest of each problem row that differs in more than its numbers,
    the rows most relevant to the query (one of each repeated row), and the last row."""
    if len(table.rows) <= _SMALL_TABLE_ROWS:
        return set(table.rows)
    keys = [_without_age(_cells(lines[i], table.starts)) for i in table.rows]
    latest: dict[str, int] = {}
    for k, i in enumerate(table.rows):
        if _PROBLEM.search(lines[i]):
            latest[_DIGITS.sub("#", keys[k])] = k
    keep = {*latest.values(), len(table.rows) - 1}
    seen = {keys[k] for k in keep}
    scores = bm25_scores([lines[i] for i in table.rows], ctx.query)
    floor = max(scores, default=0.0) * _RELEVANT_SHARE
    ranked = sorted((k for k, score in enumerate(scores) if score > floor), key=lambda k: (-scores[k], k))
    limit = _KEEP_RELEVANT // max(1, ctx.depth)
    for k in ranked:
        if limit == 0:
            break
        if keys[k] not in seen:
            seen.add(keys[k])
            keep.add(k)
            limit -= 1
    return {table.rows[k] for k in keep}


def _summary(lines: list[str], dropped: list[int], table: _Table | None) -> str:
    """The omission marker, indented like the dropped lines; table rows are counted by their first column."""
    indent = " " * _indent(lines[dropped[0]])
    marker = omitted(
        len(dropped), ("rows" if table else "lines") if len(dropped) != 1 else ("row" if table else "line")
    )
    if table is None:
        return indent + marker
    first, second = table.starts[0], table.starts[1] if len(table.starts) > 1 else None
    counts = Counter(lines[i][first:second].strip() for i in dropped)
    if len(counts) > _SUMMARY_KINDS:
        return indent + marker
    return indent + marker + " (" + ", ".join(f"{value} {n}" for value, n in counts.most_common()) + ")"


class DescribeCompressor:
    """`kubectl describe` output (see the module docstring); kept lines stay byte-identical."""

    name = "describe"

    def compress(self, text: str, ctx: CompressionContext) -> Compressed | None:
        lines = text.split("\n")
        keep: set[int] = set()
        owner: dict[int, _Table] = {}
        droppable: list[int] = []
        noise_indent = -1
        index = 0
        while index < len(lines):
            line = lines[index]
            table = _table_at(lines, index) if line.strip() else None
            if table is not None:
                keep.update(range(table.header, table.rows[0]))
                keep.update(_table_keep(lines, table, ctx))
                owner.update((i, table) for i in table.rows)
                index = table.rows[-1] + 1
                noise_indent = -1
                continue
            indent = _indent(line)
            if noise_indent >= 0 and line.strip() and indent > noise_indent:
                droppable.append(index)
                index += 1
                continue
            noise_indent = -1
            key = _KEY.match(line)
            name = key.group(2).strip().lower() if key else ""
            if name in _NOISE_KEYS:
                noise_indent = indent
            if _ID_KEY.search(name):
                droppable.append(index)
            else:
                keep.add(index)
            index += 1
        scores = bm25_scores([lines[i] for i in droppable], ctx.query)
        best = max(scores, default=0.0)
        chosen = top_indices(scores, _KEEP_RELEVANT // max(1, ctx.depth), min_score=best * _RELEVANT_SHARE)
        keep.update(droppable[k] for k in chosen)
        result = _render(lines, keep, owner)
        if len(result) >= (1 - _MIN_GAIN) * len(text):
            return None
        return Compressed(text=result, lossless=False, transform="table_describe")


def _render(lines: list[str], keep: set[int], owner: dict[int, _Table]) -> str:
    out: list[str] = []
    dropped: list[int] = []
    for index, line in enumerate(lines):
        if index in keep:
            if dropped:
                out.append(_summary(lines, dropped, owner.get(dropped[0])))
                dropped = []
            out.append(line)
            continue
        if dropped and owner.get(dropped[0]) is not owner.get(index):
            out.append(_summary(lines, dropped, owner.get(dropped[0])))
            dropped = []
        dropped.append(index)
    if dropped:
        out.append(_summary(lines, dropped, owner.get(dropped[0])))
    return "\n".join(out)
