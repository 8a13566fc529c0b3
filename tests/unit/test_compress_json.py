"""JSON compressor on the corpus: needles survive, output is deterministic and smaller, arrays fold losslessly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from headroom.accounting.tokens import count_tokens
from headroom.pipeline.detect import split_preamble
from headroom.pipeline.json_compressor import JsonCompressor
from headroom.pipeline.json_tables import build_tables, leaves, nest
from headroom.pipeline.router import compress_block
from headroom.pipeline.types import CompressionContext

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def _json_payloads() -> list[dict[str, Any]]:
    out = []
    for kind in ("json_api", "search_results"):
        for meta_path in sorted((CORPUS / kind).glob("*.meta.json")):
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            meta["text"] = (CORPUS / kind / meta["payload_file"]).read_text(encoding="utf-8")
            out.append(meta)
    return out


PAYLOADS = [p for p in _json_payloads() if split_preamble(p["text"])[1].lstrip().startswith(("{", "["))]


@pytest.mark.parametrize("meta", PAYLOADS, ids=[p["id"] for p in PAYLOADS])
def test_needles_visible_and_tokens_saved(meta: dict[str, Any]) -> None:
    preamble, body = split_preamble(meta["text"])
    result = JsonCompressor().compress(body, CompressionContext(query=meta["question"]))
    out = preamble + (body if result is None else result.text)
    missing = [n for n in meta["needles"] if n not in out]
    assert not missing, missing
    if len(body) > 20_000:
        assert result is not None
        assert count_tokens(out) < 0.8 * count_tokens(meta["text"])


@pytest.mark.parametrize("meta", PAYLOADS, ids=[p["id"] for p in PAYLOADS])
def test_deterministic(meta: dict[str, Any]) -> None:
    body = split_preamble(meta["text"])[1]
    ctx = CompressionContext(query=meta["question"])
    first = JsonCompressor().compress(body, ctx)
    second = JsonCompressor().compress(body, ctx)
    assert first == second


@pytest.mark.parametrize(
    "payload_id", ["github_actions_workflow_runs", "github_public_repos_page", "github_search_repos"]
)
def test_arrays_of_similar_objects_fold_losslessly_by_half(payload_id: str) -> None:
    meta = next(p for p in PAYLOADS if p["id"] == payload_id)
    folded = JsonCompressor().fold(meta["text"])
    assert folded is not None and folded.lossless
    assert count_tokens(folded.text) <= 0.5 * count_tokens(meta["text"])


def test_tables_rebuild_the_original_rows() -> None:
    doc = json.loads((CORPUS / "json_api" / "github_actions_workflow_runs.json").read_text(encoding="utf-8"))
    _, tables = build_tables(doc)
    table = tables[0]
    for index, row in table.rows:
        flat = leaves(row) | dict(table.common)
        for target, (before, after, source) in table.derived.items():
            flat[target] = before + str(flat[source]) + after
        assert nest(flat) == doc["workflow_runs"][index[0]]
    assert table.common and table.derived


def test_lossless_flag_and_error_row_kept() -> None:
    rows = [{"id": i, "status": "ok", "url": f"https://x.test/items/{i}", "note": "fine " * 20} for i in range(200)]
    rows[123]["status"] = "error"
    text = json.dumps(rows)
    result = JsonCompressor().compress(text, CompressionContext(query="which item failed?"))
    assert result is not None and not result.lossless
    assert '"id": 123' in result.text
    assert "omitted]" in result.text
    small = JsonCompressor().compress(json.dumps(rows[:20], indent=2), CompressionContext())
    assert small is not None and small.lossless


def test_rows_out_of_the_usual_state_are_kept() -> None:
    rows = [{"id": i, "state": "running", "job": f"job-{i}", "note": f"reading {i} " * 30} for i in range(120)]
    pending = range(3, 120, 6)
    for i in pending:
        rows[i]["state"] = "pending"
    result = JsonCompressor().compress(json.dumps(rows), CompressionContext(query="which jobs are stuck?"))
    assert result is not None and not result.lossless and "omitted]" in result.text
    assert all(f'"job": "job-{i}",' in result.text for i in pending)


def test_rows_with_a_failing_exit_code_are_kept() -> None:
    steps = [{"id": i, "command": f"step {i}", "metadata": {"exit_code": 0}, "log": f"ok {i} " * 60} for i in range(80)]
    failed = range(5, 80, 7)
    for i in failed:
        steps[i]["metadata"]["exit_code"] = 1
    result = JsonCompressor().compress(json.dumps(steps), CompressionContext(query="why did it stop?"))
    assert result is not None and "omitted]" in result.text
    assert all(f'"command": "step {i}",' in result.text for i in failed)
    assert '"command": "step 41",' not in result.text


TRACES = sorted((CORPUS / "agent_traces").glob("*.meta.json"))


@pytest.mark.parametrize("meta_path", TRACES, ids=[m.name.split(".")[0] for m in TRACES])
def test_agent_traces_keep_needles_visible(meta_path: Path) -> None:
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    text = (CORPUS / "agent_traces" / meta["payload_file"]).read_text(encoding="utf-8")
    ctx = CompressionContext(query=meta["question"])
    result = compress_block(text, ctx)
    assert result is not None
    assert [n for n in meta["needles"] if n not in result.text] == []
    assert count_tokens(result.text) < 0.5 * count_tokens(text)
    assert compress_block(text, ctx) == result


def _conversation(with_roles: bool) -> str:
    messages: list[dict[str, Any]] = []
    for i in range(40):
        note = f"step {i}: " + "\n".join(f"checked item {i}-{k} and it looked fine" for k in range(80))
        messages.append({"role": "tool" if i % 2 else "assistant", "content": note})
    messages[17]["content"] = "step 17:\n" + "nothing to see here\n" * 120 + "quota exhausted for bucket archive-7"
    if not with_roles:
        messages = [{"kind": m["role"], "body": m["content"]} for m in messages]
    return json.dumps(messages)


def test_conversation_turns_are_never_dropped_for_relevance() -> None:
    ctx = CompressionContext(query="what went wrong with the upload?")
    result = compress_block(_conversation(with_roles=True), ctx)
    assert result is not None and "quota exhausted for bucket archive-7" in result.text
    assert "omitted]" not in result.text.split("\n", 1)[1].split("#", 1)[0]
    plain = compress_block(_conversation(with_roles=False), ctx)
    assert plain is not None and "quota exhausted for bucket archive-7" not in plain.text


def test_keep_patterns_keep_matching_rows() -> None:
    rows = [{"id": i, "name": f"item-{i}", "state": "ok", "blob": "x" * 80} for i in range(300)]
    ctx = CompressionContext(keep_patterns=(r'"name": "item-77"',))
    result = JsonCompressor().compress(json.dumps(rows), ctx)
    assert result is not None and '"name": "item-77"' in result.text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "not json at all",
        "[1, 2",
        '"just a string"',
        "[]",
        "{}",
        "null",
        '{"k": "ü✓"}' * 3,
        "[" + "1," * 50_000 + "1]",
    ],
)
def test_edge_cases_do_not_crash(text: str) -> None:
    result = JsonCompressor().compress(text, CompressionContext())
    assert result is None or len(result.text) < len(text)


def test_unicode_survives() -> None:
    rows = [{"id": i, "title": "The doors don’t open ✓", "lang": "日本語"} for i in range(30)]
    result = JsonCompressor().compress(json.dumps(rows, ensure_ascii=False, indent=2), CompressionContext())
    assert result is not None and "The doors don’t open ✓" in result.text and "日本語" in result.text


def test_json_lines_are_folded() -> None:
    text = "\n".join(json.dumps({"level": "info", "msg": f"event {i}", "service": "api"}) for i in range(50))
    result = JsonCompressor().compress(text, CompressionContext())
    assert result is not None and result.lossless and result.text.count('"service"') == 1
