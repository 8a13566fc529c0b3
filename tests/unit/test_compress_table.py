"""CLI table compressor on kubectl output: header and standing-out rows kept verbatim, the rest counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headroom.accounting.tokens import count_tokens
from headroom.pipeline.detect import split_preamble
from headroom.pipeline.table_compressor import TableCompressor
from headroom.pipeline.types import CompressionContext

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


@pytest.mark.parametrize("payload_id", ["kubectl_get_pods_all_ns", "kubectl_get_pods_default_ns"])
def test_kubectl_get_keeps_needles_and_shrinks(payload_id: str) -> None:
    meta = json.loads((CORPUS / "cli_output" / f"{payload_id}.meta.json").read_text(encoding="utf-8"))
    text = (CORPUS / "cli_output" / meta["payload_file"]).read_text(encoding="utf-8")
    body = split_preamble(text)[1]
    ctx = CompressionContext(query=meta["question"])
    result = TableCompressor().compress(body, ctx)
    assert result is not None and not result.lossless
    assert all(needle in result.text for needle in meta["needles"])
    assert "STATUS: Running" in result.text
    assert count_tokens(result.text) < 0.8 * count_tokens(body)
    assert TableCompressor().compress(body, ctx) == result


def _pods(n: int) -> str:
    rows = ["NAME                 READY   STATUS    RESTARTS   AGE"]
    rows += [f"web-{i:04d}             1/1     Running   0          3d" for i in range(n)]
    rows.insert(40, "db-0                 0/1     Error     7          3d")
    return "\n".join(rows)


def test_rows_that_stand_out_are_kept() -> None:
    result = TableCompressor().compress(_pods(200), CompressionContext())
    assert result is not None
    assert "db-0                 0/1     Error     7          3d" in result.text
    assert result.text.startswith("NAME ")
    assert "[… 39 rows omitted] (STATUS: Running 39)" in result.text


def test_query_rows_are_kept() -> None:
    result = TableCompressor().compress(_pods(200), CompressionContext(query="what about web-0150?"))
    assert result is not None and "web-0150" in result.text


@pytest.mark.parametrize("text", ["", "NAME READY\n", "a  b  c\n1  2  3\n", "ü" * 10_000, _pods(3)])
def test_small_or_odd_input_returns_none(text: str) -> None:
    assert TableCompressor().compress(text, CompressionContext()) is None
