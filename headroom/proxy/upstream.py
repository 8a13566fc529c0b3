"""Pooled upstream HTTP clients (one per provider) and the one place httpx errors become Headroom errors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Protocol
from urllib.parse import quote

import httpx

from headroom.config import Settings
from headroom.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable
from headroom.proxy.proxied_client import ProxiedClient, environment_proxy
from headroom.proxy.transport import Http11Client, Origin, PoolLimits, Timeouts

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


NOT_FORWARDED_PREFIXES = ("x-headroom-", "x-amzn-", "x-forwarded-")
"""Headroom's own headers, and what a hosting platform adds in front of the proxy (Lambda's request and function
context carry the account id; x-forwarded-* the caller's address): none of it is the provider's business."""


def _forwarded(name: str) -> bool:
    lowered = name.lower()
    return lowered not in HOP_BY_HOP and lowered != "forwarded" and not lowered.startswith(NOT_FORWARDED_PREFIXES)


def forward_request_headers(headers: Iterable[tuple[str, str]], *, identity: bool) -> list[tuple[str, str]]:
    """Client headers for upstream: hop-by-hop, Headroom's own and the hosting platform's removed. With
    `identity`, ask for an uncompressed body so the proxy can read usage from it."""
    out = [(k, v) for k, v in headers if _forwarded(k)]
    if identity:
        out = [(k, v) for k, v in out if k.lower() != "accept-encoding"]
        out.append(("accept-encoding", "identity"))
    return out


def response_headers(headers: httpx.Headers, *, keep_length: bool) -> list[tuple[str, str]]:
    """Upstream headers for the client, minus hop-by-hop ones (content-length kept when bytes are unchanged)."""
    out = []
    for key, value in headers.multi_items():
        lowered = key.lower()
        if lowered in HOP_BY_HOP and not (keep_length and lowered == "content-length"):
            continue
        out.append((key, value))
    return out


class UpstreamClient(Protocol):
    """Sends a request to an origin and returns the response with its body unread."""

    async def send(
        self, origin: Origin, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> httpx.Response: ...

    async def aclose(self) -> None: ...


_PLAIN_PATH = re.compile(r"[A-Za-z0-9/._~!$&'()*+,;=:@%-]*")


def request_target(prefix: str, path: str, query: str) -> str:
    """The request line's target: the base URL's path, the client's path (percent-encoded where it must be) and
    the client's query exactly as received."""
    if not _PLAIN_PATH.fullmatch(path):
        path = quote(path, safe="/._~!$&'()*+,;=:@%-")
    target = f"{prefix}{path}"
    return f"{target}?{query}" if query else target


class Upstreams:
    """The upstream base URLs and one pooled HTTP/1.1 client for all of them (headroom/proxy/transport.py),
    created at startup and closed at shutdown."""

    def __init__(self, settings: Settings) -> None:
        timeouts = Timeouts(connect=settings.connect_timeout, read=settings.read_timeout, pool=30.0)
        self._origins = {
            "anthropic": Origin.parse(settings.anthropic_api_url),
            "openai": Origin.parse(settings.openai_api_url),
        }
        direct = Http11Client(timeouts, PoolLimits(max_connections=512, max_keepalive=128, keepalive_expiry=60.0))
        self._clients: dict[str, UpstreamClient] = {}
        for name, origin in self._origins.items():
            proxy = environment_proxy(origin)
            self._clients[name] = direct if proxy is None else ProxiedClient(proxy, timeouts)

    async def open(
        self,
        upstream: str,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
    ) -> httpx.Response:
        """Send the request and return the response with its body still unread (a stream)."""
        origin = self._origins[upstream]
        if upstream == "openai" and origin.prefix.endswith("/v1") and path.startswith("/v1"):
            path = path[3:]
        try:
            target = request_target(origin.prefix, path, query)
            return await self._clients[upstream].send(origin, method, target, headers, body)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"upstream {upstream} timed out ({type(exc).__name__})") from exc
        except httpx.ConnectError as exc:
            raise UpstreamUnreachable(f"upstream {upstream} is unreachable") from exc
        except httpx.HTTPError as exc:
            raise UpstreamUnreachable(f"upstream {upstream} failed: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        for client in {id(client): client for client in self._clients.values()}.values():
            await client.aclose()


def translate_stream_error(exc: httpx.HTTPError) -> UpstreamError:
    """An error that happened after the response started, as a Headroom error."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout("upstream stopped sending (read timeout)")
    return UpstreamUnreachable(f"upstream connection lost ({type(exc).__name__})")


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value if value else None
