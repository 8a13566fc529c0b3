"""Agent traces from the corpus as Anthropic Messages conversations, and the per-turn requests an agent such as
Claude Code would send for them (history so far, a cache_control breakpoint on the last block)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JSON = dict[str, Any]
MODEL = "claude-sonnet-4-5"


@dataclass
class Trace:
    id: str
    system: str
    messages: list[JSON]
    tools: list[JSON]


def _tool_input(arguments: Any) -> JSON:
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else None
    except ValueError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"arguments": str(arguments)}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in value)
    return "" if value is None else str(value)


def _from_openai(items: list[JSON]) -> tuple[str, list[tuple[str, list[JSON]]]]:
    """OpenAI-style messages as (system, [(role, blocks)]), tool results as user tool_result blocks."""
    system: list[str] = []
    turns: list[tuple[str, list[JSON]]] = []
    for item in items:
        role = item.get("role")
        text = _text(item.get("content"))
        if role == "system" and not turns:
            system.append(text)
        elif role == "assistant":
            blocks: list[JSON] = [{"type": "text", "text": text}] if text.strip() else []
            for call in item.get("tool_calls") or []:
                function = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": str(call.get("id")),
                        "name": str(function.get("name", "tool")),
                        "input": _tool_input(function.get("arguments", "{}")),
                    }
                )
            turns.append(("assistant", blocks or [{"type": "text", "text": "(no content)"}]))
        elif role == "tool":
            call_id = item.get("tool_call_id") or (item.get("tool_call_ids") or ["?"])[0]
            turns.append(("user", [{"type": "tool_result", "tool_use_id": str(call_id), "content": text or "(empty)"}]))
        else:
            turns.append(("user", [{"type": "text", "text": text or "(empty)"}]))
    return "\n\n".join(system), turns


def _from_openhands(events: list[JSON]) -> tuple[str, list[tuple[str, list[JSON]]]]:
    system = ""
    turns: list[tuple[str, list[JSON]]] = []
    for event in events:
        meta = event.get("tool_call_metadata")
        if event.get("action") == "system":
            system = str(event.get("args", {}).get("content") or event.get("message", ""))
        elif event.get("source") == "user" and event.get("action") == "message":
            turns.append(("user", [{"type": "text", "text": str(event.get("args", {}).get("content", ""))}]))
        elif meta and "action" in event:
            call = {"type": "tool_use", "id": str(meta["tool_call_id"]), "name": str(meta["function_name"])}
            turns.append(("assistant", [{**call, "input": {"message": str(event.get("message", ""))}}]))
        elif meta and "observation" in event:
            result = {"type": "tool_result", "tool_use_id": str(meta["tool_call_id"])}
            turns.append(("user", [{**result, "content": str(event.get("content") or "(empty)")}]))
    return system, turns


def _merge(turns: list[tuple[str, list[JSON]]]) -> list[JSON]:
    """Consecutive same-role turns merged (tool results first in a user message), first message a user one."""
    messages: list[JSON] = []
    for role, blocks in turns:
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
            messages[-1]["content"].sort(key=lambda b: b.get("type") != "tool_result")
        else:
            messages.append({"role": role, "content": list(blocks)})
    if messages and messages[0]["role"] != "user":
        messages.insert(0, {"role": "user", "content": [{"type": "text", "text": "Begin."}]})
    return messages


def _pairs_only(messages: list[JSON]) -> list[JSON]:
    """Drop tool_use blocks without a result in the next message and results without a call (trace gaps)."""
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        following = messages[index + 1]["content"] if index + 1 < len(messages) else []
        answered = {b.get("tool_use_id") for b in following if b.get("type") == "tool_result"}
        kept = [b for b in message["content"] if b.get("type") != "tool_use" or b["id"] in answered]
        message["content"] = kept or [{"type": "text", "text": "(no content)"}]
        called = {b["id"] for b in kept if b.get("type") == "tool_use"}
        if index + 1 < len(messages):
            nxt = messages[index + 1]
            nxt["content"] = [b for b in nxt["content"] if b.get("type") != "tool_result" or b["tool_use_id"] in called]
            nxt["content"] = nxt["content"] or [{"type": "text", "text": "(continue)"}]
    return messages


def load_trace(corpus: Path, meta_path: Path) -> Trace | None:
    """The trace as an Anthropic conversation; None when the payload is not a message history."""
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    payload_path = corpus / "agent_traces" / meta["payload_file"]
    if payload_path.suffix != ".json":
        return None
    data = json.loads(payload_path.read_text(encoding="utf-8"))
    if isinstance(data, list):
        system, turns = _from_openai(data)
    elif isinstance(data.get("history"), list) and data["history"] and "role" in data["history"][0]:
        system, turns = _from_openai(data["history"])
    elif isinstance(data.get("history"), list):
        system, turns = _from_openhands(data["history"])
    else:
        return None
    messages = _pairs_only(_merge(turns))
    names = sorted({b["name"] for m in messages for b in m["content"] if b.get("type") == "tool_use"})
    tools = [{"name": n, "description": f"The {n} tool.", "input_schema": {"type": "object"}} for n in names]
    return Trace(meta["id"], system or "You are a helpful agent.", messages, tools)


def turn_requests(trace: Trace) -> Iterator[JSON]:
    """One request per model call: the history up to each user message that the model answers next."""
    for index, message in enumerate(trace.messages):
        answered = index + 1 < len(trace.messages) and trace.messages[index + 1]["role"] == "assistant"
        if message["role"] != "user" or not (answered or index + 1 == len(trace.messages)):
            continue
        messages = copy.deepcopy(trace.messages[: index + 1])
        messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
        body: JSON = {"model": MODEL, "max_tokens": 4096, "system": trace.system, "messages": messages}
        if trace.tools:
            body["tools"] = trace.tools
        yield body
