"""A lean HTTP/1.1 client for the upstream calls: keep-alive connections pooled per origin on asyncio protocols,
responses parsed by httptools (the parser uvicorn uses), bodies streamed with back-pressure.

It replaces httpx's client and httpcore on the proxy's hot path, where URL parsing, pool bookkeeping, anyio cancel
scopes and h11 cost more CPU than everything else a proxied request does. Responses are still `httpx.Response`
objects and failures httpx's own exceptions (`ConnectError`, `ConnectTimeout`, `ReadTimeout`, `PoolTimeout`,
`RemoteProtocolError`), so callers read them as before. No cookies, redirects or proxies: an upstream is a fixed
provider URL, and the client's headers go out as they came.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

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


def _read_timed_out(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_exception(httpx.ReadTimeout("upstream read timed out"))


def _quiet(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(False)


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
        self._keep_alive = False
        self._until_close = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[bool] | None = None
        self._stopped = False
        self._silent_since: float | None = None

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

    def on_message_begin(self) -> None:
        if self._complete:  # bytes on an idle connection (a 408 before closing, say): it cannot be reused
            self.close()

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
        self._keep_alive = self._parser.should_keep_alive()  # llhttp forgets it once the next message may start
        self._complete = True
        self._wake()

    # --- the request/response cycle -------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(True)

    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    async def _wait(self, timeout: float | None, quiet: float | None = None) -> bool:
        """Until something happens on the connection (True) or `quiet` seconds pass first (False); raises the
        connection's error, or ReadTimeout after `timeout` seconds."""
        if self._error is not None:
            raise self._error
        waiter: asyncio.Future[bool] = self._loop.create_future()
        self._waiter = waiter
        timer = None if timeout is None else self._loop.call_later(timeout, _read_timed_out, waiter)
        quiet_timer = None if quiet is None else self._loop.call_later(quiet, _quiet, waiter)
        try:
            return await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
            if quiet_timer is not None:
                quiet_timer.cancel()

    async def send(self, head: bytes, body: bytes, read_timeout: float | None) -> tuple[int, list[tuple[bytes, bytes]]]:
        """Write the request; return the response status and headers once they have arrived."""
        assert self.transport is not None
        self._head_done = self._complete = self._keep_alive = self._stopped = False
        self._silent_since = None
        self._headers = []
        # One send for a small request (a copy costs less than a second system call); a large body goes as is.
        if len(body) < 65536:
            self.transport.write(head + body)
        else:
            self.transport.writelines((head, body))
        while not self._head_done:
            await self._wait(read_timeout)
        return self._parser.get_status_code(), self._headers

    async def next_chunk(self, read_timeout: float | None, quiet: float | None = None) -> bytes | None:
        """Every body byte that has arrived and not been taken yet, in one piece (pieces that arrived together
        are sent on together: one write to the client instead of one per piece); None once the response is
        complete or `stop_waiting` was called. With `quiet`, b"" after that many seconds without a byte; the
        read timeout keeps counting from the last byte across such returns."""
        while not self._chunks or self._stopped:
            if self._complete or self._stopped:
                return None
            now = self._loop.time()
            if self._silent_since is None:
                self._silent_since = now
            remaining = None if read_timeout is None else read_timeout - (now - self._silent_since)
            if not await self._wait(remaining, quiet):
                return b""
        self._silent_since = None
        chunks = self._chunks
        chunk = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._paused and self._buffered < LOW_WATER and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    def stop_waiting(self) -> None:
        """End the body here (the client is gone): a waiting `next_chunk` returns None, and so does every later
        one; the connection is not reused."""
        self._stopped = True
        self._wake()

    def reusable(self) -> bool:
        return self._complete and self._keep_alive and not self.closed and not self._chunks

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

    async def next_piece(self, quiet: float | None) -> bytes | None:
        """The body bytes that have arrived since the last call; b"" after `quiet` seconds of upstream silence;
        None at the end of the body or after `stop_waiting`. For a relay that watches the silence and the client
        without a task per piece."""
        if self._head_only:
            return None
        try:
            return await self._connection.next_chunk(self._read_timeout, quiet)
        except httpx.HTTPError:
            await self.aclose()
            raise

    def stop_waiting(self) -> None:
        """As the connection's `stop_waiting`, until the body is closed: the connection may serve another request
        after that."""
        if not self._released:
            self._connection.stop_waiting()

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            self._pool.release(self._connection)


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float | None
    read: float | None
    """Longest wait for the response head and between body chunks."""
    pool: float | None
    """Longest wait for a connection slot when `max_connections` are in use."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an upstream's requests go: scheme, host and port of its base URL, and the path prefix it carries."""

    tls: bool
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"an upstream URL must be http(s)://host[:port][/path], not {url!r}")
        tls = parts.scheme == "https"
        return cls(tls, parts.hostname, parts.port or (443 if tls else 80), parts.path.rstrip("/"))

    @property
    def authority(self) -> str:
        """The Host header: the port only when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == (443 if self.tls else 80) else f"{host}:{self.port}"


class Http11Client:
    """Sends one request at a time per connection over pooled keep-alive connections, one pool per origin; the
    response comes back as soon as its head has arrived, its body still to be read."""

    def __init__(self, timeouts: Timeouts, limits: PoolLimits | None = None) -> None:
        self._timeouts = timeouts
        self._limits = limits or PoolLimits()
        self._pools: dict[Origin, Pool] = {}
        self._tls: ssl.SSLContext | None = None

    def _pool(self, origin: Origin) -> Pool:
        pool = self._pools.get(origin)
        if pool is None:
            tls = None
            if origin.tls:
                if self._tls is None:
                    self._tls = httpx.create_ssl_context()  # SSL_CERT_FILE / SSL_CERT_DIR honoured
                    self._tls.set_alpn_protocols(["http/1.1"])
                tls = self._tls
            pool = self._pools[origin] = Pool(origin.host, origin.port, tls, self._limits)
        return pool

    async def send(
        self, origin: Origin, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> httpx.Response:
        """`target` is the request line's path and query, already percent-encoded; `headers` go out in order
        after Host (a content-length is added when there is a body)."""
        lines = [f"{method} {target} HTTP/1.1", f"host: {origin.authority}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if body is not None:
            lines.append(f"content-length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        pool = self._pool(origin)
        timeouts = self._timeouts
        connection = await pool.acquire(timeouts.connect, timeouts.pool)
        try:
            status, raw_headers = await connection.send(head, body or b"", timeouts.read)
        except BaseException:
            connection.close()
            pool.release(connection)
            raise
        stream = ResponseBody(pool, connection, timeouts.read, method == "HEAD")
        return httpx.Response(status, headers=raw_headers, stream=stream)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
