"""Pooled upstream HTTP clients (one per provider) and the one place httpx errors become Headroom errors."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

import httpx

from headroom.config import Settings
from headroom.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable

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


POOL_SHARDS = 16


class Upstreams:
    """Pooled AsyncClients per upstream base URL, created at startup and closed at shutdown. Each upstream's pool
    is split into `POOL_SHARDS` clients used in turn: httpcore rescans every connection of a pool (quadratically,
    with a socket check per idle one) on each request start and finish, so 32 connections in one pool cost more
    CPU than the proxy's own work; 16 small pools keep that scan short. The connection limits are totals.
    The shards share one TLS context: building one loads the CA bundle (tens of ms and about a MB each)."""

    def __init__(self, settings: Settings) -> None:
        timeout = httpx.Timeout(
            connect=settings.connect_timeout, read=settings.read_timeout, write=settings.read_timeout, pool=30.0
        )
        limits = httpx.Limits(
            max_connections=512 // POOL_SHARDS,
            max_keepalive_connections=128 // POOL_SHARDS,
            keepalive_expiry=60.0,
        )
        self._bases = {
            "anthropic": settings.anthropic_api_url.rstrip("/"),
            "openai": settings.openai_api_url.rstrip("/"),
        }
        tls = httpx.create_ssl_context(trust_env=False)
        self._clients = {
            name: [
                httpx.AsyncClient(timeout=timeout, limits=limits, verify=tls, follow_redirects=False, trust_env=False)
                for _ in range(POOL_SHARDS)
            ]
            for name in self._bases
        }
        self._turn = itertools.count()

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
        shards = self._clients[upstream]
        client = shards[next(self._turn) % len(shards)]
        request = client.build_request(method, self.url(upstream, path, query), headers=headers, content=body)
        try:
            return await client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"upstream {upstream} timed out ({type(exc).__name__})") from exc
        except httpx.ConnectError as exc:
            raise UpstreamUnreachable(f"upstream {upstream} is unreachable") from exc
        except httpx.HTTPError as exc:
            raise UpstreamUnreachable(f"upstream {upstream} failed: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        for shards in self._clients.values():
            for client in shards:
                await client.aclose()


def translate_stream_error(exc: httpx.HTTPError) -> UpstreamError:
    """An error that happened after the response started, as a Headroom error."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout("upstream stopped sending (read timeout)")
    return UpstreamUnreachable(f"upstream connection lost ({type(exc).__name__})")


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value if value else None
