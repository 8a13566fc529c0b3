"""Coalesced client writes: what one turn of the event loop writes goes out at the next turn in one piece and in
order, nothing is lost when the connection is closed right after a write, and a closed transport gets nothing."""

from __future__ import annotations

import asyncio

from headroom.proxy.http_protocol import CoalescedWrites


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


def test_writes_of_one_turn_leave_together_at_the_next() -> None:
    async def main() -> None:
        transport = RecordingTransport()
        writes = CoalescedWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        writes.write(b"HTTP/1.1 200 OK\r\n\r\n")
        writes.write(b"")
        writes.write(b"{}")
        assert transport.writes == []
        await asyncio.sleep(0)
        writes.write(b"next")
        await asyncio.sleep(0)
        assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}", b"next"]
        assert writes.get_extra_info("peername") == "info:peername"

    asyncio.run(main())


def test_close_sends_what_is_waiting_first_and_a_closed_transport_gets_nothing() -> None:
    async def main() -> None:
        transport = RecordingTransport()
        writes = CoalescedWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        writes.write(b"last words")
        writes.close()
        assert transport.writes == [b"last words"] and transport.closed
        writes.write(b"too late")
        await asyncio.sleep(0)
        assert transport.writes == [b"last words"]

    asyncio.run(main())


def test_bytes_arrive_whole_and_in_order_over_a_real_connection() -> None:
    async def main() -> bytes:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writes = CoalescedWrites(writer.transport, asyncio.get_running_loop())  # type: ignore[arg-type]
            for index in range(100):
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
