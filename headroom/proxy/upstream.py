"""Pooled upstream HTTP clients (one per provider) and the one place httpx errors become Headroom errors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import httpx

from headroom.config import Settings
from headroom.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable
from headroom.proxy.transport import Http11Transport, PoolLimits

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


def forward_request_headers(headers: Iterable[tuple[str, str]], *, identity: bool) -> list[tuple[str, str]]:
    """Client headers for upstream: hop-by-hop and Headroom's own `x-headroom-*` removed. With `identity`,
    ask for an uncompressed body so the proxy can read usage from it."""
    out = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and not k.lower().startswith("x-headroom-")]
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


class Upstreams:
    """The upstream base URLs and one pooled HTTP/1.1 transport for all of them (headroom/proxy/transport.py),
    created at startup and closed at shutdown."""

    def __init__(self, settings: Settings) -> None:
        self._timeout = httpx.Timeout(
            connect=settings.connect_timeout, read=settings.read_timeout, write=settings.read_timeout, pool=30.0
        ).as_dict()
        self._bases = {
            "anthropic": settings.anthropic_api_url.rstrip("/"),
            "openai": settings.openai_api_url.rstrip("/"),
        }
        self._transport = Http11Transport(PoolLimits(max_connections=512, max_keepalive=128, keepalive_expiry=60.0))

    def url(self, upstream: str, path: str, query: str) -> str:
        base = self._bases[upstream]
        if upstream == "openai" and base.endswith("/v1") and path.startswith("/v1"):
            path = path[3:]
        return f"{base}{path}?{query}" if query else f"{base}{path}"

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
        request = httpx.Request(
            method,
            self.url(upstream, path, query),
            headers=headers,
            content=body,
            extensions={"timeout": self._timeout},
        )
        try:
            return await self._transport.handle_async_request(request)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"upstream {upstream} timed out ({type(exc).__name__})") from exc
        except httpx.ConnectError as exc:
            raise UpstreamUnreachable(f"upstream {upstream} is unreachable") from exc
        except httpx.HTTPError as exc:
            raise UpstreamUnreachable(f"upstream {upstream} failed: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        await self._transport.aclose()


def translate_stream_error(exc: httpx.HTTPError) -> UpstreamError:
    """An error that happened after the response started, as a Headroom error."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout("upstream stopped sending (read timeout)")
    return UpstreamUnreachable(f"upstream connection lost ({type(exc).__name__})")


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value if value else None
