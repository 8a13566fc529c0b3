"""Answers `headroom_retrieve` calls inside an OpenAI Responses API stream without holding back the first byte.

Typed events stream through as they arrive; only the output items that are retrieval function calls (with all
their events) are withheld, and the round's terminal event until we know whether another round follows. Later
rounds' items continue the client's `output_index` numbering, every event gets the next `sequence_number`, and
one terminal event closes the stream: its `response.output` holds the client-visible items of all rounds and its
usage is the sum. Reasoning items, `encrypted_content` included, pass through and into follow-ups unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from headroom.ccr.followup import ResponsesFollowup, RetrievalCall, retrieval_call
from headroom.ccr.markers import RETRIEVE_TOOL
from headroom.ccr.round_splicer import Answer, OpenFollowup, RoundSplicer
from headroom.ccr.sse_events import data_event, json_object, sse_events
from headroom.providers.base import JSONObject

_OPENING = frozenset({"response.created", "response.queued", "response.in_progress"})
_TERMINAL = frozenset({"response.completed", "response.incomplete"})
_FAILED = frozenset({"response.failed", "error"})
_TOOL_ITEMS = frozenset({"function_call", "custom_tool_call"})


def _is_retrieval(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "function_call" and item.get("name") == RETRIEVE_TOOL


@dataclass(slots=True)
class _Round:
    """One upstream round: its items by upstream output_index, and which of them the client sees where."""

    items: dict[int, JSONObject] = field(default_factory=dict)
    withheld: set[int] = field(default_factory=set)
    client_index: dict[int, int] = field(default_factory=dict)
    terminal: JSONObject | None = None
    errored: bool = False

    def output(self) -> list[Any]:
        response = (self.terminal or {}).get("response")
        output = response.get("output") if isinstance(response, dict) else None
        return output if isinstance(output, list) else [self.items[i] for i in sorted(self.items)]

    def retrieval_calls(self) -> list[RetrievalCall]:
        return [
            retrieval_call(str(item.get("call_id", "")), item.get("arguments"))
            for item in self.output()
            if _is_retrieval(item)
        ]

    def has_client_tools(self) -> bool:
        return any(self.items[i].get("type") in _TOOL_ITEMS for i in self.client_index)


class ResponsesRetrievalSplicer(RoundSplicer):
    """Turns upstream rounds into one client stream of Responses API events."""

    def __init__(self, request: JSONObject, open_followup: OpenFollowup, answer: Answer, max_rounds: int) -> None:
        super().__init__(request, open_followup, answer, max_rounds, ResponsesFollowup())
        self._sequence = 0
        self._next_output_index = 0
        self._visible: dict[int, JSONObject] = {}
        self._usage: JSONObject | None = None
        self._identity: JSONObject = {}

    async def stream(self, first: httpx.Response) -> AsyncIterator[bytes]:
        response = first
        while True:
            current = _Round()
            async for name, data in sse_events(response):
                out = self._on_event(name, data, current)
                if out:
                    yield out
            self.rounds += 1
            self._add_usage(current)
            calls = current.retrieval_calls()
            errored = current.errored or current.terminal is None
            if self._may_follow(calls, errored=errored, client_tools=current.has_client_tools()):
                followup = await self._followup({"output": current.output()}, calls)
                if followup is not None:
                    response = followup
                    continue
            if current.terminal is not None and not current.errored:
                yield self._terminal(current.terminal)
            return

    def _emit(self, kind: str, payload: JSONObject) -> bytes:
        event = {**payload, "sequence_number": self._sequence}
        self._sequence += 1
        return data_event(event, kind)

    def _on_event(self, name: str, data: bytes, current: _Round) -> bytes | None:
        payload = json_object(data)
        if payload is None:
            return None
        kind = str(payload.get("type") or name)
        if kind in _OPENING:
            if self.rounds:
                return None
            opened = payload.get("response")
            if isinstance(opened, dict):
                self._identity = {key: opened[key] for key in ("id", "created_at") if key in opened}
            return self._emit(kind, payload)
        if kind in _TERMINAL:
            current.terminal = payload
            return None
        if kind in _FAILED:
            current.errored = True
            return self._emit(kind, payload)
        if "output_index" not in payload:
            return self._emit(kind, payload)
        index = int(payload["output_index"])
        item = payload.get("item")
        if kind == "response.output_item.added" and isinstance(item, dict):
            self._open_item(index, item, current)
        elif kind == "response.output_item.done" and isinstance(item, dict):
            current.items[index] = item
            if index in current.client_index:
                self._visible[current.client_index[index]] = item
        if index not in current.client_index:
            return None
        return self._emit(kind, {**payload, "output_index": current.client_index[index]})

    def _open_item(self, index: int, item: JSONObject, current: _Round) -> None:
        current.items[index] = item
        if _is_retrieval(item):
            current.withheld.add(index)
            return
        current.client_index[index] = self._next_output_index
        self._next_output_index += 1

    def _add_usage(self, current: _Round) -> None:
        response = (current.terminal or {}).get("response")
        usage = response.get("usage") if isinstance(response, dict) else None
        if isinstance(usage, dict):
            earlier = {"usage": self._usage or {}}
            self._usage = self._format.merge({"usage": usage}, earlier)["usage"]

    def _terminal(self, terminal: JSONObject) -> bytes:
        """The last round's terminal event under the first round's identity (SDKs reject a lifecycle event whose
        response id changed), carrying every round's visible items and the summed usage."""
        response = {**(terminal.get("response") or {}), **self._identity}
        response["output"] = [self._visible[i] for i in sorted(self._visible)]
        if self._usage is not None:
            response["usage"] = self._usage
        return self._emit(str(terminal.get("type", "response.completed")), {**terminal, "response": response})
