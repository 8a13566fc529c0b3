"""Reads one upstream round's Server-Sent Events as they arrive, for the retrieval splicers of the OpenAI formats."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx

from headroom.providers.base import JSONObject
from headroom.proxy.sse import SseReader

DONE = b"[DONE]"


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, bytes]]:
    """Yield (event name, data) per event as soon as its bytes arrive; the response is closed at the end."""
    pending: list[tuple[str, bytes]] = []
    reader = SseReader(lambda name, data: pending.append((name, data)))
    try:
        async for chunk in response.aiter_raw():
            reader.feed(chunk)
            for event in pending:
                yield event
            pending.clear()
        reader.close()
        for event in pending:
            yield event
    finally:
        await response.aclose()


def json_object(data: bytes) -> JSONObject | None:
    """The event's data as a JSON object, or None (`[DONE]`, malformed or not an object)."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def data_event(payload: JSONObject, name: str | None = None) -> bytes:
    """One SSE event carrying `payload` as compact JSON, with an `event:` line when named."""
    prefix = f"event: {name}\n" if name else ""
    return f"{prefix}data: {json.dumps(payload, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()
