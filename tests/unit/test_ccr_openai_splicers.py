"""The OpenAI retrieval splicers on scripted upstream rounds: what the client sees, what the follow-up carries."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from headroom.ccr.chat_stream import ChatRetrievalSplicer
from headroom.ccr.followup import RetrievalCall
from headroom.ccr.responses_stream import ResponsesRetrievalSplicer
from headroom.providers.base import JSONObject

RETRIEVE = {"name": "headroom_retrieve", "arguments": '{"hash":"abc"}'}


def _sse(events: list[Any], named: bool = False) -> httpx.Response:
    parts = []
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        prefix = f"event: {event['type']}\n" if named and isinstance(event, dict) else ""
        parts.append(f"{prefix}data: {data}\n\n")
    stream = httpx.ByteStream("".join(parts).encode())
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=stream)


def _chunk(cid: str, delta: JSONObject, finish: str | None = None, usage: JSONObject | None = None) -> JSONObject:
    choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else []
    return {
        "id": cid,
        "created": hash(cid) % 1000,
        "object": "chat.completion.chunk",
        "choices": choices,
        "usage": usage,
    }


def _call(index: int, call_id: str, function: JSONObject) -> JSONObject:
    return {"tool_calls": [{"index": index, "id": call_id, "type": "function", "function": function}]}


class Scripted:
    """Answers every retrieval with "ORIGINAL" and serves the scripted follow-up rounds in order."""

    def __init__(self, *followups: httpx.Response) -> None:
        self.followups = list(followups)
        self.requests: list[JSONObject] = []
        self.answered: list[RetrievalCall] = []

    async def open(self, body: JSONObject) -> httpx.Response:
        self.requests.append(body)
        return self.followups.pop(0)

    async def answer(self, call: RetrievalCall) -> str:
        self.answered.append(call)
        return "ORIGINAL"


async def _collect(stream: Any) -> list[str]:
    return [chunk.decode() async for chunk in stream]


def _data(events: list[str]) -> list[Any]:
    return [
        json.loads(line[6:]) if line[6:] != "[DONE]" else "[DONE]"
        for e in events
        for line in e.splitlines()
        if line.startswith("data: ")
    ]


def test_chat_mixed_calls_pass_the_client_tool_and_drop_the_retrieval() -> None:
    first = _sse(
        [
            _chunk("a", {"role": "assistant", "content": "Hi"}),
            _chunk("a", _call(0, "r1", RETRIEVE)),
            _chunk("a", _call(1, "t1", {"name": "Bash", "arguments": "{}"})),
            _chunk("a", {}, "tool_calls"),
            "[DONE]",
        ]
    )
    scripted = Scripted()
    splicer = ChatRetrievalSplicer({"messages": []}, scripted.open, scripted.answer, 3)
    seen = _data(asyncio.run(_collect(splicer.stream(first))))
    assert scripted.requests == []
    calls = [c for e in seen if e != "[DONE]" for ch in e["choices"] for c in ch["delta"].get("tool_calls", [])]
    assert calls == [{"index": 0, "id": "t1", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}]
    assert [ch["finish_reason"] for e in seen[:-1] for ch in e["choices"] if ch["finish_reason"]] == ["tool_calls"]
    assert seen[-1] == "[DONE]" and seen.count("[DONE]") == 1


def test_chat_followup_round_continues_the_same_message_with_summed_usage() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    first = _sse(
        [
            _chunk("a", {"role": "assistant", "content": "Looking."}),
            _chunk("a", _call(0, "r1", RETRIEVE)),
            _chunk("a", {}, "tool_calls"),
            _chunk("a", {}, usage=usage),
            "[DONE]",
        ]
    )
    second = _sse(
        [
            _chunk("b", {"role": "assistant", "content": ""}),
            _chunk("b", {"content": " Found."}),
            _chunk("b", _call(0, "t2", {"name": "Bash", "arguments": "{}"})),
            _chunk("b", {}, "tool_calls"),
            _chunk("b", {}, usage=usage),
            "[DONE]",
        ]
    )
    scripted = Scripted(second)
    splicer = ChatRetrievalSplicer({"messages": [{"role": "user", "content": "q"}]}, scripted.open, scripted.answer, 3)
    seen = _data(asyncio.run(_collect(splicer.stream(first))))
    assert scripted.answered == [RetrievalCall("r1", "abc", "")]
    assistant, tool = scripted.requests[0]["messages"][1:]
    assert assistant["content"] == "Looking." and assistant["tool_calls"][0]["function"] == RETRIEVE
    assert tool == {"role": "tool", "tool_call_id": "r1", "content": "ORIGINAL"}
    chunks = [e for e in seen if e != "[DONE]"]
    assert {(e["id"], e["created"]) for e in chunks} == {("a", hash("a") % 1000)}
    deltas = [ch["delta"] for e in chunks for ch in e["choices"]]
    assert [d["role"] for d in deltas if "role" in d] == ["assistant"]
    assert "".join(d.get("content") or "" for d in deltas) == "Looking. Found."
    assert [c["id"] for d in deltas for c in d.get("tool_calls", [])] == ["t2"]
    assert chunks[-1]["usage"] == {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}
    assert [u for u in (e["usage"] for e in chunks) if u] == [chunks[-1]["usage"]]
    assert seen.count("[DONE]") == 1 and seen[-1] == "[DONE]"


def _response(rid: str, status: str, output: list[JSONObject], tokens: int | None) -> JSONObject:
    usage = None if tokens is None else {"input_tokens": tokens, "output_tokens": 1, "total_tokens": tokens + 1}
    return {"id": rid, "object": "response", "status": status, "output": output, "usage": usage}


def _round(rid: str, items: list[JSONObject]) -> httpx.Response:
    events: list[Any] = [{"type": "response.created", "response": _response(rid, "in_progress", [], None)}]
    for index, item in enumerate(items):
        events.append({"type": "response.output_item.added", "output_index": index, "item": item})
        if item["type"] == "function_call":
            events.append({"type": "response.function_call_arguments.delta", "output_index": index, "delta": "{"})
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append({"type": "response.completed", "response": _response(rid, "completed", items, 5)})
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return _sse(events, named=True)


def test_responses_rounds_keep_indices_reasoning_and_identity() -> None:
    reasoning = {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "opaque=="}
    retrieval = {"id": "fc_1", "type": "function_call", "call_id": "r1", **RETRIEVE}
    message = {"id": "msg_2", "type": "message", "role": "assistant", "content": []}
    scripted = Scripted(_round("resp_b", [message]))
    splicer = ResponsesRetrievalSplicer({"input": "q"}, scripted.open, scripted.answer, 3)
    seen = _data(asyncio.run(_collect(splicer.stream(_round("resp_a", [reasoning, retrieval])))))
    assert scripted.requests[0]["input"] == [
        {"role": "user", "content": "q"},
        reasoning,
        retrieval,
        {"type": "function_call_output", "call_id": "r1", "output": "ORIGINAL"},
    ]
    assert [e["sequence_number"] for e in seen] == list(range(len(seen)))
    assert [e["type"] for e in seen].count("response.created") == 1
    assert [e["output_index"] for e in seen if e["type"] == "response.output_item.added"] == [0, 1]
    assert all(e["type"] != "response.function_call_arguments.delta" for e in seen)
    completed = seen[-1]
    assert completed["type"] == "response.completed" and completed["response"]["id"] == "resp_a"
    assert completed["response"]["output"] == [reasoning, message]
    assert completed["response"]["usage"] == {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}
