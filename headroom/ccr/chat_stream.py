"""Answers `headroom_retrieve` calls inside an OpenAI Chat Completions stream without holding back the first byte.

Content deltas stream through as they arrive; only the deltas of retrieval tool calls are withheld, and (until we
know whether another round follows) the round's finish chunk, usage chunk and `[DONE]`. Follow-up rounds are
spliced into the same client stream under the first round's `id` and `created`, so an SDK accumulates one message;
the client's own tool calls keep consecutive indices, and the final usage chunk carries the sum of all rounds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from headroom.ccr.followup import OpenAIChatFollowup, RetrievalCall, retrieval_call
from headroom.ccr.markers import RETRIEVE_TOOL
from headroom.ccr.round_splicer import Answer, OpenFollowup, RoundSplicer
from headroom.ccr.sse_events import DONE, data_event, json_object, sse_events
from headroom.providers.base import JSONObject

ToolKey = tuple[int, int]
"""(choice index, upstream tool call index)."""

_DONE_EVENT = b"data: " + DONE + b"\n\n"


@dataclass(slots=True)
class _ToolCall:
    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def absorb(self, delta: JSONObject) -> None:
        function = delta.get("function") or {}
        self.call_id = str(delta.get("id") or self.call_id)
        self.name = str(function.get("name") or self.name)
        self.arguments.append(str(function.get("arguments") or ""))

    def wire(self) -> JSONObject:
        function = {"name": self.name, "arguments": "".join(self.arguments)}
        return {"id": self.call_id, "type": "function", "function": function}


@dataclass(slots=True)
class _Round:
    """One upstream round: choice 0's message rebuilt from its deltas, and what was withheld from the client."""

    content: list[str] = field(default_factory=list)
    calls: dict[ToolKey, _ToolCall] = field(default_factory=dict)
    withheld: set[ToolKey] = field(default_factory=set)
    client_index: dict[ToolKey, int] = field(default_factory=dict)
    finishes: dict[int, JSONObject] = field(default_factory=dict)
    finish_envelope: JSONObject = field(default_factory=dict)
    done: bool = False
    errored: bool = False

    def retrieval_only(self, choice: int) -> bool:
        return any(key[0] == choice for key in self.withheld) and not any(key[0] == choice for key in self.client_index)

    def has_client_tools(self) -> bool:
        return bool(self.client_index)

    def retrieval_calls(self) -> list[RetrievalCall]:
        calls = (self.calls[key] for key in sorted(self.withheld) if key[0] == 0)
        return [retrieval_call(call.call_id, "".join(call.arguments)) for call in calls]

    def message(self) -> JSONObject:
        calls = [self.calls[key].wire() for key in sorted(self.calls) if key[0] == 0]
        return {"role": "assistant", "content": "".join(self.content) or None, "tool_calls": calls}


class ChatRetrievalSplicer(RoundSplicer):
    """Turns upstream rounds into one client stream of chat completion chunks."""

    def __init__(self, request: JSONObject, open_followup: OpenFollowup, answer: Answer, max_rounds: int) -> None:
        super().__init__(request, open_followup, answer, max_rounds, OpenAIChatFollowup())
        self._identity: JSONObject = {}
        self._next_tool_index: dict[int, int] = {}
        self._usage: JSONObject | None = None
        self._usage_envelope: JSONObject = {}

    async def stream(self, first: httpx.Response) -> AsyncIterator[bytes]:
        response = first
        while True:
            current = _Round()
            async for _name, data in sse_events(response):
                out = self._on_event(data, current)
                if out:
                    yield out
            self.rounds += 1
            calls = current.retrieval_calls()
            if self._may_follow(calls, errored=current.errored, client_tools=current.has_client_tools()):
                followup = await self._followup({"choices": [{"message": current.message()}]}, calls)
                if followup is not None:
                    response = followup
                    continue
            for chunk in self._finish(current):
                yield chunk
            return

    def _on_event(self, data: bytes, current: _Round) -> bytes | None:
        if data.strip() == DONE:
            current.done = True
            return None
        payload = json_object(data)
        if payload is None:
            return b"data: " + data + b"\n\n"
        if "error" in payload and "choices" not in payload:
            current.errored = True
            return data_event(payload)
        later_round = bool(self._identity)
        if later_round:
            payload.update(self._identity)
        else:
            self._identity = {key: payload[key] for key in ("id", "created") if key in payload}
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self._add_usage(usage, payload)
            payload["usage"] = None
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices:
            return None if isinstance(usage, dict) else data_event(payload)
        kept = [out for choice in choices if (out := self._on_choice(choice, payload, current, later_round))]
        return data_event({**payload, "choices": kept}) if kept else None

    def _on_choice(self, choice: Any, chunk: JSONObject, current: _Round, later_round: bool) -> JSONObject | None:
        if not isinstance(choice, dict):
            return None
        index = int(choice.get("index", 0))
        delta = dict(choice.get("delta") or {})
        if later_round:
            delta.pop("role", None)  # the SDK would concatenate a repeated role
        if index == 0 and isinstance(delta.get("content"), str):
            current.content.append(delta["content"])
        emptied = False
        tool_deltas = delta.pop("tool_calls", None)
        if isinstance(tool_deltas, list):
            visible = [out for td in tool_deltas if (out := self._on_tool_delta(index, td, current))]
            if visible:
                delta["tool_calls"] = visible
            emptied = not visible
        out = {**choice, "delta": delta}
        if choice.get("finish_reason") and current.retrieval_only(index):
            current.finishes[index] = {**out, "delta": {}}
            current.finish_envelope = {key: value for key, value in chunk.items() if key != "choices"}
            out["finish_reason"] = None
            emptied = True
        if emptied and not delta and out.get("finish_reason") is None and not out.get("logprobs"):
            return None
        return out

    def _on_tool_delta(self, choice: int, tool_delta: Any, current: _Round) -> JSONObject | None:
        if not isinstance(tool_delta, dict):
            return None
        key = (choice, int(tool_delta.get("index", 0)))
        call = current.calls.get(key)
        if call is None:
            call = current.calls[key] = _ToolCall()
            if (tool_delta.get("function") or {}).get("name") == RETRIEVE_TOOL:
                current.withheld.add(key)
            else:
                current.client_index[key] = self._next_tool_index.get(choice, 0)
                self._next_tool_index[choice] = current.client_index[key] + 1
        call.absorb(tool_delta)
        if key in current.withheld:
            return None
        return {**tool_delta, "index": current.client_index[key]}

    def _add_usage(self, usage: JSONObject, chunk: JSONObject) -> None:
        earlier = {"usage": self._usage or {}}
        self._usage = self._format.merge({"usage": usage}, earlier)["usage"]
        self._usage_envelope = {key: value for key, value in chunk.items() if key not in ("choices", "usage")}

    def _finish(self, current: _Round) -> list[bytes]:
        if current.errored:
            return [_DONE_EVENT] if current.done else []
        out = []
        if current.finishes:
            choices = [
                {
                    **choice,
                    "finish_reason": "stop" if choice["finish_reason"] == "tool_calls" else choice["finish_reason"],
                }
                for _, choice in sorted(current.finishes.items())
            ]
            out.append(data_event({**current.finish_envelope, "choices": choices}))
        if self._usage is not None:
            out.append(data_event({**self._usage_envelope, "choices": [], "usage": self._usage}))
        out.append(_DONE_EVENT)
        return out
