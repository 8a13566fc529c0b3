"""`/stats` after a real multi-turn agent session: the spec's blocks, live counters, no proxy-caused cache busts,
and the JSONL request log without secrets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.processes import FakeUpstream, ProxyProcess
from tests.integration.traffic import eventually, get_json

KEY = "sk-ant-secret-value-123"


def _turns(corpus_dir: Path) -> list[list[dict[str, Any]]]:
    log = (corpus_dir / "logs" / "loghub_hdfs_2k.log").read_text()
    rows = (corpus_dir / "json_api" / "github_actions_workflow_runs.json").read_text()
    first = [{"role": "user", "content": "Investigate the failing job."}]
    second = [
        *first,
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"c": "logs"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": log}]},
    ]
    third = [
        *second,
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t2", "name": "Bash", "input": {"c": "runs"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t2", "content": rows}]},
    ]
    for turn in (first, second, third):
        last = turn[-1]
        if isinstance(last["content"], list):
            last["content"] = [{**last["content"][-1], "cache_control": {"type": "ephemeral"}}]
    return [first, second, third]


def test_stats_after_a_session(
    start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream, corpus_dir: Path, tmp_path: Path
) -> None:
    log_file = tmp_path / "requests.jsonl"
    proxy = start_proxy("--log-file", str(log_file))
    tools = [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}]
    for messages in _turns(corpus_dir):
        body = {"model": "claude-sonnet-4-6", "max_tokens": 50, "tools": tools, "messages": messages, "stream": True}
        response = httpx.post(
            f"{proxy.url}/v1/messages", json=body, headers={"x-api-key": KEY, "x-headroom-session-id": "s1"}, timeout=30
        )
        assert response.status_code == 200
    # A stream is accounted once its last byte has gone, and the savings history written on the store thread.
    stats: dict[str, Any] = eventually(
        lambda: get_json(f"{proxy.url}/stats"),
        lambda s: s["persistent_savings"]["lifetime"]["requests"] >= 3,
        "three requests recorded",
    )
    assert stats["requests"]["total"] == 3
    assert stats["persistent_savings"]["lifetime"]["requests"] == 3
    assert stats["tokens"]["saved"] > 10_000
    assert stats["cost"]["without_headroom_usd"] > stats["cost"]["usd"] > 0
    assert stats["prefix_cache"]["proxy_caused_busts"] == 0
    assert set(stats["prefix_cache"]["observed_ttl_buckets"]) == {"5m", "1h"}
    assert "tokens" in stats["prefix_cache"]["observed_ttl_buckets"]["5m"]
    assert set(stats["prefix_cache"]["observed_ttl_mix"]) == {"5m", "1h"}
    assert len(stats["savings_history"]) == 3
    assert stats["persistent_savings"]["lifetime"]["tokens_saved"] == stats["tokens"]["saved"]
    assert stats["rate_limiter"]["enabled"] is True
    assert "budget" in stats and "latency_ms" in stats and "overhead_ms" in stats
    logged = eventually(
        lambda: log_file.read_text() if log_file.exists() else "",
        lambda text: text.count("\n") >= 3,
        "three request log lines",
    )
    assert KEY not in logged and "Investigate" not in logged
    assert len([json.loads(line) for line in logged.splitlines()]) == 3
