"""Conversation identity: never mixes two conversations.

An explicit `x-headroom-session-id` header wins, then Claude Code's `x-claude-code-session-id`, else a hash of
the model, the system prompt and the first user turn (which every later turn of a conversation repeats).
The tenant is part of the identity so two tenants never share conversation memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from headroom.providers.base import JSONObject, Provider

SESSION_HEADERS = ("x-headroom-session-id", "x-claude-code-session-id")


def conversation_id(tenant: str, headers: Mapping[str, str], provider: Provider, body: JSONObject) -> str:
    for name in SESSION_HEADERS:
        value = headers.get(name)
        if value:
            return _hash(tenant, provider.name, "session", value)
    messages = provider.messages(body)
    first_user = next((m.text for m in messages if m.role == "user"), "")
    system = body.get("system", body.get("instructions", ""))
    if provider.name == "openai":
        system = next((m.text for m in messages if m.role in ("system", "developer")), "")
    system_text = system if isinstance(system, str) else json.dumps(system, sort_keys=True)
    return _hash(tenant, provider.name, provider.model(body), system_text, first_user)


def _hash(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()[:32]
