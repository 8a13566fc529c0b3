"""Trimming a long function body that is relevant but not named: runs of statements and nested blocks where none
of the query's informative terms occur are cut; the statements that hold the terms, and the block headers around
them, are kept.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from tree_sitter import Node

from headroom.pipeline.code_languages import LanguageSpec
from headroom.pipeline.code_outline import Span

_MIN_CUT_ROWS = 4


@dataclass(frozen=True, slots=True)
class Cut:
    """A range to replace with a marker: a whole block (`{ … }`, an indented suite) or a run of statements."""

    span: Span
    whole_block: bool


def _span(first: Node, last: Node) -> Span:
    return Span(first.start_byte, last.end_byte, first.start_point.row, last.end_point.row)


def _holds_hit(node: Node, hits: Sequence[int]) -> bool:
    index = bisect.bisect_left(hits, node.start_byte)
    return index < len(hits) and hits[index] < node.end_byte


def _inner_blocks(statement: Node, block_types: frozenset[str]) -> list[Node]:
    """The blocks nested directly in a statement: found through expressions and clauses, not through other
    blocks."""
    found: list[Node] = []
    stack = list(reversed(statement.children))
    while stack:
        node = stack.pop()
        if node.type in block_types:
            found.append(node)
        else:
            stack.extend(reversed(node.children))
    return found


def _statements(block: Node) -> list[Node]:
    named = block.named_children
    # Go wraps a block's statements in one statement_list node.
    if len(named) == 1 and named[0].type == "statement_list":
        return named[0].named_children
    return named


def trim_cuts(spec: LanguageSpec, body: Node, hits: Sequence[int]) -> list[Cut]:
    """The cuts that trim `body` to the statements holding a hit (byte positions, sorted ascending)."""
    min_block_rows = _MIN_CUT_ROWS if spec.indented else _MIN_CUT_ROWS + 2
    cuts: list[Cut] = []
    stack = [body]
    while stack:
        run: list[Node] = []
        for statement in [*_statements(stack.pop()), None]:
            if statement is not None and not _holds_hit(statement, hits):
                run.append(statement)
                continue
            if run and run[-1].end_point.row - run[0].start_point.row + 1 >= _MIN_CUT_ROWS:
                cuts.append(Cut(_span(run[0], run[-1]), whole_block=False))
            run = []
            if statement is None:
                continue
            for block in _inner_blocks(statement, spec.bodies):
                if _holds_hit(block, hits):
                    stack.append(block)
                elif block.end_point.row - block.start_point.row + 1 >= min_block_rows:
                    cuts.append(Cut(_span(block, block), whole_block=True))
    return sorted(cuts, key=lambda cut: cut.span.start)


def kept_rows(body: Span, cuts: Sequence[Cut]) -> int:
    """Rows of the trimmed body (each cut leaves one marker line)."""
    return body.rows - sum(cut.span.rows - 1 for cut in cuts)
