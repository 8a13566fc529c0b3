"""The fake's reply plan: a status, headers and a list of parts (bytes, pauses, an abrupt reset) the server plays."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.scenario import Scenario


@dataclass(frozen=True)
class Pause:
    """Send nothing for this many milliseconds."""

    ms: int


@dataclass(frozen=True)
class Reset:
    """Close the TCP connection abruptly (RST), whatever has been sent so far."""


Part = bytes | Pause | Reset


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    streaming: bool = False


def json_reply(status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    data = json.dumps(body).encode()
    return Reply(status, [("content-type", "application/json"), *(headers or [])], [data])


def sse_event(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


def stream_reply(events: list[bytes], scenario: Scenario, headers: list[tuple[str, str]] | None = None) -> Reply:
    """An SSE reply whose events are paced by the scenario: `slow` (and `retrieve` given a delay) pauses between
    events, `silent` pauses
    once after the first event, `reset` breaks the connection after the first few events."""
    parts: list[Part] = []
    for index, event in enumerate(events):
        if index and (scenario.name == "slow" or (scenario.name == "retrieve" and scenario.delay_ms)):
            parts.append(Pause(scenario.delay_ms))
        if index == 1 and scenario.name == "silent":
            parts.append(Pause(scenario.delay_ms))
        if index == 4 and scenario.name == "reset":
            parts.append(Reset())
            break
        parts.append(event)
    sse_headers = [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]
    return Reply(200, [*sse_headers, *(headers or [])], parts, streaming=True)
