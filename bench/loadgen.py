"""A load generator that costs the machine little CPU: raw HTTP/1.1 keep-alive connections on asyncio streams
(under uvloop), one request in flight per connection, so a throughput run measures the server, not the client.

It speaks only what the benchmarks need: a POST with a complete body, and a response framed by content-length or
chunked transfer-encoding. Any other status than 200 or a malformed response fails the run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import uvloop

RequestFactory = Callable[[int], bytes]


class LoadError(RuntimeError):
    """The server answered something other than a complete 200 response."""


def post_request(host: str, path: str, headers: Mapping[str, str], body: bytes) -> bytes:
    """The bytes of one keep-alive POST."""
    lines = [f"POST {path} HTTP/1.1", f"host: {host}", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response; return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length: int | None = None
    chunked = False
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        raise LoadError("response without content-length or chunked framing")
    return status


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _exchange(connections: list[Connection], make_request: RequestFactory, total: int, deadline: float) -> int:
    """Send `total` requests over the open connections, one in flight on each; the number answered."""
    counter = iter(range(total))
    done = 0

    async def drive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal done
        for i in counter:
            if time.monotonic() > deadline:
                return
            writer.write(make_request(i))
            status = await _read_response(reader)
            if status != 200:
                raise LoadError(f"status {status}")
            done += 1

    await asyncio.gather(*(drive(reader, writer) for reader, writer in connections))
    return done


def run_load(
    url: str, make_request: RequestFactory, concurrency: int, total: int, time_limit: float
) -> tuple[int, float]:
    """`total` requests (or as many as fit in `time_limit` seconds) over `concurrency` keep-alive connections,
    after a warm-up of two requests per connection; returns (requests done, seconds taken)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80

    async def main() -> tuple[int, float]:
        connections = [await asyncio.open_connection(host, port) for _ in range(concurrency)]
        try:
            deadline = time.monotonic() + time_limit
            await _exchange(connections, make_request, 2 * concurrency, deadline)
            start = time.perf_counter()
            done = await _exchange(connections, lambda i: make_request(i + 2 * concurrency), total, deadline)
            return done, time.perf_counter() - start
        finally:
            for _, writer in connections:
                writer.close()

    return uvloop.run(main())
