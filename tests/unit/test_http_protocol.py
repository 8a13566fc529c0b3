"""A response's head held for its first body bytes: the two leave in one write, a head with no body in the same
turn leaves alone at the next turn, every other write goes out at once and in order, and closing sends what is
held first."""

from __future__ import annotations

import asyncio

from headroom.proxy.http_protocol import HeadWithBody


class RecordingTransport:
    """Stands in for the socket: records each write it is handed."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_the_head_leaves_with_the_first_body_bytes_and_later_writes_at_once() -> None:
    async def main() -> None:
        transport = RecordingTransport()
        writes = HeadWithBody(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        writes.hold_next()
        writes.write(b"HTTP/1.1 200 OK\r\n\r\n")
        writes.write(b"")
        assert transport.writes == []
        writes.write(b"{}")
        assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
        writes.write(b"more")
        assert transport.writes[-1] == b"more"
        await asyncio.sleep(0)
        assert len(transport.writes) == 2
        assert writes.get_extra_info("peername") == "info:peername"

    asyncio.run(main())


def test_a_head_without_body_in_its_turn_leaves_at_the_next() -> None:
    async def main() -> None:
        transport = RecordingTransport()
        writes = HeadWithBody(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        writes.hold_next()
        writes.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        await asyncio.sleep(0)
        writes.write(b"5\r\nfirst\r\n")
        assert transport.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", b"5\r\nfirst\r\n"]

    asyncio.run(main())


def test_close_sends_what_is_held_first_and_a_closed_transport_gets_nothing() -> None:
    async def main() -> None:
        transport = RecordingTransport()
        writes = HeadWithBody(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        writes.hold_next()
        writes.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        writes.close()
        assert transport.writes == [b"HTTP/1.1 204 No Content\r\n\r\n"] and transport.closed
        writes.hold_next()
        writes.write(b"too late")
        await asyncio.sleep(0)
        assert transport.writes == [b"HTTP/1.1 204 No Content\r\n\r\n"]

    asyncio.run(main())


def test_bytes_arrive_whole_and_in_order_over_a_real_connection() -> None:
    async def main() -> bytes:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writes = HeadWithBody(writer.transport, asyncio.get_running_loop())  # type: ignore[arg-type]
            for index in range(100):
                if index % 10 == 0:
                    writes.hold_next()
                writes.write(b"%d," % index)
                if index % 7 == 0:
                    await asyncio.sleep(0)
            writes.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    assert asyncio.run(main()) == b"".join(b"%d," % index for index in range(100))
