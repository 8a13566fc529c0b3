"""CacheAligner: finds volatile content (timestamps, UUIDs, per-session lines such as Claude Code's billing
header) in the part of a request that a prompt cache keys on, and reports it. It never edits the request:
thinking blocks, signatures and cache_control breakpoints are only read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from headroom.providers.base import JSONObject

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "session_line",
        re.compile(r"(?im)^\s*x-anthropic-billing-header:.*$|\bcc_version=\S+|\bsession[_-]?id[=:]\s*\S+"),
    ),
    ("uuid", re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")),
    (
        "timestamp",
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?\b|\b1[6-9]\d{8}(\.\d+)?\b"
        ),
    ),
    ("date", re.compile(r"(?i)\b(today'?s date is|current date:?|date:)\s*\S+")),
)
_SKIPPED_TYPES = frozenset({"thinking", "redacted_thinking", "image", "document"})
_MAX_SCAN_CHARS = 200_000


@dataclass(frozen=True, slots=True)
class VolatileSpan:
    where: str
    kind: str


def _texts(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string under `value`, skipping thinking blocks (and their signatures) and binary sources."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _texts(item, f"{where}.{index}")
    elif isinstance(value, dict):
        if value.get("type") in _SKIPPED_TYPES:
            return
        for key, item in value.items():
            if key not in ("cache_control", "signature", "id", "tool_use_id", "input_schema", "parameters"):
                yield from _texts(item, f"{where}.{key}")


def cacheable_head(body: JSONObject) -> list[tuple[str, Any]]:
    """The stable head of the prefix: tools, system (or instructions), and the first message, which agents
    (Claude Code, Codex) fill with per-session context."""
    head: list[tuple[str, Any]] = []
    for key in ("tools", "system", "instructions"):
        if body.get(key) is not None:
            head.append((key, body[key]))
    conversation = body.get("messages", body.get("input"))
    if isinstance(conversation, list) and conversation:
        head.append(("messages.0", conversation[0]))
    return head


def volatile_spans(body: JSONObject) -> list[VolatileSpan]:
    """Volatile spans found in the cacheable head, in order; bounded work on very large heads."""
    found: list[VolatileSpan] = []
    budget = _MAX_SCAN_CHARS
    for name, value in cacheable_head(body):
        for where, text in _texts(value, name):
            if budget <= 0:
                return found
            sample = text[:budget]
            budget -= len(sample)
            for kind, pattern in _PATTERNS:
                found.extend(VolatileSpan(where, kind) for _ in pattern.finditer(sample))
    return found
