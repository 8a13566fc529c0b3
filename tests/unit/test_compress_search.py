"""Search-result compressor: lossless fold by file, relevant matches kept when large, corpus search payloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headroom.accounting.tokens import count_tokens
from headroom.pipeline.router import compress_block
from headroom.pipeline.search_compressor import SearchCompressor
from headroom.pipeline.types import CompressionContext

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
METAS = sorted((CORPUS / "search_results").glob("*.meta.json"))


def _grep_output(files: int, per_file: int) -> str:
    lines = []
    for f in range(files):
        for n in range(per_file):
            lines.append(f"src/pkg{f}/module_{f}.py:{n * 7 + 1}:    value = compute_{n}(arg)  # step {n}")
    return "\n".join(lines)


def test_small_output_folds_losslessly() -> None:
    text = _grep_output(files=3, per_file=6)
    result = SearchCompressor().compress(text, CompressionContext())
    assert result is not None and result.lossless
    assert result.text.count("src/pkg1/module_1.py") == 1
    for n in range(6):
        assert f"  {n * 7 + 1}:    value = compute_{n}(arg)  # step {n}" in result.text


def test_large_output_keeps_relevant_matches() -> None:
    text = _grep_output(files=40, per_file=30) + "\nsrc/auth/token.py:88:    raise TokenExpired(user)"
    result = SearchCompressor().compress(text, CompressionContext(query="where is TokenExpired raised?"))
    assert result is not None and not result.lossless
    assert "raise TokenExpired(user)" in result.text and "omitted]" in result.text
    assert count_tokens(result.text) < 0.5 * count_tokens(text)


def test_deterministic() -> None:
    text = _grep_output(files=40, per_file=30)
    ctx = CompressionContext(query="compute_7")
    assert SearchCompressor().compress(text, ctx) == SearchCompressor().compress(text, ctx)


@pytest.mark.parametrize("text", ["", "no matches", "a:1:x", "x" * 300_000, "ü.py:1:✓\nü.py:2:✓✓\n"])
def test_edge_cases_do_not_crash(text: str) -> None:
    result = SearchCompressor().compress(text, CompressionContext())
    assert result is None or len(result.text) < len(text)


@pytest.mark.parametrize("meta_path", METAS, ids=[m.name.split(".")[0] for m in METAS])
def test_corpus_search_payloads_keep_needles(meta_path: Path) -> None:
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    text = (CORPUS / "search_results" / meta["payload_file"]).read_text(encoding="utf-8")
    ctx = CompressionContext(query=meta["question"])
    result = compress_block(text, ctx)
    out = text if result is None else result.text
    assert all(needle in out for needle in meta["needles"])
    assert compress_block(text, ctx) == result
