"""ASGI wrapper that tells the app when an HTTP client goes away, so a relay can stop its upstream request.

Falcon makes `send` a no-op after a disconnect and never reads `receive` again for plain streams; this wrapper
watches `receive` once an event-stream response has started and sets `scope["headroom.disconnected"]`, a
`ClientGone`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]

SCOPE_KEY = "headroom.disconnected"


class ClientGone:
    """Set once, when the client has gone away. A callback added with `on_set` runs when it is set (at once if it
    already is), so a relay can stop waiting on upstream without a task racing each read against the client."""

    def __init__(self) -> None:
        self._set = False
        self._callbacks: list[Callable[[], None]] = []

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_set(self, callback: Callable[[], None]) -> None:
        if self._set:
            callback()
        else:
            self._callbacks.append(callback)

    async def wait(self) -> None:
        if self._set:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        self.on_set(wake)
        await future


def is_event_stream(start: Message) -> bool:
    """Only an event stream is watched: a JSON body is sent in one burst, and a watcher task per request costs
    more than the rest of the wrapper."""
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-type":
            return bool(value.startswith(b"text/event-stream"))
    return False


class DisconnectWatch:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        disconnected = ClientGone()
        scope[SCOPE_KEY] = disconnected
        body_done = False
        watcher: asyncio.Task[None] | None = None

        async def tracked_receive() -> Message:
            nonlocal body_done
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                disconnected.set()
            elif not message.get("more_body", False):
                body_done = True
            return message

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected.set()
                    return

        async def tracked_send(message: Message) -> None:
            nonlocal watcher
            if message["type"] == "http.response.start" and body_done and watcher is None and is_event_stream(message):
                watcher = asyncio.ensure_future(watch())
            await send(message)

        try:
            await self.app(scope, tracked_receive, tracked_send)
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
