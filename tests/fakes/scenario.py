"""What the fake model does for one request: the scenario chosen by headers or the queue, and the turn it plans."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCENARIOS = frozenset(
    {
        "text",
        "tool_use",
        "thinking",
        "error_429",
        "error_529",
        "error_500",
        "error_midstream",
        "reset",
        "reset_before_headers",
        "slow",
        "silent",
        "retrieve",
    }
)
RETRIEVE_TOOL = "headroom_retrieve"
DEFAULT_TOOL = "Bash"
DEFAULT_TOOL_INPUT: dict[str, Any] = {"command": "echo hello-from-tool", "description": "Print a greeting"}


@dataclass(frozen=True)
class Scenario:
    """One request's behaviour. Header names: x-fake-scenario, x-fake-tool, x-fake-tool-input (JSON),
    x-fake-delay-ms, x-fake-hash, x-fake-text, x-fake-retry-after, x-fake-thinking (1: a tool call comes after
    a thinking block); queue specs use the keys scenario, tool, input, delay_ms, hash, text, retry_after, thinking."""

    name: str = "text"
    tool: str | None = None
    tool_input: dict[str, Any] | None = None
    delay_ms: int = 0
    hash: str | None = None
    text: str | None = None
    retry_after: str = "1"
    thinking: bool = False

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Scenario:
        raw_input = headers.get("x-fake-tool-input")
        return cls.from_spec(
            {
                "scenario": headers.get("x-fake-scenario", "text"),
                "tool": headers.get("x-fake-tool"),
                "input": json.loads(raw_input) if raw_input else None,
                "delay_ms": headers.get("x-fake-delay-ms", 0),
                "hash": headers.get("x-fake-hash"),
                "text": headers.get("x-fake-text"),
                "retry_after": headers.get("x-fake-retry-after", "1"),
                "thinking": headers.get("x-fake-thinking") in ("1", "true"),
            }
        )

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Scenario:
        name = str(spec.get("scenario") or "text")
        if name not in SCENARIOS:
            raise ValueError(f"unknown fake scenario {name!r}; known: {sorted(SCENARIOS)}")
        tool_input = spec.get("input")
        if tool_input is not None and not isinstance(tool_input, dict):
            raise ValueError("the fake tool input must be a JSON object")
        return cls(
            name=name,
            tool=spec.get("tool"),
            tool_input=tool_input,
            delay_ms=int(spec.get("delay_ms") or 0),
            hash=spec.get("hash"),
            text=spec.get("text"),
            retry_after=str(spec.get("retry_after") or "1"),
            thinking=bool(spec.get("thinking")),
        )


@dataclass(frozen=True)
class Conversation:
    """What the fake reads from a request, whatever its wire format. `retrieved` is the content of a result,
    in the request's trailing tool results, for an earlier call to the retrieval tool."""

    model: str
    message_count: int
    last_user_text: str
    retrieved: str | None
    stream: bool


@dataclass(frozen=True)
class Thinking:
    text: str
    signature: str


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]


Block = Thinking | Text | ToolCall


@dataclass(frozen=True)
class Turn:
    """The model's answer: its blocks in order, and whether the stream breaks with an error after the first text."""

    blocks: list[Block] = field(default_factory=list)
    midstream_error: bool = False

    @property
    def calls_tool(self) -> bool:
        return any(isinstance(block, ToolCall) for block in self.blocks)


class IdSource:
    """Deterministic ids derived from the request body, so the same request always gets the same ids."""

    def __init__(self, seed: bytes) -> None:
        self._seed = hashlib.sha256(seed).hexdigest()
        self._count = 0

    def next(self, prefix: str, length: int = 24) -> str:
        self._count += 1
        digest = hashlib.sha256(f"{self._seed}:{self._count}".encode()).hexdigest()
        return f"{prefix}{digest[:length]}"


def default_text(conversation: Conversation) -> str:
    snippet = " ".join(conversation.last_user_text.split())[:120]
    return f"Fake answer to {conversation.message_count} message(s). You said: {snippet}"


def plan_turn(scenario: Scenario, conversation: Conversation, ids: IdSource) -> Turn:
    """The blocks the fake model answers with. Error and reset scenarios still plan a text turn for the
    part of the stream sent before the failure."""
    text = scenario.text or default_text(conversation)
    thought = Thinking(
        f"The user sent {conversation.message_count} message(s); a short answer fits.", ids.next("sig_", 64)
    )
    if scenario.name == "tool_use":
        tool_input = scenario.tool_input if scenario.tool_input is not None else DEFAULT_TOOL_INPUT
        call = ToolCall(ids.next(""), scenario.tool or DEFAULT_TOOL, tool_input)
        return Turn([thought, call] if scenario.thinking else [call])
    if scenario.name == "thinking":
        return Turn([thought, Text(text)])
    if scenario.name == "retrieve":
        if conversation.retrieved is None:
            lead_in = Text("Let me look at the original first.")
            return Turn([lead_in, ToolCall(ids.next(""), RETRIEVE_TOOL, {"hash": scenario.hash or ""})])
        return Turn([Text(scenario.text or f"Retrieved content: {conversation.retrieved}")])
    return Turn([Text(text)], midstream_error=scenario.name == "error_midstream")


def text_chunks(text: str, parts: int = 4) -> list[str]:
    """Split text into a few stream deltas (at least one, even for empty text)."""
    if not text:
        return [""]
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]
