"""The streaming relay: forwards each upstream chunk as it arrives, injects Anthropic pings after upstream
silence, reads usage from a copy, and stops the upstream request when the client goes away."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from headroom.errors import HeadroomError
from headroom.providers.base import JSONObject, Provider, UsageTap
from headroom.proxy.sse import SseReader
from headroom.proxy.upstream import translate_stream_error

PING_EVENT = b'event: ping\ndata: {"type": "ping"}\n\n'


@dataclass(slots=True)
class RelayOutcome:
    """What happened on one relayed response, for accounting."""

    status: int
    started: float
    first_byte_at: float | None = None
    finished_at: float | None = None
    bytes_sent: int = 0
    pings_injected: int = 0
    client_disconnected: bool = False
    upstream_error: str | None = None
    tap: UsageTap = field(default_factory=UsageTap)
    body: bytearray | None = None
    body_truncated: bool = False


@dataclass(slots=True)
class RelayOptions:
    provider: Provider
    streaming: bool
    ping_interval: float | None
    disconnected: asyncio.Event | None
    keep_body_limit: int = 0
    keep_stream_copy: bool = False
    on_done: Callable[[RelayOutcome], None] | None = None


def _stream_error_event(provider: Provider, error: HeadroomError) -> bytes:
    body: JSONObject = provider.error_body(error)
    return b"event: error\ndata: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


async def relay(
    source: AsyncIterator[bytes], close: Callable[[], Awaitable[None]], options: RelayOptions, outcome: RelayOutcome
) -> AsyncIterator[bytes]:
    """Yield the source's bytes unchanged, in order, as they arrive; `close` releases the upstream response."""
    provider = options.provider
    reader = SseReader(lambda event, data: provider.read_event(outcome.tap, event, data)) if options.streaming else None
    if options.keep_body_limit and (options.keep_stream_copy or not options.streaming):
        outcome.body = bytearray()
    chunks = source.__aiter__()
    watcher = asyncio.ensure_future(options.disconnected.wait()) if options.disconnected else None
    at_boundary = True
    pending: asyncio.Future[bytes] | None = None
    try:
        while True:
            pending = asyncio.ensure_future(chunks.__anext__())
            while True:
                waiters: set[asyncio.Future[object]] = {pending}  # type: ignore[arg-type]
                if watcher is not None:
                    waiters.add(watcher)  # type: ignore[arg-type]
                done, _ = await asyncio.wait(
                    waiters, timeout=options.ping_interval, return_when=asyncio.FIRST_COMPLETED
                )
                if watcher is not None and watcher in done and pending not in done:
                    outcome.client_disconnected = True
                    return
                if pending in done:
                    break
                if at_boundary and options.ping_interval is not None:
                    outcome.pings_injected += 1
                    yield PING_EVENT
            try:
                chunk = pending.result()
            except StopAsyncIteration:
                pending = None
                break
            pending = None
            if not chunk:
                continue
            if outcome.first_byte_at is None:
                outcome.first_byte_at = time.perf_counter()
            outcome.bytes_sent += len(chunk)
            if reader is not None:
                reader.feed(chunk)
                at_boundary = chunk.endswith((b"\n\n", b"\r\n\r\n"))
            if outcome.body is not None and not outcome.body_truncated:
                if len(outcome.body) + len(chunk) <= options.keep_body_limit:
                    outcome.body.extend(chunk)
                else:
                    outcome.body_truncated = True
            yield chunk
    except (httpx.HTTPError, HeadroomError) as exc:
        error = exc if isinstance(exc, HeadroomError) else translate_stream_error(exc)
        outcome.upstream_error = error.message
        if options.streaming and provider.upstream == "anthropic":
            yield _stream_error_event(provider, error)
        else:
            raise
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        if watcher is not None:
            watcher.cancel()
        await close()
        if reader is not None:
            reader.close()
        elif outcome.body is not None and not outcome.body_truncated:
            provider.read_json(outcome.tap, bytes(outcome.body))
        outcome.finished_at = time.perf_counter()
        if options.on_done is not None:
            options.on_done(outcome)
