"""Incremental Server-Sent Events framing: feeds a provider's usage tap from a copy of the byte stream."""

from __future__ import annotations

from collections.abc import Callable

EventSink = Callable[[str, bytes], None]


class SseReader:
    """Splits bytes into events (`event:` name, joined `data:` lines) without holding more than one partial event."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self._buffer = b""

    def feed(self, chunk: bytes) -> None:
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        *complete, self._buffer = buffer.split(b"\n\n")
        for raw in complete:
            self._emit(raw)

    def close(self) -> None:
        if self._buffer.strip():
            self._emit(self._buffer)
        self._buffer = b""

    def _emit(self, raw: bytes) -> None:
        event = ""
        data: list[bytes] = []
        for line in raw.split(b"\n"):
            if line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" "))
            elif line.startswith(b"event:"):
                event = line[6:].strip().decode("utf-8", "replace")
        if data:
            self._sink(event, b"\n".join(data))
