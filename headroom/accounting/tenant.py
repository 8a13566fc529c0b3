"""Tenant identity: a salted hash of the client's API key, so budgets, rate limits, caches and CCR originals are
scoped per key without ever storing or logging the key itself."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

ANONYMOUS = "anonymous"
TENANT_HEX_CHARS = 16


def tenant_id(api_key: str | None, salt: str) -> str:
    """A short hex digest of SHA-256(salt, key); `ANONYMOUS` when the request carries no key."""
    if not api_key:
        return ANONYMOUS
    digest = hashlib.sha256()
    digest.update(salt.encode("utf-8"))
    digest.update(b"\x00")
    digest.update(api_key.encode("utf-8"))
    return digest.hexdigest()[:TENANT_HEX_CHARS]


def api_key_from_headers(headers: Mapping[str, str]) -> str | None:
    """The API key a client sent: `x-api-key` (Anthropic), `Authorization: Bearer` (OpenAI), or `api-key`
    (Azure OpenAI). Header names are matched case-insensitively."""
    lowered = {name.lower(): value for name, value in headers.items()}
    direct = lowered.get("x-api-key", "").strip()
    if direct:
        return direct
    scheme, _, credentials = lowered.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    azure = lowered.get("api-key", "").strip()
    return azure or None
