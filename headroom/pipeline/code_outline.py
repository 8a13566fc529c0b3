"""The outline of a source file read from its tree-sitter tree: every function whose body could be elided (with
its name, enclosing type and doc comment), the comment runs and docstrings between them, and how much of the
file failed to parse. Function bodies are never descended into, so the walk stays cheap on large files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tree_sitter import Node

from headroom.pipeline.code_languages import LanguageSpec

_RECEIVER_TYPE = re.compile(rb"\(\s*(?:\w+\s+)?[*&]?\s*(\w+)")
_NAME_FIELDS = ("name", "property", "key")


@dataclass(frozen=True, slots=True)
class Span:
    """A byte range of the source with the rows it starts and ends on."""

    start: int
    end: int
    start_row: int
    end_row: int

    @property
    def rows(self) -> int:
        return self.end_row - self.start_row + 1


@dataclass(slots=True)
class Symbol:
    """A function or method whose body may be elided."""

    name: str
    container: str
    definition: Span
    body: Span
    body_node: Node = field(compare=False, repr=False)
    docstring: Span | None = None
    doc_comment: list[Span] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        return f"{self.container}.{self.name}" if self.container else self.name


@dataclass(slots=True)
class Outline:
    """What the compressor may shorten; everything else in the file is kept verbatim."""

    symbols: list[Symbol] = field(default_factory=list)
    comment_runs: list[list[Span]] = field(default_factory=list)
    docstrings: list[Span] = field(default_factory=list)
    error_bytes: int = 0


def _span(node: Node) -> Span:
    return Span(node.start_byte, node.end_byte, node.start_point.row, node.end_point.row)


def _text(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""


def _declarator_name(node: Node) -> str:
    """C/C++: the name at the end of a declarator chain (`*f(int)` -> `f`, `A::m() const` -> `A::m`)."""
    current: Node | None = node
    while current is not None and current.child_by_field_name("declarator") is not None:
        current = current.child_by_field_name("declarator")
    return _text(current)


def _function_name(node: Node) -> str:
    for name_field in _NAME_FIELDS:
        named = node.child_by_field_name(name_field)
        if named is not None:
            return _text(named)
    declarator = node.child_by_field_name("declarator")
    if declarator is not None:
        return _declarator_name(declarator)
    parent = node.parent
    if parent is None:
        return ""
    for name_field in (*_NAME_FIELDS, "left"):
        named = parent.child_by_field_name(name_field)
        if named is not None and named.id != node.id:
            return _text(named).rsplit(".", 1)[-1]
    return ""


def _container_name(node: Node) -> str:
    named = node.child_by_field_name("name") or node.child_by_field_name("type")
    return re.split(r"[<\[(\s]", _text(named), maxsplit=1)[0]


def _docstring(body: Node) -> Node | None:
    """Python: the string literal that opens a block or module, if any."""
    first = body.named_children[0] if body.named_child_count else None
    if first is None or first.type != "expression_statement" or first.named_child_count != 1:
        return None
    string = first.named_children[0]
    return string if string.type == "string" else None


class OutlineReader:
    """Reads one tree into an Outline; one instance per parse."""

    def __init__(self, spec: LanguageSpec) -> None:
        self._spec = spec
        self._outline = Outline()
        self._pending_doc: list[Span] = []
        self._total_rows = 0

    def read(self, root: Node) -> Outline:
        """The outline of a parsed file. An anonymous function spanning half of the file (a module wrapper or
        an IIFE) is read as structure, so the functions inside it stay visible."""
        self._total_rows = root.end_point.row + 1
        if root.has_error:
            self._outline.error_bytes = _error_bytes(root)
        if self._spec.indented:
            doc = _docstring(root)
            if doc is not None:
                self._outline.docstrings.append(_span(doc))
        self._visit(root, "")
        return self._outline

    def _visit(self, node: Node, container: str) -> None:
        run: list[Node] = []
        for child in node.children:
            if child.type in self._spec.comments:
                if run and child.start_point.row > run[-1].end_point.row + 1:
                    self._flush(run, attached=False)
                    run = []
                run.append(child)
                continue
            if child.type in self._spec.attributes:
                continue
            attached = bool(run) and child.start_point.row <= run[-1].end_point.row + 1
            self._flush(run, attached=attached)
            run = []
            self._handle(child, container)
            if attached and self._pending_doc:
                self._outline.comment_runs.append(self._pending_doc)
                self._pending_doc = []
        self._flush(run, attached=False)

    def _flush(self, run: list[Node], *, attached: bool) -> None:
        """Record a comment run; one that directly precedes a definition waits to become its doc comment."""
        if not run:
            return
        spans = [_span(comment) for comment in run]
        if attached:
            if self._pending_doc:
                self._outline.comment_runs.append(self._pending_doc)
            self._pending_doc = spans
        else:
            self._outline.comment_runs.append(spans)

    def _handle(self, node: Node, container: str) -> None:
        spec = self._spec
        body = node.child_by_field_name("body")
        if node.type in spec.functions and body is not None and body.type in spec.bodies:
            name = _function_name(node)
            if name or 2 * (body.end_point.row - body.start_point.row) < self._total_rows:
                self._add_symbol(node, body, name, container)
                return
        if node.type in spec.containers and body is not None and _container_name(node) in spec.test_modules:
            self._add_symbol(node, body, _container_name(node), container)
            return
        if node.type in spec.containers:
            if self._pending_doc:
                self._outline.comment_runs.append(self._pending_doc)
                self._pending_doc = []
            if spec.indented and body is not None:
                doc = _docstring(body)
                if doc is not None:
                    self._outline.docstrings.append(_span(doc))
            self._visit(node, _container_name(node))
            return
        if node.child_count:
            self._visit(node, container)

    def _add_symbol(self, node: Node, body: Node, name: str, container: str) -> None:
        if "::" in name:
            container, name = name.rsplit("::", 1)
        if node.type == "method_declaration" and not container:
            receiver = node.child_by_field_name("receiver")
            match = _RECEIVER_TYPE.match(receiver.text or b"") if receiver is not None else None
            container = match.group(1).decode() if match else ""
        symbol = Symbol(
            name=name,
            container=container,
            definition=_span(node),
            body=_span(body),
            body_node=body,
            doc_comment=self._pending_doc,
        )
        self._pending_doc = []
        if self._spec.indented:
            doc = _docstring(body)
            symbol.docstring = _span(doc) if doc is not None else None
        self._outline.symbols.append(symbol)


def _error_bytes(root: Node) -> int:
    """Bytes covered by ERROR nodes plus one per MISSING node; only subtrees that contain errors are walked."""
    total = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error:
            total += node.end_byte - node.start_byte
        elif node.is_missing:
            total += 1
        elif node.has_error:
            stack.extend(node.children)
    return total
