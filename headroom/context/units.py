"""Atomic units of a conversation: runs of messages that are kept or dropped whole, so a tool call is never
separated from its results (nor a Responses reasoning item from the item it precedes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from headroom.providers.base import Message

PROTECTED_ROLES = frozenset({"system", "developer"})


@dataclass(frozen=True, slots=True)
class Unit:
    """Messages `start`..`end` (inclusive). A protected unit is never dropped."""

    start: int
    end: int
    protected: bool

    @property
    def indices(self) -> range:
        return range(self.start, self.end + 1)


def last_user_prompt(messages: Sequence[Message]) -> int:
    """Index of the latest user message that is a prompt (not only tool results); -1 if none."""
    for message in reversed(messages):
        if message.role == "user" and not message.tool_result_ids:
            return message.index
    return -1


def _links(messages: Sequence[Message]) -> list[bool]:
    """links[i] is True when message i must stay with message i + 1."""
    count = len(messages)
    links = [False] * count
    caller: dict[str, int] = {}
    for position, message in enumerate(messages):
        for call_id in message.tool_call_ids:
            caller[call_id] = position
        for result_id in message.tool_result_ids:
            start = caller.get(result_id)
            if start is not None:
                for linked in range(start, position):
                    links[linked] = True
        if message.role == "reasoning" and position + 1 < count:
            links[position] = True
    return links


def atomic_units(messages: Sequence[Message]) -> list[Unit]:
    """The messages grouped into units, in order. Protected: system/developer messages, the latest user
    prompt, and the unit holding the last message (the turn the model answers now)."""
    if not messages:
        return []
    links = _links(messages)
    prompt = last_user_prompt(messages)
    last = len(messages) - 1
    units: list[Unit] = []
    start = 0
    for position in range(len(messages)):
        if links[position] and position < last:
            continue
        span = messages[start : position + 1]
        protected = position == last or any(m.role in PROTECTED_ROLES or m.index == prompt for m in span)
        units.append(Unit(start, position, protected))
        start = position + 1
    return units
