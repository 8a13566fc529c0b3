"""Multi-turn sessions through the proxy against the fake upstream: what upstream receives up to each turn's last
cache_control breakpoint is a byte-identical prefix of the next turn (token and cache mode, tool calls, thinking
blocks with signatures), a conversation past the context limit is trimmed with pairs intact and its dropped
messages retrievable, a repeated tool output is folded into a stable and retrievable reference, interleaved
conversations stay apart, and a real agent trace replays with cache reads."""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.traces import load_trace, turn_requests
from headroom.ccr import markers
from tests.fakes.processes import FakeUpstream, ProxyProcess
from tests.fakes.prompt_cache import prefix_segments

HEADERS = {"x-api-key": "sk-session-test", "anthropic-version": "2023-06-01"}
MODEL = "claude-sonnet-4-5"


def _log_output(corpus_dir: Path, lines: int, offset: int) -> str:
    text = (corpus_dir / "logs" / "loghub_hdfs_2k.log").read_text().splitlines()
    return "\n".join(text[offset : offset + lines])


def _conversation(corpus_dir: Path, turns: int, question: str) -> list[dict[str, Any]]:
    """An agent loop: each assistant turn thinks (signed) and calls Bash; each result is a log excerpt."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": question}]}]
    for turn in range(turns):
        thinking = {"type": "thinking", "thinking": f"Look at part {turn}.", "signature": f"sig-{turn}-Zm9v"}
        call = {"type": "tool_use", "id": f"toolu_{turn:02d}", "name": "Bash", "input": {"command": f"part {turn}"}}
        messages.append({"role": "assistant", "content": [thinking, call]})
        output = _log_output(corpus_dir, 250, turn * 150)
        result = {"type": "tool_result", "tool_use_id": f"toolu_{turn:02d}", "content": output}
        messages.append({"role": "user", "content": [result]})
    return messages


def _request(messages: list[dict[str, Any]]) -> dict[str, Any]:
    sent = copy.deepcopy(messages)
    sent[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    system = [{"type": "text", "text": "You are a careful SRE agent.", "cache_control": {"type": "ephemeral"}}]
    tools = [{"name": "Bash", "description": "Run a command.", "input_schema": {"type": "object"}}]
    return {"model": MODEL, "max_tokens": 1024, "system": system, "tools": tools, "messages": sent}


def _cached_prefix(body: dict[str, Any]) -> list[str]:
    segments = prefix_segments(body)
    last = max(i for i, s in enumerate(segments) if s.ttl_seconds is not None)
    return [s.serialized for s in segments[: last + 1]]


def _assert_prefix_stable(bodies: list[dict[str, Any]]) -> None:
    for earlier, later in itertools.pairwise(bodies):
        prefix = _cached_prefix(earlier)
        # The breakpoint itself moves to the newest block; compare every segment before the last one exactly.
        assert [s.serialized for s in prefix_segments(later)][: len(prefix) - 1] == prefix[:-1]


def _sent_bodies(fake_upstream: FakeUpstream) -> list[dict[str, Any]]:
    return [r.json() for r in fake_upstream.requests("/v1/messages")]


@pytest.mark.parametrize("mode", ["token", "cache"])
def test_each_turn_extends_the_previous_cached_prefix(
    mode: str, start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream, corpus_dir: Path
) -> None:
    fake_upstream.clear()
    proxy = start_proxy("--mode", mode)
    messages = _conversation(corpus_dir, 5, "Which DataNodes raise exceptions while serving blocks?")
    reads: list[int] = []
    for turn in range(1, 6):
        body = _request(messages[: 2 * turn + 1])
        response = httpx.post(f"{proxy.url}/v1/messages", json=body, headers=HEADERS, timeout=60)
        assert response.status_code == 200
        reads.append(response.json()["usage"]["cache_read_input_tokens"])
    sent = _sent_bodies(fake_upstream)
    assert len(sent) == 5
    _assert_prefix_stable(sent)
    assert all(read > 0 for read in reads[2:])
    assert int(response.headers["x-headroom-tokens-after"]) < int(response.headers["x-headroom-tokens-before"])
    for body in sent:
        for message in body["messages"]:
            for block in message["content"]:
                if block.get("type") == "thinking":
                    assert block["signature"].startswith("sig-")


def test_conversation_past_the_limit_is_trimmed_and_retrievable(
    start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream, corpus_dir: Path
) -> None:
    fake_upstream.clear()
    proxy = start_proxy("--mode", "cache", "--no-compress-first", env={"HEADROOM_CONTEXT_LIMIT": "6000"})
    messages = _conversation(corpus_dir, 10, "Which DataNodes raise exceptions while serving blocks?")
    body = _request(messages)
    response = httpx.post(f"{proxy.url}/v1/messages", json=body, headers=HEADERS, timeout=60)
    assert response.status_code == 200
    assert int(response.headers["x-headroom-context-dropped"]) > 0
    [sent] = _sent_bodies(fake_upstream)
    assert len(sent["messages"]) < len(body["messages"])
    calls = {b["id"] for m in sent["messages"] for b in m["content"] if b.get("type") == "tool_use"}
    results = {b["tool_use_id"] for m in sent["messages"] for b in m["content"] if b.get("type") == "tool_result"}
    assert calls == results and "toolu_09" in calls
    roles = [m["role"] for m in sent["messages"]]
    assert roles[0] == "user" and all(a != b for a, b in itertools.pairwise(roles))
    assert sent["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert markers.has_tool(sent["tools"])
    drop_markers = re.findall(r"earlier messages compressed[^\]]*", json.dumps(sent))
    hashes = [h for found in drop_markers for h in markers.hashes_in(found)]
    assert hashes
    recovered = [httpx.post(f"{proxy.url}/v1/retrieve", json={"hash": h}, headers=HEADERS, timeout=30) for h in hashes]
    dropped = [m for answer in recovered if answer.status_code == 200 for m in json.loads(answer.json()["content"])]
    assert dropped and all(message in body["messages"] for message in dropped)

    fake_upstream.enqueue({"scenario": "retrieve", "hash": hashes[0]})
    body["messages"][-1]["content"].append({"type": "text", "text": "What did the first command show?"})
    again = httpx.post(f"{proxy.url}/v1/messages", json=body, headers=HEADERS, timeout=60)
    assert again.status_code == 200
    assert markers.RETRIEVE_TOOL not in json.dumps(again.json()["content"])
    followup = fake_upstream.requests("/v1/messages")[-1].json()
    answers = [b for b in followup["messages"][-1]["content"] if b.get("type") == "tool_result"]
    [answer] = [b for b in answers if b["tool_use_id"] not in {f"toolu_{n:02d}" for n in range(10)}]
    first_run = json.loads(recovered[0].json()["content"])
    assert json.loads(_text_of(answer["content"])) == first_run


def _text_of(content: Any) -> str:
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def test_a_repeated_output_is_folded_stays_stable_and_is_retrievable(
    start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream, corpus_dir: Path
) -> None:
    fake_upstream.clear()
    proxy = start_proxy("--mode", "cache")
    output = _log_output(corpus_dir, 250, 0)
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": "Is block 42 healthy?"}]}]
    for turn in range(3):
        call = {"type": "tool_use", "id": f"toolu_{turn:02d}", "name": "Bash", "input": {"command": "tail hdfs.log"}}
        messages.append({"role": "assistant", "content": [call]})
        result = {"type": "tool_result", "tool_use_id": f"toolu_{turn:02d}", "content": output}
        messages.append({"role": "user", "content": [result]})
        response = httpx.post(f"{proxy.url}/v1/messages", json=_request(messages), headers=HEADERS, timeout=60)
        assert response.status_code == 200
    sent = _sent_bodies(fake_upstream)
    _assert_prefix_stable(sent)
    folded = [message["content"][0]["content"] for message in sent[-1]["messages"][2::2]]
    assert "identical to an earlier output" not in folded[0]
    assert all("identical to an earlier output" in text for text in folded[1:])
    hashes = {h for text in folded[1:] for h in markers.hashes_in(text)}
    assert len(hashes) == 1
    recovered = httpx.post(f"{proxy.url}/v1/retrieve", json={"hash": hashes.pop()}, headers=HEADERS, timeout=30)
    assert recovered.status_code == 200 and recovered.json()["content"] == output


def test_interleaved_conversations_without_session_headers(
    start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream, corpus_dir: Path
) -> None:
    fake_upstream.clear()
    proxy = start_proxy("--mode", "cache")
    first = _conversation(corpus_dir, 3, "Which DataNodes raise exceptions while serving blocks?")
    second = _conversation(corpus_dir, 3, "Which blocks were deleted by the NameNode?")
    for turn in range(1, 4):
        for messages in (first, second):
            body = _request(messages[: 2 * turn + 1])
            assert httpx.post(f"{proxy.url}/v1/messages", json=body, headers=HEADERS, timeout=60).status_code == 200
    sent = _sent_bodies(fake_upstream)
    by_question = {
        question: [b for b in sent if b["messages"][0]["content"][0]["text"] == question]
        for question in (first[0]["content"][0]["text"], second[0]["content"][0]["text"])
    }
    for bodies in by_question.values():
        assert len(bodies) == 3
        _assert_prefix_stable(bodies)


def test_real_agent_trace_replays_with_cache_reads(
    start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream, corpus_dir: Path
) -> None:
    fake_upstream.clear()
    proxy = start_proxy("--mode", "cache")
    trace = load_trace(corpus_dir, corpus_dir / "agent_traces" / "holmes_conversation_datadog_93.meta.json")
    assert trace is not None
    headers = {**HEADERS, "x-claude-code-session-id": "datadog-93"}
    usages = []
    for body in turn_requests(trace):
        response = httpx.post(f"{proxy.url}/v1/messages", json=body, headers=headers, timeout=60)
        assert response.status_code == 200
        usages.append(response.json()["usage"])
    sent = _sent_bodies(fake_upstream)
    assert len(sent) == len(usages) > 5
    _assert_prefix_stable(sent)
    client_bytes = sum(len(json.dumps(body)) for body in turn_requests(trace))
    assert sum(len(json.dumps(body)) for body in sent) < client_bytes
    assert all(usage["cache_read_input_tokens"] > 0 for usage in usages[4:])
