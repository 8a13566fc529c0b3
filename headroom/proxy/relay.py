"""The streaming relay: forwards each upstream chunk as it arrives, injects Anthropic pings after upstream
silence, reads usage from a copy, and stops the upstream request when the client goes away.

An upstream body of the lean client (headroom/proxy/transport.py) is watched by its own wait: upstream silence
ends the wait with b"", the client's disconnect stops it. Any other source (spliced retrieval rounds, a body read
through an outbound proxy) races a task per chunk against the disconnect."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from headroom.errors import HeadroomError
from headroom.providers.base import JSONObject, Provider, UsageTap
from headroom.proxy.disconnect import ClientGone
from headroom.proxy.sse import SseReader
from headroom.proxy.transport import ResponseBody
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
    disconnected: ClientGone | None
    keep_body_limit: int = 0
    keep_stream_copy: bool = False
    on_done: Callable[[RelayOutcome], None] | None = None
    watch_client: bool = False
    """Race each chunk against the client's disconnect (event streams; a JSON body arrives in one burst)."""


def _stream_error_event(provider: Provider, error: HeadroomError) -> bytes:
    body: JSONObject = provider.error_body(error)
    return b"event: error\ndata: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


async def _watched_body(
    body: ResponseBody, disconnected: ClientGone | None, ping_interval: float | None, outcome: RelayOutcome
) -> AsyncGenerator[bytes | None, None]:
    """What `_watched` yields, for the lean client's body: no task per piece, the body's own wait is cut short."""
    if disconnected is not None:
        disconnected.on_set(body.stop_waiting)
    while True:
        piece = await body.next_piece(ping_interval)
        if piece is None:
            outcome.client_disconnected = disconnected is not None and disconnected.is_set()
            return
        yield piece or None


async def _watched(
    source: AsyncIterable[bytes], disconnected: ClientGone | None, ping_interval: float | None, outcome: RelayOutcome
) -> AsyncGenerator[bytes | None, None]:
    """The source's chunks, None after each `ping_interval` of upstream silence; ends early (marking the outcome)
    when the client goes away. Each wait is a task raced against the disconnect, so this path is for streams."""
    chunks = source.__aiter__()
    watcher = asyncio.ensure_future(disconnected.wait()) if disconnected is not None else None
    pending: asyncio.Future[bytes] | None = None
    try:
        while True:
            pending = asyncio.ensure_future(chunks.__anext__())
            while True:
                waiters: set[asyncio.Future[object]] = {pending}  # type: ignore[arg-type]
                if watcher is not None:
                    waiters.add(watcher)  # type: ignore[arg-type]
                done, _ = await asyncio.wait(waiters, timeout=ping_interval, return_when=asyncio.FIRST_COMPLETED)
                if watcher is not None and watcher in done and pending not in done:
                    outcome.client_disconnected = True
                    return
                if pending in done:
                    break
                yield None
            try:
                chunk = pending.result()
            except StopAsyncIteration:
                pending = None
                return
            pending = None
            yield chunk
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        if watcher is not None:
            watcher.cancel()


def _keep_copy(outcome: RelayOutcome, chunk: bytes, limit: int) -> None:
    if outcome.body is not None and not outcome.body_truncated:
        if len(outcome.body) + len(chunk) <= limit:
            outcome.body.extend(chunk)
        else:
            outcome.body_truncated = True


async def relay(
    source: AsyncIterable[bytes], close: Callable[[], Awaitable[None]], options: RelayOptions, outcome: RelayOutcome
) -> AsyncIterator[bytes]:
    """Yield the source's bytes unchanged, in order, as they arrive; `close` releases the upstream response.
    A plain JSON body is relayed by a bare loop; a stream is raced against the client's disconnect (and upstream
    silence, for pings)."""
    provider = options.provider
    reader = SseReader(lambda event, data: provider.read_event(outcome.tap, event, data)) if options.streaming else None
    if options.keep_body_limit and (options.keep_stream_copy or not options.streaming):
        outcome.body = bytearray()
    at_boundary = True
    watch = options.watch_client or options.ping_interval is not None
    watched: AsyncGenerator[bytes | None, None] | None = None
    if watch and isinstance(source, ResponseBody):
        watched = _watched_body(source, options.disconnected, options.ping_interval, outcome)
    elif watch:
        watched = _watched(source, options.disconnected, options.ping_interval, outcome)
    arrivals: AsyncIterable[bytes | None] = watched if watched is not None else source
    try:
        async for chunk in arrivals:
            if chunk is None:
                if at_boundary and options.ping_interval is not None:
                    outcome.pings_injected += 1
                    yield PING_EVENT
                continue
            if not chunk:
                continue
            if outcome.first_byte_at is None:
                outcome.first_byte_at = time.perf_counter()
            outcome.bytes_sent += len(chunk)
            if reader is not None:
                at_boundary = chunk.endswith((b"\n\n", b"\r\n\r\n"))
            try:
                yield chunk
            finally:  # the usage tap and the kept copy read a chunk once it has gone on: the client never waits
                if reader is not None:
                    reader.feed(chunk)
                _keep_copy(outcome, chunk, options.keep_body_limit)
    except (httpx.HTTPError, HeadroomError) as exc:
        error = exc if isinstance(exc, HeadroomError) else translate_stream_error(exc)
        outcome.upstream_error = error.message
        if options.streaming and provider.upstream == "anthropic":
            yield _stream_error_event(provider, error)
        else:
            raise
    finally:
        if watched is not None:
            await watched.aclose()
        await close()
        if reader is not None:
            reader.close()
        elif outcome.body is not None and not outcome.body_truncated:
            provider.read_json(outcome.tap, bytes(outcome.body))
        outcome.finished_at = time.perf_counter()
        if options.on_done is not None:
            options.on_done(outcome)
