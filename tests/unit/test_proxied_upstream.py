"""Upstreams behind an outbound proxy named by the environment: requests go through the proxy (httpx), NO_PROXY
hosts and an unset environment go direct (the lean client), and the upstream sees only the client's headers."""

from __future__ import annotations

import asyncio

import pytest

from headroom.config import Settings
from headroom.proxy.proxied_client import environment_proxy
from headroom.proxy.transport import Origin
from headroom.proxy.upstream import Upstreams

REPLY = b'{"type":"message"}'


class ForwardProxy:
    """A plain HTTP forward proxy stand-in: records each request head and answers it itself."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
        )
        await reader.readexactly(length)
        self.heads.append(head)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(REPLY) + REPLY
        )
        await writer.drain()
        writer.close()


@pytest.fixture
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_environment_decides_which_origins_are_proxied(clean_proxy_env: pytest.MonkeyPatch) -> None:
    api = Origin.parse("https://api.anthropic.com")
    assert environment_proxy(api) is None
    clean_proxy_env.setenv("HTTPS_PROXY", "proxy.corp:3128")
    assert environment_proxy(api) == "http://proxy.corp:3128"
    assert environment_proxy(Origin.parse("http://127.0.0.1:9999")) is None, "HTTPS_PROXY does not cover http"
    clean_proxy_env.setenv("NO_PROXY", ".anthropic.com")
    assert environment_proxy(api) is None


def test_a_proxied_upstream_goes_through_the_proxy_with_the_clients_headers_only(
    clean_proxy_env: pytest.MonkeyPatch,
) -> None:
    forward = ForwardProxy()
    headers = [("x-api-key", "sk-test"), ("anthropic-version", "2023-06-01"), ("content-type", "application/json")]

    async def exchange() -> tuple[int, bytes]:
        server = await asyncio.start_server(forward.handle, "127.0.0.1", 0)
        clean_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        upstreams = Upstreams(Settings(anthropic_api_url="http://upstream.example:8080"))
        try:
            response = await upstreams.open("anthropic", "POST", "/v1/messages", "beta=true", headers, b"{}")
            return response.status_code, await response.aread()
        finally:
            await upstreams.aclose()
            server.close()
            await server.wait_closed()

    response = asyncio.run(exchange())
    assert response == (200, REPLY)
    (head,) = forward.heads
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "POST http://upstream.example:8080/v1/messages?beta=true HTTP/1.1"
    names = {line.split(":", 1)[0].lower() for line in lines[1:] if line}
    assert {"x-api-key", "anthropic-version", "content-type"} <= names
    assert not names & {"user-agent", "accept-encoding", "accept"}, "httpx's own defaults must not reach upstream"
