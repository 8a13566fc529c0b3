"""JSON compressor: fold arrays of objects into tables losslessly, then keep only the rows that matter when
the fold is still large (errors, outliers, rows the query asks about, first and last, and counts of the rest).
The messages of a conversation (rows with a `role`, and their content blocks) are not dropped for being off the
query: every turn tells part of the story, so all but huge ones stay, their long strings compressed.

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
_MESSAGE_ROW_CHARS = 1_000
_MAX_MESSAGE_CHARS = 8_000
_ROLES = frozenset({"system", "user", "assistant", "tool", "function", "developer", "model"})
_MIN_GAIN = 0.10


class _Style:
    """The source's separators and escaping, with one reusable encoder (cheaper than `json.dumps` per row)."""

    __slots__ = ("_encoder",)

    def __init__(self, item_sep: str, key_sep: str, ensure_ascii: bool) -> None:
        self._encoder = json.JSONEncoder(separators=(item_sep, key_sep), ensure_ascii=ensure_ascii)

    def dumps(self, value: Any) -> str:
        return self._encoder.encode(value)


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


@dataclass(slots=True)
class _Prepared:
    """One table's rows without their shared fields, printed once and reused by every rendering."""

    table: Table
    bodies: list[dict[str, Any]]
    texts: list[str]
    fields: list[dict[tuple[str, ...], Any]] | None = None

    def row_fields(self) -> list[dict[tuple[str, ...], Any]]:
        """Each row's leaves without the shared fields. The leaves `factor` read are reused: shared and templated
        fields are leaves of every row, so dropping them from a row's leaves gives the leaves of its body."""
        if self.fields is None:
            flat = self.table.flat
            removed = self.table.removed()
            if flat is None:
                self.fields = [leaves(body) for body in self.bodies]
            elif removed:
                self.fields = [{path: value for path, value in row.items() if path not in removed} for row in flat]
            else:
                self.fields = flat
        return self.fields

    def header(self, style: _Style) -> list[str]:
        table = self.table
        depth = len(table.rows[0][0]) if table.rows else 0
        where = "#index" if depth <= 1 else "#" + ".".join(["parent"] * (depth - 1) + ["index"])
        out = [f"{table.name} ({len(table.rows)} items, {where}; fields shared by all items shown once)"]
        if table.common:
            out.append("all items: " + style.dumps(nest(table.common)))
        for target, (before, after, source) in table.derived.items():
            out.append(f"{'.'.join(target)} = {before}${{{'.'.join(source)}}}{after}")
        return out


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
        folded = _render_folded(skeleton, tables, style)
        budget = _LOSSLESS_BUDGET_CHARS // max(1, ctx.depth)
        small_enough = len(folded) <= budget or (
            len(folded) <= _LOSSLESS_SHARE * len(text) and len(folded) <= _LOSSLESS_SHARE_CAP * budget
        )
        if not small_enough:
            lossy = self._render_lossy(skeleton, tables, style, ctx, _select(tables, ctx))
            if len(lossy) < len(folded):
                return _if_smaller(text, lossy, lossless=False)
        return _if_smaller(text, folded, lossless=True)

    def fold(self, text: str) -> Compressed | None:
        """The lossless fold alone, whatever its size (None when the text is not JSON or does not shrink)."""
        parsed = _parse(text)
        if parsed is None:
            return None
        style, skeleton, tables = parsed
        return _if_smaller(text, _render_folded(skeleton, tables, style), lossless=True)

    def _render_lossy(
        self,
        skeleton: Any,
        tables: list[_Prepared],
        style: _Style,
        ctx: CompressionContext,
        kept: dict[str, set[int]],
    ) -> str:
        lines: list[str] = []
        if skeleton not in (None, {}, []):
            lines.append(style.dumps(self._shorten(skeleton, ctx)))
        for prepared in tables:
            keep = kept[prepared.table.name]
            lines.extend(prepared.header(style))
            skipped: list[int] = []
            for i, (index, _) in enumerate(prepared.table.rows):
                if i not in keep:
                    skipped.append(i)
                    continue
                if skipped:
                    lines.append(_omission(prepared, skipped))
                    skipped = []
                row_text = prepared.texts[i]
                if len(row_text) >= _LONG_STRING_CHARS:
                    row_text = style.dumps(self._shorten(prepared.bodies[i], ctx))
                lines.append(f"#{'.'.join(map(str, index))} {row_text}")
            if skipped:
                lines.append(_omission(prepared, skipped))
        return "\n".join(lines)

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


def _render_folded(skeleton: Any, tables: list[_Prepared], style: _Style) -> str:
    lines: list[str] = []
    if skeleton not in (None, {}, []):
        lines.append(style.dumps(skeleton))
    for prepared in tables:
        lines.extend(prepared.header(style))
        lines.extend(
            f"#{'.'.join(map(str, index))} {row_text}"
            for (index, _), row_text in zip(prepared.table.rows, prepared.texts, strict=True)
        )
    return "\n".join(lines)


def _parse(text: str) -> tuple[_Style, Any, list[_Prepared]] | None:
    try:
        doc = parse_json(text)
    except (ValueError, RecursionError):
        return None
    skeleton, tables = build_tables(doc)
    style = _style_of(text)
    prepared: list[_Prepared] = []
    for table in tables:
        removed = table.removed()
        bodies = [prune(row, removed) for _, row in table.rows] if removed else [row for _, row in table.rows]
        prepared.append(_Prepared(table, bodies, [style.dumps(body) for body in bodies]))
    return style, skeleton, prepared


def _select(tables: list[_Prepared], ctx: CompressionContext) -> dict[str, set[int]]:
    """Rows each table keeps in a lossy pass; children first, so parents of kept rows are kept too."""
    kept: dict[str, set[int]] = {}
    conversations = [p.table.name for p in tables if _has_roles(p.table)]
    budget_rows = _KEEP_ALL_ROWS // max(1, ctx.depth)
    budget_chars = _KEEP_ALL_ROW_CHARS // max(1, ctx.depth)
    for prepared in reversed(tables):
        table = prepared.table
        if len(table.rows) > budget_rows and sum(map(len, prepared.texts)) > budget_chars:
            needed = _parents_needed(table, tables, kept)
            rows = [
                Row(index=index, text=row_text, fields=fields)
                for (index, _), row_text, fields in zip(table.rows, prepared.texts, prepared.row_fields(), strict=True)
            ]
            kept[table.name] = select_rows(rows, ctx, {i for i, r in enumerate(rows) if r.index in needed})
            if _is_messages(prepared, conversations):
                longest = _MAX_MESSAGE_CHARS // max(1, ctx.depth)
                kept[table.name].update(i for i, text in enumerate(prepared.texts) if len(text) <= longest)
        else:
            kept[table.name] = set(range(len(table.rows)))
    return kept


def _has_roles(table: Table) -> bool:
    """Whether the table's rows are chat messages (`"role": "user"`, `"assistant"`, `"tool"`, ...)."""
    roles = {role for _, row in table.rows if isinstance(role := row.get("role"), str)}
    common = table.common.get(("role",))
    return bool(roles & _ROLES) or (isinstance(common, str) and common in _ROLES)


def _is_messages(prepared: _Prepared, conversations: list[str]) -> bool:
    """Long rows of a conversation table or of a table nested in one (a message's content blocks)."""
    name = prepared.table.name
    if not any(name == parent or name.startswith(parent + ".") for parent in conversations):
        return False
    return sum(map(len, prepared.texts)) >= _MESSAGE_ROW_CHARS * len(prepared.texts)


def _parents_needed(table: Table, tables: list[_Prepared], kept: dict[str, set[int]]) -> set[tuple[int, ...]]:
    """Index paths of this table's rows that are ancestors of rows kept in its descendant tables."""
    needed: set[tuple[int, ...]] = set()
    if not table.rows:
        return needed
    width = len(table.rows[0][0])
    prefix = table.name + "."
    for child in tables:
        name = child.table.name
        if name.startswith(prefix) and name in kept:
            needed.update(child.table.rows[i][0][:width] for i in kept[name])
    return needed


_SUMMARY_MIN_ROWS = 5
_SUMMARY_VALUE = re.compile(r"^[\w .:/-]{1,40}$")


def _omission(prepared: _Prepared, skipped: list[int]) -> str:
    """The omission marker, with the value counts of low-cardinality fields among the omitted rows."""
    marker = omitted(len(skipped), "items" if len(skipped) != 1 else "item")
    if len(skipped) < _SUMMARY_MIN_ROWS:
        return marker
    fields = prepared.row_fields()
    counts: dict[tuple[str, ...], dict[str, int]] = {}
    for i in skipped:
        for path, value in fields[i].items():
            if not isinstance(value, (str, bool)):
                continue
            text = str(value)
            if _SUMMARY_VALUE.match(text):
                per_value = counts.setdefault(path, {})
                per_value[text] = per_value.get(text, 0) + 1
    n = len(skipped)
    summary = [
        f"{'.'.join(path)}: " + ", ".join(f"{value} {c}" for value, c in sorted(values.items(), key=lambda kv: -kv[1]))
        for path, values in counts.items()
        if 1 < len(values) <= 4 and len(values) < n // 2 and sum(values.values()) == n
    ]
    return marker if not summary else f"{marker} ({'; '.join(summary[:4])})"


def _if_smaller(original: str, text: str, lossless: bool) -> Compressed | None:
    if len(text) > (1 - _MIN_GAIN) * len(original):
        return None
    return Compressed(text=text, lossless=lossless, transform="json_fold" if lossless else "json_select")
