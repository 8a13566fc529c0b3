"""Thin Falcon resources for the LLM endpoints and the passthrough sink."""

from __future__ import annotations

from typing import Any

import falcon.asgi

from headroom.config import Settings
from headroom.providers.base import Provider
from headroom.proxy.request_io import incoming_from, write_outgoing
from headroom.proxy.service import ProxyService

OPENAI_PREFIXES = ("/v1/chat", "/v1/responses", "/v1/completions", "/v1/embeddings", "/v1/audio", "/v1/images")


def upstream_for(path: str, headers: dict[str, str]) -> str:
    """Which upstream an unknown path belongs to: Anthropic's headers win, then OpenAI's paths and bearer auth;
    Anthropic is the default backend."""
    if "anthropic-version" in headers or "x-api-key" in headers or path.startswith(("/v1/messages", "/v1/complete")):
        return "anthropic"
    if path.startswith(OPENAI_PREFIXES) or headers.get("authorization", "").lower().startswith("bearer "):
        return "openai"
    return "anthropic"


class LlmResource:
    def __init__(self, settings: Settings, service: ProxyService, provider: Provider) -> None:
        self._settings = settings
        self._service = service
        self._provider = provider

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        incoming = await incoming_from(req, self._settings)
        write_outgoing(resp, await self._service.forward_llm(self._provider, incoming))


class PassthroughSink:
    def __init__(self, settings: Settings, service: ProxyService) -> None:
        self._settings = settings
        self._service = service

    async def __call__(self, req: falcon.asgi.Request, resp: falcon.asgi.Response | None, **_: Any) -> None:
        if resp is None:  # a WebSocket reached the sink: not proxied
            return
        incoming = await incoming_from(req, self._settings)
        lowered = {k.lower(): v for k, v in incoming.headers}
        write_outgoing(resp, await self._service.forward_raw(upstream_for(incoming.path, lowered), incoming))
