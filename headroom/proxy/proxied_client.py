"""The upstream client for origins the environment routes through an outbound proxy (HTTPS_PROXY, HTTP_PROXY,
ALL_PROXY, minus NO_PROXY), as corporate networks do.

The lean HTTP/1.1 client (headroom/proxy/transport.py) only connects directly; for a proxied origin Headroom uses
httpx, which speaks CONNECT tunnels and proxy authentication. It offers the same `send` as the lean client.
"""

from __future__ import annotations

import urllib.request

import httpx

from headroom.proxy.transport import Origin, Timeouts

_HTTPX_DEFAULT_HEADERS = frozenset({"accept", "accept-encoding", "connection", "user-agent"})
"""What httpx adds on its own; the upstream gets the client's headers only, as on the direct path."""


def environment_proxy(origin: Origin) -> str | None:
    """The proxy URL the environment names for this origin, or None to connect directly."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get("https" if origin.tls else "http") or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(origin.host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


class ProxiedClient:
    """httpx through one outbound proxy; responses come back streaming, their bodies unread."""

    def __init__(self, proxy: str, timeouts: Timeouts) -> None:
        timeout = httpx.Timeout(connect=timeouts.connect, read=timeouts.read, write=timeouts.read, pool=timeouts.pool)
        self._client = httpx.AsyncClient(proxy=proxy, timeout=timeout, follow_redirects=False)

    async def send(
        self, origin: Origin, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> httpx.Response:
        url = f"{'https' if origin.tls else 'http'}://{origin.authority}{target}"
        request = self._client.build_request(method, url, headers=headers, content=body)
        given = {name.lower() for name, _ in headers}
        for name in _HTTPX_DEFAULT_HEADERS - given:
            del request.headers[name]
        return await self._client.send(request, stream=True)

    async def aclose(self) -> None:
        await self._client.aclose()
