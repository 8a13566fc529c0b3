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
    assert not missing, missing
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


def _big_diff(hunk: str) -> str:
    filler = "\n".join(f"+    unrelated_setting_{i} = compute_value({i}, other={i + 1})" for i in range(200))
    return f"diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n{hunk}\n@@ -1,0 +1,200 @@\n{filler}\n"


def test_one_key_replacements_stay_in_trimmed_and_dropped_hunks() -> None:
    body = "\n".join(f"-        line_{i} = old_value_{i}(x, y, z)" for i in range(200))
    hunk = f'@@ -500,202 +500,2 @@\n-class Old:\n+class New:\n-    name="old_tool",\n{body}\n+    name="new_tool",'
    for query in ("which tool was renamed?", "what changed in the unrelated settings?"):
        result = DiffCompressor().compress(_big_diff(hunk), CompressionContext(query=query))
        assert result is not None
        assert '-    name="old_tool",' in result.text and '+    name="new_tool",' in result.text
        assert "-        line_130 = old_value_130(x, y, z)" not in result.text


@pytest.mark.parametrize("text", ["", "no diff here", "@@ broken header @@\n+x", "+" * 100_000])
def test_edge_cases_do_not_crash(text: str) -> None:
    assert DiffCompressor().compress(text, CompressionContext()) is None
