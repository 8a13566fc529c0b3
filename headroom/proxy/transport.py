"""A lean HTTP/1.1 transport for httpx on asyncio protocols: keep-alive connections pooled per origin, responses
parsed by httptools (the parser uvicorn uses), bodies streamed with back-pressure.

It replaces httpcore on the proxy's hot path, where httpcore's pool bookkeeping, anyio cancel scopes and h11 cost
more CPU than everything else a proxied request does. Requests and responses stay `httpx` objects and failures are
httpx's own exceptions (`ConnectError`, `ConnectTimeout`, `ReadTimeout`, `PoolTimeout`, `RemoteProtocolError`), so
callers cannot tell it from httpx's default transport. No cookies, redirects or proxies: the upstream is a fixed
provider URL.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

import httptools
import httpx

HIGH_WATER = 256 * 1024
"""Unread response bytes at which the upstream socket stops being read (the client is slower than upstream)."""
LOW_WATER = 64 * 1024


@dataclass(frozen=True, slots=True)
class PoolLimits:
    max_connections: int = 512
    max_keepalive: int = 128
    keepalive_expiry: float = 60.0


def _read_timed_out(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(httpx.ReadTimeout("upstream read timed out"))


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection, one request at a time. Protocol callbacks fill a buffer of body chunks that
    `next_chunk` drains."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._loop = asyncio.get_running_loop()
        self._head_done = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._paused = False
        self._complete = False
        self._until_close = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None

    # --- asyncio.Protocol -----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed upstream response: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        self._lost()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()

    def _lost(self) -> None:
        self.closed = True
        if self._head_done and self._until_close and not self._complete:
            self._complete = True
            self._wake()
        elif not self._complete:
            self._fail(httpx.RemoteProtocolError("upstream closed the connection before the response was complete"))

    # --- httptools callbacks --------------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        framed = any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self._headers)
        self._until_close = not framed
        self._head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self._complete = True
        self._wake()

    # --- the request/response cycle -------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    async def _wait(self, timeout: float | None) -> None:
        if self._error is not None:
            raise self._error
        waiter = self._waiter = self._loop.create_future()
        timer = None
        if timeout is not None:
            timer = self._loop.call_later(timeout, _read_timed_out, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def send(self, head: bytes, body: bytes, read_timeout: float | None) -> tuple[int, list[tuple[bytes, bytes]]]:
        """Write the request; return the response status and headers once they have arrived."""
        assert self.transport is not None
        self._head_done = self._complete = False
        self._headers = []
        self.transport.writelines((head, body))
        while not self._head_done:
            await self._wait(read_timeout)
        return self._parser.get_status_code(), self._headers

    async def next_chunk(self, read_timeout: float | None) -> bytes | None:
        """The next piece of the body as it arrived; None once the response is complete."""
        while not self._chunks:
            if self._complete:
                return None
            await self._wait(read_timeout)
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered < LOW_WATER and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    def reusable(self) -> bool:
        return self._complete and not self.closed and self._parser.should_keep_alive() and not self._chunks

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Idle keep-alive connections to one origin, newest first, and a cap on connections in use."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None, limits: PoolLimits) -> None:
        self._host = host
        self._port = port
        self._tls = tls
        self._limits = limits
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(limits.max_connections)

    async def acquire(self, connect_timeout: float | None, pool_timeout: float | None) -> Connection:
        if self._slots.locked():
            try:
                await asyncio.wait_for(self._slots.acquire(), pool_timeout)
            except TimeoutError as exc:
                raise httpx.PoolTimeout("no upstream connection available") from exc
        else:
            await self._slots.acquire()
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and now - connection.idle_since < self._limits.keepalive_expiry:
                return connection
            connection.close()
        try:
            return await self._connect(connect_timeout)
        except BaseException:
            self._slots.release()
            raise

    async def _connect(self, timeout: float | None) -> Connection:
        loop = asyncio.get_running_loop()
        server_hostname = self._host if self._tls is not None else None
        opening = loop.create_connection(
            Connection, self._host, self._port, ssl=self._tls, server_hostname=server_hostname
        )
        try:
            _, connection = await asyncio.wait_for(opening, timeout)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {self._host}:{self._port} timed out") from exc
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {self._host}:{self._port}: {exc.strerror or exc}") from exc
        return connection

    def release(self, connection: Connection) -> None:
        """Keep the connection for the next request if its response was read to the end, else close it."""
        self._slots.release()
        if connection.reusable() and len(self._idle) < self._limits.max_keepalive:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


class ResponseBody(httpx.AsyncByteStream):
    """The body of one response; closing it hands the connection back to its pool."""

    def __init__(self, pool: Pool, connection: Connection, read_timeout: float | None, head_only: bool) -> None:
        self._pool = pool
        self._connection = connection
        self._read_timeout = read_timeout
        self._released = False
        self._head_only = head_only
        if head_only:  # a response to HEAD has no body whatever its headers say; never reuse the connection
            connection.close()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._head_only:
            return
        try:
            while (chunk := await self._connection.next_chunk(self._read_timeout)) is not None:
                yield chunk
        except httpx.HTTPError:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            self._pool.release(self._connection)


def _timeouts(request: httpx.Request) -> dict[str, float | None]:
    timeout = request.extensions.get("timeout")
    return timeout if isinstance(timeout, dict) else {}


class Http11Transport(httpx.AsyncBaseTransport):
    """Plain-HTTP and TLS (HTTP/1.1 by ALPN) connections; one pool per origin."""

    def __init__(self, limits: PoolLimits | None = None) -> None:
        self._limits = limits or PoolLimits()
        self._pools: dict[tuple[bytes, bytes, int], Pool] = {}
        self._tls: ssl.SSLContext | None = None

    def _pool(self, url: httpx.URL) -> Pool:
        scheme = url.raw_scheme
        key = (scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80))
        pool = self._pools.get(key)
        if pool is None:
            tls = None
            if scheme == b"https":
                if self._tls is None:
                    self._tls = httpx.create_ssl_context(trust_env=False)
                    self._tls.set_alpn_protocols(["http/1.1"])
                tls = self._tls
            pool = self._pools[key] = Pool(url.host, key[2], tls, self._limits)
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = _timeouts(request)
        read_timeout = timeouts.get("read")
        pool = self._pool(request.url)
        connection = await pool.acquire(timeouts.get("connect"), timeouts.get("pool"))
        try:
            body = await request.aread()
            lines = [request.method.encode("ascii") + b" " + request.url.raw_path + b" HTTP/1.1"]
            lines += [name + b": " + value for name, value in request.headers.raw]
            status, headers = await connection.send(b"\r\n".join(lines) + b"\r\n\r\n", body, read_timeout)
        except BaseException:
            connection.close()
            pool.release(connection)
            raise
        stream = ResponseBody(pool, connection, read_timeout, request.method == "HEAD")
        return httpx.Response(status, headers=headers, stream=stream, request=request)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
