"""The upstream HTTP/1.1 client against a scripted server on 127.0.0.1: the bytes it sends, keep-alive reuse, every
way a response body can be framed, body bytes handed on as they arrive, a watched body's silence and stop, and
the httpx errors it raises."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from headroom.proxy.transport import Http11Client, Origin, ResponseBody, Timeouts
from headroom.proxy.upstream import request_target

Script = Callable[[asyncio.StreamWriter], Awaitable[None]]


@dataclass
class ScriptedServer:
    """Answers the n-th request with the n-th script; records each request's bytes and the connection it came on."""

    scripts: list[Script]
    requests: list[tuple[int, bytes]] = field(default_factory=list)
    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                self.requests.append((connection, head + await reader.readexactly(length)))
                await self.scripts[len(self.requests) - 1](writer)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


def reply(raw: bytes, *, close: bool = False) -> Script:
    async def play(writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        await writer.drain()
        if close:
            writer.close()

    return play


def run(server: ScriptedServer, exchange: Callable[[Http11Client, Origin], Awaitable[None]], read: float = 5.0) -> None:
    async def main() -> None:
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        client = Http11Client(Timeouts(connect=5.0, read=read, pool=5.0))
        try:
            await exchange(client, Origin.parse(f"http://127.0.0.1:{port}/base/"))
        finally:
            await client.aclose()
            listener.close()

    asyncio.run(main())


async def body_of(response: httpx.Response) -> bytes:
    try:
        return b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()


OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


def test_sends_target_host_headers_in_order_and_length() -> None:
    server = ScriptedServer([reply(OK)])

    async def exchange(client: Http11Client, origin: Origin) -> None:
        target = request_target(origin.prefix, "/v1/messages", "beta=true")
        response = await client.send(origin, "POST", target, [("x-api-key", "k"), ("Anthropic-Beta", "b1")], b"hi")
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        assert await body_of(response) == b"{}"

    run(server, exchange)
    port = server.requests[0][1].split(b"host: 127.0.0.1:")[1].split(b"\r\n")[0].decode()
    assert (
        server.requests[0][1]
        == (
            f"POST /base/v1/messages?beta=true HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nx-api-key: k\r\n"
            "Anthropic-Beta: b1\r\ncontent-length: 2\r\n\r\nhi"
        ).encode()
    )


def test_a_path_is_percent_encoded_and_a_query_kept_as_received() -> None:
    assert request_target("", "/v1/models/a b", "x=%20y&z") == "/v1/models/a%20b?x=%20y&z"
    assert request_target("/v1", "/models", "") == "/v1/models"


def test_keep_alive_connections_are_reused_unless_the_server_says_close() -> None:
    closing = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"
    server = ScriptedServer([reply(OK), reply(OK), reply(closing, close=True), reply(OK)])

    async def exchange(client: Http11Client, origin: Origin) -> None:
        for _ in range(4):
            assert await body_of(await client.send(origin, "GET", "/", [], None)) == b"{}"

    run(server, exchange)
    assert [connection for connection, _ in server.requests] == [1, 1, 1, 2]


def test_an_unread_body_closes_the_connection_instead_of_reusing_it() -> None:
    server = ScriptedServer([reply(OK), reply(OK)])

    async def exchange(client: Http11Client, origin: Origin) -> None:
        first = await client.send(origin, "GET", "/", [], None)
        await first.aclose()
        assert await body_of(await client.send(origin, "GET", "/", [], None)) == b"{}"

    run(server, exchange)
    assert server.connections == 2


def test_bytes_after_a_complete_response_retire_the_connection() -> None:
    timeout = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n"
    server = ScriptedServer([reply(OK + timeout), reply(OK)])

    async def exchange(client: Http11Client, origin: Origin) -> None:
        for _ in range(2):
            assert await body_of(await client.send(origin, "GET", "/", [], None)) == b"{}"

    run(server, exchange)
    assert [connection for connection, _ in server.requests] == [1, 2]


def test_chunked_close_delimited_and_head_bodies() -> None:
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n"
    until_close = b"HTTP/1.1 200 OK\r\n\r\neverything until EOF"
    server = ScriptedServer([reply(chunked), reply(head), reply(until_close, close=True)])

    async def exchange(client: Http11Client, origin: Origin) -> None:
        assert await body_of(await client.send(origin, "GET", "/", [], None)) == b"hello world"
        assert await body_of(await client.send(origin, "HEAD", "/", [], None)) == b""
        assert await body_of(await client.send(origin, "GET", "/", [], None)) == b"everything until EOF"

    run(server, exchange)


def test_pieces_that_arrive_together_come_out_together_and_later_ones_apart() -> None:
    async def two_bursts(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n")
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.write(b"1\r\n!\r\n0\r\n\r\n")
        await writer.drain()

    server = ScriptedServer([two_bursts])

    async def exchange(client: Http11Client, origin: Origin) -> None:
        response = await client.send(origin, "GET", "/", [], None)
        await asyncio.sleep(0.1)  # both chunks of the first burst have arrived
        try:
            assert [chunk async for chunk in response.aiter_raw()] == [b"hello world", b"!"]
        finally:
            await response.aclose()

    run(server, exchange)


def test_a_watched_body_reports_silence_and_stops_waiting_when_told() -> None:
    async def slow(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    server = ScriptedServer([slow, reply(OK)])

    async def exchange(client: Http11Client, origin: Origin) -> None:
        response = await client.send(origin, "GET", "/", [], None)
        body = response.stream
        assert isinstance(body, ResponseBody)
        assert await body.next_piece(0.05) == b"hello"
        assert await body.next_piece(0.05) == b"", "silence"
        asyncio.get_running_loop().call_later(0.05, body.stop_waiting)
        assert await body.next_piece(None) is None, "stopped"
        assert await body.next_piece(None) is None
        await response.aclose()
        assert await body_of(await client.send(origin, "GET", "/", [], None)) == b"{}"

    run(server, exchange)
    assert [connection for connection, _ in server.requests] == [1, 2], "a stopped body's connection is not reused"


def test_stopping_a_closed_body_leaves_its_connection_alone() -> None:
    server = ScriptedServer([reply(OK), reply(OK)])

    async def exchange(client: Http11Client, origin: Origin) -> None:
        first = await client.send(origin, "GET", "/", [], None)
        assert await body_of(first) == b"{}"
        second = await client.send(origin, "GET", "/", [], None)  # on the same pooled connection
        assert isinstance(first.stream, ResponseBody) and isinstance(second.stream, ResponseBody)
        first.stream.stop_waiting()  # the first request's client leaves late
        assert await second.stream.next_piece(None) == b"{}"
        await second.aclose()

    run(server, exchange)
    assert [connection for connection, _ in server.requests] == [1, 1]


def test_the_read_timeout_counts_across_reports_of_silence() -> None:
    async def silent_body(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    server = ScriptedServer([silent_body])

    async def exchange(client: Http11Client, origin: Origin) -> None:
        response = await client.send(origin, "GET", "/", [], None)
        body = response.stream
        assert isinstance(body, ResponseBody)
        silences = 0
        with pytest.raises(httpx.ReadTimeout):
            while await body.next_piece(0.05) == b"":
                silences += 1
        assert 2 <= silences <= 8, "about 0.3 s of silence in 0.05 s reports, then the read timeout"

    run(server, exchange, read=0.3)


def test_a_large_body_arrives_whole_through_back_pressure() -> None:
    payload = bytes(range(256)) * 8192  # 2 MB, far past the client's high-water mark
    response = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%b" % (len(payload), payload)
    server = ScriptedServer([reply(response)])

    async def exchange(client: Http11Client, origin: Origin) -> None:
        streamed = await client.send(origin, "GET", "/", [], None)
        received = bytearray()
        async for chunk in streamed.aiter_raw():
            received += chunk
            await asyncio.sleep(0)
        await streamed.aclose()
        assert bytes(received) == payload

    run(server, exchange)


def test_a_connection_lost_mid_body_is_a_remote_protocol_error() -> None:
    server = ScriptedServer([reply(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial", close=True)])

    async def exchange(client: Http11Client, origin: Origin) -> None:
        response = await client.send(origin, "GET", "/", [], None)
        with pytest.raises(httpx.RemoteProtocolError):
            await body_of(response)

    run(server, exchange)


def test_silence_is_a_read_timeout() -> None:
    async def silent(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    server = ScriptedServer([silent])

    async def exchange(client: Http11Client, origin: Origin) -> None:
        with pytest.raises(httpx.ReadTimeout):
            await client.send(origin, "GET", "/", [], None)

    run(server, exchange, read=0.2)


def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main() -> None:
        client = Http11Client(Timeouts(connect=5.0, read=5.0, pool=5.0))
        with pytest.raises(httpx.ConnectError):
            await client.send(Origin.parse(f"http://127.0.0.1:{port}"), "GET", "/", [], None)
        await client.aclose()

    asyncio.run(main())


def test_origins_parse_scheme_host_port_and_prefix() -> None:
    assert Origin.parse("https://api.anthropic.com") == Origin(True, "api.anthropic.com", 443, "")
    assert Origin.parse("http://127.0.0.1:8080/v1/").authority == "127.0.0.1:8080"
    assert Origin.parse("https://api.openai.com/v1").prefix == "/v1"
    with pytest.raises(ValueError, match="http"):
        Origin.parse("ftp://example.com")
