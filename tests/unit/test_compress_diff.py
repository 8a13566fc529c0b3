"""Diff compressor: file and hunk headers and changed lines kept, unchanged context counted on the hunk header."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headroom.accounting.tokens import count_tokens
from headroom.pipeline.diff_compressor import DiffCompressor
from headroom.pipeline.router import compress_block
from headroom.pipeline.types import CompressionContext

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
METAS = sorted((CORPUS / "diffs").glob("*.meta.json"))


@pytest.mark.parametrize("meta_path", METAS, ids=[m.name.split(".")[0] for m in METAS])
def test_corpus_diffs_keep_needles_and_headers(meta_path: Path) -> None:
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    text = (CORPUS / "diffs" / meta["payload_file"]).read_text(encoding="utf-8")
    ctx = CompressionContext(query=meta["question"])
    result = compress_block(text, ctx)
    out = text if result is None else result.text
    missing = [needle for needle in meta["needles"] if needle not in out]
    assert len(missing) <= len(meta["needles"]) // 2, missing
    assert not missing or "hunks (" in out
    headers = [line for line in text.split("\n") if line.startswith(("diff --git", "+++ ", "--- a/"))]
    assert all(header in out for header in headers)
    assert compress_block(text, ctx) == result


def test_context_is_trimmed_and_counted() -> None:
    context = "\n".join(f" line {i}" for i in range(10))
    text = f"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,21 +1,21 @@\n{context}\n-old\n+new\n{context}\n"
    result = DiffCompressor().compress(text, CompressionContext())
    assert result is not None and not result.lossless
    assert "@@ -1,21 +1,21 @@ [… 20 unchanged lines omitted]" in result.text
    assert "-old\n+new" in result.text
    assert count_tokens(result.text) < count_tokens(text) / 2


def test_format_patch_signature_is_not_part_of_a_hunk() -> None:
    context = "\n".join(f" unchanged line number {i}" for i in range(12))
    hunk = f"@@ -1,13 +1,13 @@\n{context}\n-b\n+c"
    text = f"From abc\nSubject: x\n---\ndiff --git a/f b/f\n--- a/f\n+++ b/f\n{hunk}\n-- \n2.40.0\n"
    result = DiffCompressor().compress(text, CompressionContext())
    assert result is not None and result.text.endswith("-b\n+c\n-- \n2.40.0\n")


@pytest.mark.parametrize("text", ["", "no diff here", "@@ broken header @@\n+x", "+" * 100_000])
def test_edge_cases_do_not_crash(text: str) -> None:
    assert DiffCompressor().compress(text, CompressionContext()) is None
