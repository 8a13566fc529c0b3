"""The router: detect a block's kind, hand it to that kind's compressor, fall back to the text compressor.

Header lines that wrap a tool's real output (one-line JSON envelopes, `stdout:`) are kept verbatim and only
the body is compressed. The registry is built once per process; compressors are stateless. With Kompress
enabled (`ctx.embedding_model`) and the ml extra installed, TEXT blocks go to Kompress instead of BM25.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import replace
from pathlib import Path

from headroom.pipeline.detect import detect_kind, detect_language, split_preamble
from headroom.pipeline.diff_compressor import DiffCompressor
from headroom.pipeline.json_compressor import JsonCompressor
from headroom.pipeline.search_compressor import SearchCompressor
from headroom.pipeline.table_compressor import TableCompressor
from headroom.pipeline.types import Compressed, CompressionContext, Compressor, ContentKind

_MIN_GAIN = 0.10
_MIN_CHARS = 200

# Compressors written alongside this router; a missing module leaves its kind to the text compressor.
_OPTIONAL = {
    ContentKind.LOGS: ("headroom.pipeline.log_compressor", "LogCompressor"),
    ContentKind.TEST_OUTPUT: ("headroom.pipeline.test_output_compressor", "TestOutputCompressor"),
    ContentKind.CODE: ("headroom.pipeline.code_compressor", "CodeCompressor"),
    ContentKind.TEXT: ("headroom.pipeline.text_compressor", "TextCompressor"),
}


def _load(module_name: str, class_name: str) -> Compressor | None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return None
    compressor: Compressor = getattr(module, class_name)()
    return compressor


@functools.cache
def registry() -> dict[ContentKind, Compressor]:
    """One compressor instance per content kind (kinds whose module is not installed are absent)."""
    compressors: dict[ContentKind, Compressor] = {
        ContentKind.JSON: JsonCompressor(compress_nested=compress_block),
        ContentKind.SEARCH: SearchCompressor(),
        ContentKind.TABLE: TableCompressor(),
        ContentKind.DIFF: DiffCompressor(),
    }
    for kind, (module_name, class_name) in _OPTIONAL.items():
        loaded = _load(module_name, class_name)
        if loaded is not None:
            compressors[kind] = loaded
    return compressors


def _kompress(model_dir: Path) -> Compressor | None:
    """Kompress for TEXT blocks; imported only when enabled, None (logged once) without the ml extra."""
    from headroom.pipeline.kompress import kompress_for

    return kompress_for(model_dir)


def compress_block(text: str, ctx: CompressionContext) -> Compressed | None:
    """Compress one block (a tool result, a long message); None when nothing saves at least 10%."""
    if len(text) < _MIN_CHARS or not text.strip():
        return None
    preamble, body = split_preamble(text)
    kind = detect_kind(body, ctx.tool_name)
    if kind is ContentKind.CODE and not ctx.language_hint:
        ctx = replace(ctx, language_hint=detect_language(body, ctx.tool_name))
    compressors = registry()
    result: Compressed | None = None
    specialised = compressors.get(kind)
    if kind is ContentKind.TEXT and ctx.embedding_model is not None:
        specialised = _kompress(ctx.embedding_model) or specialised
    if specialised is not None:
        result = specialised.compress(body, ctx)
    text_compressor = compressors.get(ContentKind.TEXT)
    if result is None and kind is not ContentKind.TEXT and text_compressor is not None:
        result = text_compressor.compress(body, ctx)
    if result is None or len(preamble) + len(result.text) > (1 - _MIN_GAIN) * len(text):
        return None
    if preamble:
        return Compressed(text=preamble + result.text, lossless=result.lossless, transform=result.transform)
    return result
