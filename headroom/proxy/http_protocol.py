"""uvicorn's httptools protocol with each response's head sent together with its first body bytes: one system
call instead of two for a JSON reply (on loopback a send costs as much CPU as the rest of a small request's path),
and a stream's head leaves with its first event."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeadWithBody:
    """Wraps a transport. After `hold_next`, the next write (a response's head) is held until the write after it
    (its first body bytes) and leaves with it, or alone at the loop's next turn when no body comes in this one;
    every other write goes out at once. Closing sends what is held first. Everything else (flow control,
    addresses, abort) is the wrapped transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._hold = False
        self._held: bytes | None = None

    def hold_next(self) -> None:
        self._hold = True

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._held is not None:
            data, self._held = self._held + data, None
        elif self._hold:
            self._hold = False
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._held is None:
            return
        held, self._held = self._held, None
        if not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HeadWithBodyHttpToolsProtocol(HttpToolsProtocol):
    """What `headroom proxy` serves with (uvicorn's `http` setting): each request's response head is held for
    its first body bytes."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._writes = HeadWithBody(transport, self.loop)
        super().connection_made(self._writes)  # type: ignore[arg-type]

    def on_headers_complete(self) -> None:
        self._writes.hold_next()
        super().on_headers_complete()
