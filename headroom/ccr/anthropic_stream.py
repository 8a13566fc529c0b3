"""Answers `headroom_retrieve` calls inside an Anthropic stream without holding back the client's first byte.

Text and the client's own blocks stream through as they arrive; only the retrieval tool_use block (and the
closing message_delta/message_stop, until we know whether another round follows) is withheld. Each follow-up
round's blocks are spliced into the same client stream with consistent indices, and the usage of all rounds is
summed in the final message_delta.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from headroom.ccr.followup import AnthropicFollowup, RetrievalCall, retrieval_call
from headroom.ccr.markers import RETRIEVE_TOOL
from headroom.ccr.round_splicer import Answer, OpenFollowup, RoundSplicer
from headroom.providers.base import JSONObject
from headroom.proxy.sse import SseReader


def _event(name: str, payload: JSONObject) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


@dataclass(slots=True)
class _Round:
    """The assistant content of one upstream round, rebuilt from its events."""

    blocks: dict[int, JSONObject] = field(default_factory=dict)
    json_parts: dict[int, list[str]] = field(default_factory=dict)
    withheld: set[int] = field(default_factory=set)
    client_index: dict[int, int] = field(default_factory=dict)
    start_usage: JSONObject = field(default_factory=dict)
    delta: JSONObject | None = None
    stop: JSONObject | None = None
    errored: bool = False

    def content(self) -> list[JSONObject]:
        out = []
        for index in sorted(self.blocks):
            block = dict(self.blocks[index])
            if block.get("type") == "tool_use":
                raw = "".join(self.json_parts.get(index, []))
                block["input"] = json.loads(raw) if raw else block.get("input", {})
            out.append(block)
        return out

    def retrieval_calls(self) -> list[RetrievalCall]:
        return [
            retrieval_call(str(self.blocks[i].get("id", "")), self.content_block_input(i))
            for i in sorted(self.withheld)
        ]

    def content_block_input(self, index: int) -> Any:
        raw = "".join(self.json_parts.get(index, []))
        return raw or self.blocks[index].get("input", {})

    def has_client_tools(self) -> bool:
        return any(b.get("type") == "tool_use" and i not in self.withheld for i, b in self.blocks.items())


def _apply_delta(block: JSONObject, delta: JSONObject, parts: list[str]) -> None:
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = block.get("text", "") + str(delta.get("text", ""))
    elif kind == "thinking_delta":
        block["thinking"] = block.get("thinking", "") + str(delta.get("thinking", ""))
    elif kind == "signature_delta":
        block["signature"] = block.get("signature", "") + str(delta.get("signature", ""))
    elif kind == "input_json_delta":
        parts.append(str(delta.get("partial_json", "")))
    elif kind == "citations_delta":
        block.setdefault("citations", []).append(delta.get("citation"))


class AnthropicRetrievalSplicer(RoundSplicer):
    """Turns upstream rounds into one client stream. `usage` holds the summed usage when done."""

    def __init__(self, request: JSONObject, open_followup: OpenFollowup, answer: Answer, max_rounds: int) -> None:
        super().__init__(request, open_followup, answer, max_rounds, AnthropicFollowup())
        self._next_client_index = 0
        self.usage: JSONObject = {}
        self.model = ""

    async def stream(self, first: httpx.Response) -> AsyncIterator[bytes]:
        response: httpx.Response | None = first
        first_round = True
        while response is not None:
            current = _Round()
            async for chunk in self._round_events(response, current, first_round):
                yield chunk
            self.rounds += 1
            self._add_usage(current)
            calls = current.retrieval_calls()
            response = None
            if self._may_follow(calls, errored=current.errored, client_tools=current.has_client_tools()):
                response = await self._followup({"content": current.content()}, calls)
                first_round = False
                if response is not None:
                    continue
            if current.errored:
                return
            for chunk in self._finish(current, bool(calls)):
                yield chunk

    async def _round_events(self, response: httpx.Response, current: _Round, first_round: bool) -> AsyncIterator[bytes]:
        pending: list[tuple[str, bytes]] = []
        reader = SseReader(lambda name, data: pending.append((name, data)))
        try:
            async for chunk in response.aiter_raw():
                reader.feed(chunk)
                for name, data in pending:
                    out = self._on_event(name, data, current, first_round)
                    if out:
                        yield out
                pending.clear()
            reader.close()
            for name, data in pending:
                out = self._on_event(name, data, current, first_round)
                if out:
                    yield out
        finally:
            await response.aclose()

    def _on_event(self, name: str, data: bytes, current: _Round, first_round: bool) -> bytes | None:
        try:
            payload = json.loads(data)
        except ValueError:
            return None
        if not isinstance(payload, dict):
            return None
        kind = str(payload.get("type", name))
        if kind == "message_start":
            message = payload.get("message") or {}
            current.start_usage = dict(message.get("usage") or {})
            self.model = str(message.get("model", self.model))
            return _event("message_start", payload) if first_round else None
        if kind == "content_block_start":
            index = int(payload.get("index", 0))
            block = dict(payload.get("content_block") or {})
            current.blocks[index] = block
            if block.get("type") == "tool_use" and block.get("name") == RETRIEVE_TOOL:
                current.withheld.add(index)
                return None
            current.client_index[index] = self._next_client_index
            self._next_client_index += 1
            return _event("content_block_start", {**payload, "index": current.client_index[index]})
        if kind in ("content_block_delta", "content_block_stop"):
            index = int(payload.get("index", 0))
            if kind == "content_block_delta" and index in current.blocks:
                _apply_delta(
                    current.blocks[index], payload.get("delta") or {}, current.json_parts.setdefault(index, [])
                )
            if index in current.withheld or index not in current.client_index:
                return None
            return _event(kind, {**payload, "index": current.client_index[index]})
        if kind == "message_delta":
            current.delta = payload
            return None
        if kind == "message_stop":
            current.stop = payload
            return None
        if kind == "error":
            current.errored = True
        return _event(kind, payload)

    def _add_usage(self, current: _Round) -> None:
        round_usage = dict(current.start_usage)
        if current.delta and isinstance(current.delta.get("usage"), dict):
            round_usage.update({k: v for k, v in current.delta["usage"].items() if v is not None})
        for key, value in round_usage.items():
            if isinstance(value, int) and not isinstance(value, bool):
                previous = self.usage.get(key)
                self.usage[key] = (previous if isinstance(previous, int) else 0) + value
            elif key not in self.usage:
                self.usage[key] = value

    def _finish(self, current: _Round, retrieval_only_left: bool) -> list[bytes]:
        delta = dict(current.delta or {"type": "message_delta", "delta": {"stop_reason": "end_turn"}})
        inner = dict(delta.get("delta") or {})
        if retrieval_only_left and not current.has_client_tools() and inner.get("stop_reason") == "tool_use":
            inner["stop_reason"] = "end_turn"
        delta["delta"] = inner
        delta["usage"] = {k: v for k, v in self.usage.items() if isinstance(v, int) and not isinstance(v, bool)}
        return [_event("message_delta", delta), _event("message_stop", current.stop or {"type": "message_stop"})]
