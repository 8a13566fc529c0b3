"""Access control: Headroom keys for a shared deployment (every route but the probes) and API keys for the
hosted compression endpoints. Keys are compared in constant time and never logged."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence

import falcon.asgi

from headroom.accounting.tenant import api_key_from_headers
from headroom.config import Settings
from headroom.errors import Unauthorized

PROXY_KEY_HEADER = "x-headroom-key"
OPEN_PATHS = frozenset({"/livez", "/readyz", "/health"})


def key_matches(candidate: str | None, keys: Sequence[str]) -> bool:
    """Constant-time membership: every configured key is compared, whatever matches first."""
    if not candidate:
        return False
    supplied = candidate.encode("utf-8")
    found = False
    for key in keys:
        found |= hmac.compare_digest(supplied, key.encode("utf-8"))
    return found


def require_api_key(headers: Mapping[str, str], settings: Settings) -> None:
    """For /v1/compress and /v1/retrieve when HEADROOM_API_KEYS is set."""
    if not settings.api_keys:
        return
    lowered = {k.lower(): v for k, v in headers.items()}
    candidates = (lowered.get(PROXY_KEY_HEADER), api_key_from_headers(lowered))
    if not any([key_matches(candidate, settings.api_keys) for candidate in candidates]):
        raise Unauthorized("a valid API key is required (x-api-key, Authorization: Bearer or x-headroom-key)")


class ProxyKeyMiddleware:
    """With HEADROOM_PROXY_KEYS set, every request except the health probes must carry a valid x-headroom-key.
    The header is never forwarded upstream (all x-headroom-* headers are stripped)."""

    def __init__(self, settings: Settings) -> None:
        self._keys = settings.proxy_keys

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        if req.path in OPEN_PATHS:
            return
        if not key_matches(req.get_header(PROXY_KEY_HEADER), self._keys):
            raise Unauthorized(f"this Headroom deployment requires a valid {PROXY_KEY_HEADER} header")
