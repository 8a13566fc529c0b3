"""JSON compressor: fold arrays of objects into tables losslessly, then keep only the rows that matter when
the fold is still large (errors, outliers, rows the query asks about, first and last, and counts of the rest).

Rows are printed as JSON objects in the source's own separator style, so `"key":value` pairs read exactly as
they did in the original.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from headroom.pipeline.json_rows import Row, select_rows
from headroom.pipeline.json_tables import Table, build_tables, leaves, nest, prune
from headroom.pipeline.types import Compressed, CompressionContext, omitted

NestedCompress = Callable[[str, CompressionContext], Compressed | None]

_LOSSLESS_BUDGET_CHARS = 12_000
_LOSSLESS_SHARE = 0.25
_LOSSLESS_SHARE_CAP = 4
_KEEP_ALL_ROWS = 12
_KEEP_ALL_ROW_CHARS = 4_000
_LONG_STRING_CHARS = 2_000
_MIN_GAIN = 0.10


@dataclass(frozen=True, slots=True)
class _Style:
    item_sep: str
    key_sep: str
    ensure_ascii: bool

    def dumps(self, value: Any) -> str:
        return json.dumps(value, separators=(self.item_sep, self.key_sep), ensure_ascii=self.ensure_ascii)


def _style_of(text: str) -> _Style:
    sample = text[:8192]
    spaced = sample.count('": ')
    tight = sample.count('":') - spaced
    key_sep = ": " if spaced > tight else ":"
    ascii_only = "\\u" in sample and text.isascii()
    return _Style(item_sep=", " if key_sep == ": " else ",", key_sep=key_sep, ensure_ascii=ascii_only)


def parse_json(text: str) -> Any:
    """The document in `text`: one JSON value, or a list of values for JSON Lines. Raises ValueError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) < 2:
            raise
        return [json.loads(line) for line in lines]


class JsonCompressor:
    """Folds JSON; `compress_nested` (the router) compresses long strings inside rows kept by a lossy pass."""

    name = "json"

    def __init__(self, compress_nested: NestedCompress | None = None) -> None:
        self._compress_nested = compress_nested

    def compress(self, text: str, ctx: CompressionContext) -> Compressed | None:
        parsed = _parse(text)
        if parsed is None:
            return None
        style, skeleton, tables = parsed
        folded = self._render_all(skeleton, tables, style, ctx, None)
        budget = _LOSSLESS_BUDGET_CHARS // max(1, ctx.depth)
        small_enough = len(folded) <= budget or (
            len(folded) <= _LOSSLESS_SHARE * len(text) and len(folded) <= _LOSSLESS_SHARE_CAP * budget
        )
        if not small_enough:
            lossy = self._render_all(skeleton, tables, style, ctx, _select(tables, style, ctx))
            if len(lossy) < len(folded):
                return _if_smaller(text, lossy, lossless=False)
        return _if_smaller(text, folded, lossless=True)

    def fold(self, text: str) -> Compressed | None:
        """The lossless fold alone, whatever its size (None when the text is not JSON or does not shrink)."""
        parsed = _parse(text)
        if parsed is None:
            return None
        style, skeleton, tables = parsed
        return _if_smaller(text, self._render_all(skeleton, tables, style, CompressionContext(), None), lossless=True)

    def _render_all(
        self,
        skeleton: Any,
        tables: list[Table],
        style: _Style,
        ctx: CompressionContext,
        kept: dict[str, set[int]] | None,
    ) -> str:
        lines: list[str] = []
        if skeleton not in (None, {}, []):
            lines.append(style.dumps(skeleton if kept is None else self._shorten(skeleton, ctx)))
        for table in tables:
            lines.extend(self._render(table, style, None if kept is None else kept[table.name], ctx))
        return "\n".join(lines)

    def _render(self, table: Table, style: _Style, keep: set[int] | None, ctx: CompressionContext) -> list[str]:
        depth = len(table.rows[0][0]) if table.rows else 0
        where = "#index" if depth <= 1 else "#" + ".".join(["parent"] * (depth - 1) + ["index"])
        out = [f"{table.name} ({len(table.rows)} items, {where}; fields shared by all items shown once)"]
        if table.common:
            out.append("all items: " + style.dumps(nest(table.common)))
        for target, (before, after, source) in table.derived.items():
            out.append(f"{'.'.join(target)} = {before}${{{'.'.join(source)}}}{after}")
        removed = table.removed()
        skipped: list[dict[str, Any]] = []
        for i, (index, row) in enumerate(table.rows):
            if keep is not None and i not in keep:
                skipped.append(row)
                continue
            if skipped:
                out.append(_omission(skipped, removed))
                skipped = []
            body = prune(row, removed)
            if keep is not None:
                body = self._shorten(body, ctx)
            out.append(f"#{'.'.join(map(str, index))} {style.dumps(body)}")
        if skipped:
            out.append(_omission(skipped, removed))
        return out

    def _shorten(self, value: Any, ctx: CompressionContext) -> Any:
        """Long strings inside kept rows go through the router themselves (lossy passes only)."""
        if self._compress_nested is None or ctx.depth > 2:
            return value
        if isinstance(value, str):
            if len(value) < _LONG_STRING_CHARS:
                return value
            nested = self._compress_nested(value, replace(ctx, depth=ctx.depth + 1))
            return value if nested is None else nested.text
        if isinstance(value, dict):
            return {key: self._shorten(item, ctx) for key, item in value.items()}
        if isinstance(value, list):
            return [self._shorten(item, ctx) for item in value]
        return value


def _parse(text: str) -> tuple[_Style, Any, list[Table]] | None:
    try:
        doc = parse_json(text)
    except (ValueError, RecursionError):
        return None
    skeleton, tables = build_tables(doc)
    return _style_of(text), skeleton, tables


def _select(tables: list[Table], style: _Style, ctx: CompressionContext) -> dict[str, set[int]]:
    """Rows each table keeps in a lossy pass; children first, so parents of kept rows are kept too."""
    kept: dict[str, set[int]] = {}
    budget_rows = _KEEP_ALL_ROWS // max(1, ctx.depth)
    budget_chars = _KEEP_ALL_ROW_CHARS // max(1, ctx.depth)
    for table in reversed(tables):
        rows = _rows(table, style)
        if len(rows) > budget_rows and sum(len(r.text) for r in rows) > budget_chars:
            needed = _parents_needed(table, tables, kept)
            kept[table.name] = select_rows(rows, ctx, {i for i, r in enumerate(rows) if r.index in needed})
        else:
            kept[table.name] = set(range(len(rows)))
    return kept


def _rows(table: Table, style: _Style) -> list[Row]:
    removed = table.removed()
    out: list[Row] = []
    for index, row in table.rows:
        body = prune(row, removed)
        out.append(Row(index=index, text=style.dumps(body), fields=leaves(body)))
    return out


def _parents_needed(table: Table, tables: list[Table], kept: dict[str, set[int]]) -> set[tuple[int, ...]]:
    """Index paths of this table's rows that are ancestors of rows kept in its descendant tables."""
    needed: set[tuple[int, ...]] = set()
    if not table.rows:
        return needed
    width = len(table.rows[0][0])
    prefix = table.name + "."
    for child in tables:
        if child.name.startswith(prefix) and child.name in kept:
            needed.update(child.rows[i][0][:width] for i in kept[child.name])
    return needed


_SUMMARY_MIN_ROWS = 5
_SUMMARY_VALUE = re.compile(r"^[\w .:/-]{1,40}$")


def _omission(rows: list[dict[str, Any]], removed: set[Any]) -> str:
    """The omission marker, with the value counts of low-cardinality fields among the omitted rows."""
    marker = omitted(len(rows), "items" if len(rows) != 1 else "item")
    if len(rows) < _SUMMARY_MIN_ROWS:
        return marker
    counts: dict[tuple[str, ...], dict[str, int]] = {}
    for row in rows:
        for path, value in leaves(row).items():
            if path in removed or not isinstance(value, (str, bool)):
                continue
            text = str(value)
            if _SUMMARY_VALUE.match(text):
                per_value = counts.setdefault(path, {})
                per_value[text] = per_value.get(text, 0) + 1
    summary = [
        f"{'.'.join(path)}: " + ", ".join(f"{value} {n}" for value, n in sorted(values.items(), key=lambda kv: -kv[1]))
        for path, values in counts.items()
        if 1 < len(values) <= 4 and len(values) < len(rows) // 2 and sum(values.values()) == len(rows)
    ]
    return marker if not summary else f"{marker} ({'; '.join(summary[:4])})"


def _if_smaller(original: str, text: str, lossless: bool) -> Compressed | None:
    if len(text) > (1 - _MIN_GAIN) * len(original):
        return None
    return Compressed(text=text, lossless=lossless, transform="json_fold" if lossless else "json_select")
