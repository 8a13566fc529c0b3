"""HTTP/1.1 for the fake upstream: requests parsed by httptools (llhttp, the parser uvicorn uses), responses
written as raw bytes by the fake itself (content-length or chunked framing). It is cheap enough for the throughput
benchmark, and the fake still decides every byte it sends and can reset a connection at any point."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

import httptools


@dataclass
class Received:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    keep_alive: bool = True

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)


class RequestParser:
    """Feed it the bytes of a connection; it returns each request once complete (header names lower-cased).
    Raises httptools.HttpParserError on a malformed request."""

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._complete: list[Received] = []
        self._url = bytearray()
        self._headers: list[tuple[str, str]] = []
        self._body = bytearray()

    def feed(self, data: bytes) -> list[Received]:
        self._parser.feed_data(data)
        complete, self._complete = self._complete, []
        return complete

    def on_message_begin(self) -> None:
        self._url = bytearray()
        self._headers = []
        self._body = bytearray()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        self._complete.append(
            Received(
                self._parser.get_method().decode("latin-1"),
                self._url.decode("latin-1"),
                self._headers,
                bytes(self._body),
                self._parser.should_keep_alive(),
            )
        )


def response_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    """Status line and headers, up to and including the blank line."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body; empty data writes nothing (an empty chunk would end the body)."""
    return b"%x\r\n%b\r\n" % (len(data), data) if data else b""


LAST_CHUNK = b"0\r\n\r\n"
