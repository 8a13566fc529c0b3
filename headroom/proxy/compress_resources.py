"""The hosted compression API: `POST /v1/compress` (compress messages, no LLM call) and `POST /v1/retrieve`
(the original behind a CCR hash, for the tenant that stored it)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import falcon
import falcon.asgi

from headroom.accounting.tokens import count_tokens
from headroom.ccr.retrieval import lookup_original
from headroom.config import Settings
from headroom.context.identity import conversation_id
from headroom.errors import CompressionFailed, InvalidRequest, NotFound
from headroom.pipeline.pipeline import OptimizeResult, Pipeline
from headroom.providers.anthropic import AnthropicProvider
from headroom.providers.base import JSONObject, Provider, parse_json_body
from headroom.providers.openai_chat import OpenAIChatProvider
from headroom.proxy.access import require_api_key
from headroom.proxy.request_io import incoming_from
from headroom.store.interfaces import BlobStore

_OPENAI_ROLES = frozenset({"tool", "function", "developer"})


def provider_for_messages(payload: JSONObject) -> Provider:
    """`format` if given, else OpenAI when a message looks like OpenAI's (tool role, tool_calls), else Anthropic."""
    declared = payload.get("format")
    if declared is not None:
        if declared not in ("anthropic", "openai"):
            raise InvalidRequest("format: expected 'anthropic' or 'openai'")
        return AnthropicProvider() if declared == "anthropic" else OpenAIChatProvider()
    for message in payload["messages"]:
        if isinstance(message, dict) and (message.get("role") in _OPENAI_ROLES or "tool_calls" in message):
            return OpenAIChatProvider()
        content = message.get("content") if isinstance(message, dict) else None
        if content is None:
            return OpenAIChatProvider()
    return AnthropicProvider()


def compression_report(before: list[Any], body: JSONObject, result: OptimizeResult) -> JSONObject:
    tokens_before = count_tokens(json.dumps(before, ensure_ascii=False))
    tokens_after = count_tokens(json.dumps(body["messages"], ensure_ascii=False)) if result.changed else tokens_before
    ratio = round(tokens_after / tokens_before, 4) if tokens_before else 1.0
    return {
        "messages": body["messages"],
        "tokens_before": tokens_before,
        "tokens_after": tokens_after,
        "tokens_saved": tokens_before - tokens_after,
        "compression_ratio": ratio,
        "transforms_applied": [f"router:{name}" for name in result.transforms],
        "ccr_hashes": result.ccr_hashes,
    }


class CompressResource:
    def __init__(self, settings: Settings, pipeline: Pipeline) -> None:
        self._settings = settings
        self._pipeline = pipeline

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        incoming = await incoming_from(req, self._settings)
        require_api_key(dict(incoming.headers), self._settings)
        payload = parse_json_body(incoming.body)
        if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
            raise InvalidRequest("messages: required, an array of messages")
        provider = provider_for_messages(payload)
        body: JSONObject = {"model": str(payload.get("model") or "unknown"), "messages": payload["messages"]}
        provider.validate(body)
        original = json.loads(json.dumps(body["messages"]))
        if (incoming.header("x-headroom-bypass") or "").lower() == "true":
            resp.media = compression_report(original, body, OptimizeResult())
            return
        conversation = conversation_id(incoming.tenant, dict(incoming.headers), provider, body)
        try:
            result = await asyncio.to_thread(
                self._pipeline.optimize, provider, body, tenant=incoming.tenant, conversation=conversation
            )
        except Exception as exc:
            raise CompressionFailed(f"compression failed: {type(exc).__name__}") from exc
        if result.failures:
            raise CompressionFailed(f"compression failed for {result.failures} block(s); nothing was changed")
        body.pop("tools", None)
        resp.media = compression_report(original, body, result)


class RetrieveResource:
    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        self._settings = settings
        self._blobs = blobs

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        incoming = await incoming_from(req, self._settings)
        require_api_key(dict(incoming.headers), self._settings)
        payload = parse_json_body(incoming.body)
        if not isinstance(payload, dict) or not isinstance(payload.get("hash"), str) or not payload["hash"]:
            raise InvalidRequest("hash: required, a non-empty string")
        query = payload.get("query") or ""
        if not isinstance(query, str):
            raise InvalidRequest("query: expected a string")
        found = await asyncio.to_thread(lookup_original, self._blobs, incoming.tenant, payload["hash"], query)
        if found is None:
            raise NotFound(f"no original is stored for hash {payload['hash']!r} (unknown, expired or not yours)")
        resp.status = falcon.HTTP_200
        resp.media = {"hash": payload["hash"], "query": query or None, "content": found}
