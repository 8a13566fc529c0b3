"""Lossless normalisation of a JSON document into record tables.

Every array of objects (at any depth) becomes a table whose rows keep the original nesting; fields equal in
every row move to a `common` object, and string fields that are a template of another field (the many
`*_url` fields of REST APIs) become one `${field}` template. Nothing is lost: a row plus `common` plus the
filled templates is the original object, and a child row's index path names where it sat in its parent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Path = tuple[str, ...]
IndexPath = tuple[int, ...]

MIN_TABLE_ROWS = 3
_MIN_SOURCE_CHARS = 3
_MAX_SOURCE_FIELDS = 120


@dataclass
class Table:
    """The objects found at one array path (e.g. `groups[].rules[]`), with what they all share factored out;
    `flat` holds each row's leaves once `factor` has read them."""

    name: str
    rows: list[tuple[IndexPath, dict[str, Any]]]
    common: dict[Path, Any] = field(default_factory=dict)
    derived: dict[Path, tuple[str, str, Path]] = field(default_factory=dict)
    flat: list[dict[Path, Any]] | None = None

    def removed(self) -> set[Path]:
        return set(self.common) | set(self.derived)


def is_record_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and isinstance(value[0], dict)
        and all(isinstance(item, dict) for item in value)
    )


def leaves(obj: dict[str, Any], prefix: Path = ()) -> dict[Path, Any]:
    """Leaf values of nested objects by key path; arrays and empty objects are leaves."""
    out: dict[Path, Any] = {}
    _add_leaves(obj, prefix, out)
    return out


def _add_leaves(obj: dict[str, Any], prefix: Path, out: dict[Path, Any]) -> None:
    for key, value in obj.items():
        if isinstance(value, dict) and value:
            _add_leaves(value, (*prefix, key), out)
        else:
            out[(*prefix, key)] = value


def prune(obj: dict[str, Any], removed: set[Path], prefix: Path = ()) -> dict[str, Any]:
    """`obj` without the leaves in `removed`; objects emptied by the removal disappear."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = (*prefix, key)
        if path in removed:
            continue
        if isinstance(value, dict) and value:
            inner = prune(value, removed, path)
            if inner:
                out[key] = inner
        else:
            out[key] = value
    return out


def nest(flat: dict[Path, Any]) -> dict[str, Any]:
    """Rebuild nested objects from key paths (inverse of `leaves`)."""
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return out


def _record_lists(obj: dict[str, Any], prefix: Path = ()) -> dict[Path, list[dict[str, Any]]]:
    found: dict[Path, list[dict[str, Any]]] = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            found.update(_record_lists(value, (*prefix, key)))
        elif isinstance(value, list) and is_record_list(value):
            found[(*prefix, key)] = value
    return found


def _without_paths(obj: dict[str, Any], paths: set[Path], prefix: Path = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = (*prefix, key)
        if path in paths:
            continue
        out[key] = _without_paths(value, paths, path) if isinstance(value, dict) and value else value
    return out


def _path_name(path: Path) -> str:
    return ".".join(path)


def explode(
    rows: list[tuple[IndexPath, dict[str, Any]]], name: str, tables: list[Table], min_rows: int = MIN_TABLE_ROWS
) -> list[tuple[IndexPath, dict[str, Any]]]:
    """Move nested arrays of objects with at least `min_rows` objects in all into child tables (appended to
    `tables`, parents first); returns the rows without those arrays."""
    by_path: dict[Path, list[tuple[IndexPath, dict[str, Any]]]] = {}
    for index, row in rows:
        for path, records in _record_lists(row).items():
            by_path.setdefault(path, []).extend(((*index, j), rec) for j, rec in enumerate(records))
    exploded = {path for path, found in by_path.items() if len(found) >= min_rows}
    if not exploded:
        return rows
    slimmed = [(index, _without_paths(row, exploded)) for index, row in rows]
    for path in [p for p in by_path if p in exploded]:
        child_name = f"{name}.{_path_name(path)}[]" if name else f"{_path_name(path)}[]"
        table = Table(name=child_name, rows=[])
        tables.append(table)
        table.rows = explode(by_path[path], child_name, tables, min_rows)
    return slimmed


def _common(flat_rows: list[dict[Path, Any]]) -> dict[Path, Any]:
    first = flat_rows[0]
    common: dict[Path, Any] = {}
    for path, value in first.items():
        kind = type(value)
        if all(path in row and type(row[path]) is kind and row[path] == value for row in flat_rows[1:]):
            common[path] = value
    return common


def _template_of(value: str, source: str) -> tuple[str, str] | None:
    at = value.find(source)
    return None if at < 0 else (value[:at], value[at + len(source) :])


def _derived(flat_rows: list[dict[Path, Any]], common: dict[Path, Any]) -> dict[Path, tuple[str, str, Path]]:
    """String fields equal to prefix + another field's value + suffix in every row."""
    first = flat_rows[0]
    varying = [p for p, v in first.items() if p not in common and isinstance(v, (str, int)) and not isinstance(v, bool)]
    sources = sorted(
        (p for p in varying if len(str(first[p])) >= _MIN_SOURCE_CHARS),
        key=lambda p: (-len(str(first[p])), p),
    )[:_MAX_SOURCE_FIELDS]
    derived: dict[Path, tuple[str, str, Path]] = {}
    used_as_source: set[Path] = set()
    for target in varying:
        value = first[target]
        if not isinstance(value, str) or target in used_as_source:
            continue
        for source in sources:
            if source == target or source in derived:
                continue
            source_text = str(first[source])
            if len(source_text) >= len(value):
                continue
            template = _template_of(value, source_text)
            if template is None:
                continue
            if all(_fills(template, row, target, source) for row in flat_rows[1:]):
                derived[target] = (*template, source)
                used_as_source.add(source)
                break
    return derived


def _fills(template: tuple[str, str], row: dict[Path, Any], target: Path, source: Path) -> bool:
    value = row.get(target)
    filler = row.get(source)
    if not isinstance(value, str) or filler is None or isinstance(filler, (dict, list, bool)):
        return False
    return value == template[0] + str(filler) + template[1]


def factor(table: Table) -> None:
    """Find the table's common fields and templated fields (only for tables of MIN_TABLE_ROWS rows or more)."""
    if len(table.rows) < MIN_TABLE_ROWS:
        return
    flat_rows = [leaves(row) for _, row in table.rows]
    table.flat = flat_rows
    table.common = _common(flat_rows)
    table.derived = _derived(flat_rows, table.common)


def build_tables(doc: Any) -> tuple[Any, list[Table]]:
    """Split a document into (skeleton, tables): the skeleton is the document without its record arrays."""
    tables: list[Table] = []
    if is_record_list(doc) and len(doc) >= MIN_TABLE_ROWS:
        table = Table(name="[]", rows=[])
        tables.append(table)
        table.rows = explode([((i,), row) for i, row in enumerate(doc)], "[]", tables)
        skeleton: Any = None
    elif isinstance(doc, dict):
        rows = explode([((), doc)], "", tables)
        skeleton = rows[0][1]
    elif is_record_list(doc):
        rows = explode([((i,), row) for i, row in enumerate(doc)], "[]", tables)
        skeleton = [row for _, row in rows]
    else:
        skeleton = doc
    for table in tables:
        factor(table)
    return skeleton, tables
