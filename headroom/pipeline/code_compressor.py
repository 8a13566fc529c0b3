"""Code compressor: parses source with tree-sitter and keeps its skeleton (imports, constants, signatures, the
first line of each doc comment) while eliding the bodies of functions the query does not name or point at.

Elided bodies leave a marker that keeps the structure valid-looking (`...  # [… 12 lines omitted]` in Python,
`{ /* [… 12 lines omitted] */ }` in brace languages). Unknown languages and badly broken parses return None.
Line-numbered code (an agent's file read) is compressed without its numbers, which are then put back on.
"""

from __future__ import annotations

import re

from headroom.pipeline.code_languages import LanguageSpec, fallback_for, parser_for, spec_for
from headroom.pipeline.code_numbered import Segment, renumber, split_numbered, strip_numbers
from headroom.pipeline.code_outline import Outline, OutlineReader, Span
from headroom.pipeline.code_selection import Selection, select_bodies
from headroom.pipeline.code_trim import Cut
from headroom.pipeline.detect import detect_language
from headroom.pipeline.types import Compressed, CompressionContext, omitted

_MIN_LINES = 12
_PROBE_LINES = 40
_MAX_ERROR_SHARE = 0.1
_SHORT_BODY_ROWS = 3
_SHORT_COMMENT_ROWS = 2
_STRING_OPENER = re.compile(r"^([rRbBuUfF]*)(\"\"\"|'''|\"|')")
_LINE_COMMENT_PREFIX = re.compile(r"^\s*(?://[/!]?|#!?)\s*")
_BLOCK_COMMENT_NOISE = re.compile(r"^\s*(?:/\*+!?|\*+(?!/))\s*|\s*\*+/\s*$")

Edit = tuple[int, int, bytes]


class CodeCompressor:
    """Signatures and skeleton kept, bodies elided unless the query names them (see module docstring)."""

    name = "code"

    def compress(self, text: str, ctx: CompressionContext) -> Compressed | None:
        if not ctx.code_aware:
            return None
        numbered = split_numbered(text)
        if numbered is None and strip_numbers(text.split("\n", _PROBE_LINES)[:_PROBE_LINES]) is not None:
            # Numbered lines after a header (an editor's file view): parsed with their numbers, they are only errors.
            return None
        code = text if numbered is None else numbered.code
        planned = _plan(code, ctx)
        if planned is None:
            return None
        spec, source, edits = planned
        segments = _segments(source, edits)
        if numbered is None:
            result = b"".join(chunk for chunk, _ in segments).decode("utf-8")
        else:
            result = renumber(numbered, segments)
        if len(result) >= len(text):
            return None
        return Compressed(text=result, lossless=False, transform=f"code:{spec.name}")


def _plan(code: str, ctx: CompressionContext) -> tuple[LanguageSpec, bytes, list[Edit]] | None:
    """The language, the source bytes and the edits that compress them; None when there is nothing to do."""
    if code.count("\n") < _MIN_LINES:
        return None
    spec = spec_for(ctx.language_hint or detect_language(code, ctx.tool_name))
    if spec is None:
        return None
    source = code.encode("utf-8")
    parsed = _parse(spec, source)
    if parsed is None:
        return None
    spec, outline = parsed
    selection = select_bodies(spec, outline.symbols, source, ctx.query, ctx.keep_patterns, ctx.depth)
    edits = _edits(spec, outline, selection, source)
    return (spec, source, edits) if edits else None


def _parse(spec: LanguageSpec, source: bytes) -> tuple[LanguageSpec, Outline] | None:
    """The outline under the hinted grammar, or under its close relative when that parses more cleanly."""
    best: tuple[LanguageSpec, Outline] | None = None
    candidate: LanguageSpec | None = spec
    while candidate is not None and (best is None or best[1].error_bytes > 0):
        parser = parser_for(candidate.name)
        if parser is not None:
            outline = OutlineReader(candidate).read(parser.parse(source).root_node)
            if best is None or outline.error_bytes < best[1].error_bytes:
                best = (candidate, outline)
        candidate = fallback_for(candidate) if candidate is spec else None
    if best is None or best[1].error_bytes > _MAX_ERROR_SHARE * len(source) or not best[1].symbols:
        return None
    return best


def _edits(spec: LanguageSpec, outline: Outline, selection: Selection, source: bytes) -> list[Edit]:
    edits: list[Edit] = []
    for index, symbol in enumerate(outline.symbols):
        if index in selection.whole:
            continue
        cuts = selection.trimmed.get(index)
        if cuts is not None:
            edits.extend(_cut_edit(spec, cut, source) for cut in cuts)
            continue
        body = _block_edit(spec, symbol.body, symbol.docstring, source)
        if body is not None:
            edits.append(body)
        comment = _comment_edit(symbol.doc_comment, source)
        if comment is not None:
            edits.append(comment)
    for run in outline.comment_runs:
        comment = _comment_edit(run, source)
        if comment is not None:
            edits.append(comment)
    for docstring in outline.docstrings:
        if docstring.rows > _SHORT_COMMENT_ROWS:
            condensed = _docstring_head(source[docstring.start : docstring.end], docstring.rows - 1)
            edits.append((docstring.start, docstring.end, condensed))
    return sorted(edits)


def _block_edit(spec: LanguageSpec, block: Span, docstring: Span | None, source: bytes) -> Edit | None:
    """A body or block replaced by a marker (a Python docstring's first line stays); None when it is short."""
    if not spec.indented:
        rows = block.rows - 2
        if rows <= _SHORT_BODY_ROWS:
            return None
        return block.start, block.end, f"{{ /* {omitted(rows, 'lines')} */ }}".encode()
    rows = block.rows - (1 if docstring is not None else 0)
    if rows <= _SHORT_BODY_ROWS:
        return None
    indent = source[source.rfind(b"\n", 0, block.start) + 1 : block.start]
    if indent.strip():
        return None
    head = b""
    if docstring is not None:
        head = _docstring_head(source[docstring.start : docstring.end], 0) + b"\n" + indent
    return block.start, block.end, head + f"...  # {omitted(rows, 'lines')}".encode()


def _cut_edit(spec: LanguageSpec, cut: Cut, source: bytes) -> Edit:
    """A trimmed body's cut: a block marker, or a comment marker in place of a run of statements."""
    if cut.whole_block:
        edit = _block_edit(spec, cut.span, None, source)
        if edit is not None:
            return edit
    marker = omitted(cut.span.rows, "lines")
    comment = f"# {marker}" if spec.indented else f"/* {marker} */"
    return cut.span.start, cut.span.end, comment.encode()


def _docstring_head(literal: bytes, hidden_rows: int) -> bytes:
    """The first line of a docstring, closed with its own quotes; `hidden_rows` > 0 adds a marker inside."""
    text = literal.decode("utf-8")
    opener = _STRING_OPENER.match(text)
    if opener is None or "\n" not in text:
        return literal
    prefix, quote = opener.groups()
    inner = text[len(prefix) + len(quote) : len(text) - len(quote)]
    first = next((line.strip() for line in inner.split("\n") if line.strip()), "")
    if hidden_rows:
        first = f"{first} {omitted(hidden_rows, 'lines')}".lstrip()
    if first.endswith((quote[0], "\\")):
        first += " "
    return f"{prefix}{quote}{first}{quote}".encode()


def _comment_edit(run: list[Span], source: bytes) -> Edit | None:
    """A comment run of more than two lines shortened to its first line of content and a marker."""
    if not run:
        return None
    end = run[-1].end
    # Some grammars (Rust) end a line comment after its newline; the newline stays.
    if source[end - 1 : end] == b"\n":
        end -= 1
    text = source[run[0].start : end].decode("utf-8")
    hidden = text.count("\n")
    if hidden < _SHORT_COMMENT_ROWS:
        return None
    marker = omitted(hidden, "lines")
    if text.startswith("/*"):
        if len(run) > 1:
            return None
        opener = "/**" if text.startswith("/**") else "/*"
        lines = (_BLOCK_COMMENT_NOISE.sub("", line).strip() for line in text.split("\n"))
        first = next((line for line in lines if line), "")
        return run[0].start, end, f"{opener} {first} {marker} */".encode()
    if any(source.startswith(b"/*", span.start) for span in run):
        return None
    first_line = next((line.strip() for line in text.split("\n") if _LINE_COMMENT_PREFIX.sub("", line)), "")
    return run[0].start, end, f"{first_line} {marker}".encode()


def _segments(source: bytes, edits: list[Edit]) -> list[Segment]:
    """The source with each edited range replaced, as pieces that know where they start in the source (None for
    a replacement); an edit overlapping an earlier one is dropped."""
    parts: list[Segment] = []
    position = 0
    for start, end, replacement in edits:
        if start < position:
            continue
        parts.append((source[position:start], position))
        parts.append((replacement, None))
        position = end
    parts.append((source[position:], position))
    return parts
