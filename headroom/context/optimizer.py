"""One request's optimization as a single synchronous call (the service runs it in a worker thread):
repeated outputs folded → TOIN's frozen keep-rules → the compression pipeline → TOIN observations → the context
window → the cache aligner."""

from __future__ import annotations

import json
from collections.abc import Callable

from headroom.ccr import markers
from headroom.config import Settings
from headroom.context.cache_accounting import CacheTracker, prefix_print
from headroom.context.cache_aligner import volatile_spans
from headroom.context.repeats import RepeatFolder
from headroom.context.window import ContextManager
from headroom.learning.toin import Toin
from headroom.pipeline.pipeline import OptimizeResult, Pipeline
from headroom.providers.base import Block, JSONObject, Provider


class RequestOptimizer:
    def __init__(self, settings: Settings, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self.toin = Toin(pipeline.stores, settings.ccr_ttl)
        self.context = ContextManager(settings, pipeline.stores, pipeline, self.toin.learned_importance)
        self.cache = CacheTracker(pipeline.stores.conversations, settings.ccr_ttl)
        self.repeats = RepeatFolder(
            pipeline.stores, settings.min_compress_tokens * 3, settings.ccr_ttl, pipeline.tokens
        )

    def worth_trying(self, provider: Provider, body: JSONObject, size: int) -> bool:
        """Cheap pre-check: an agent request (it has tools), a block worth compressing, or a body that might
        not fit the context window."""
        if _has_tools(body) or self._pipeline.worth_trying(provider.blocks(body)):
            return True
        return self.context.might_overflow(body, provider.model(body), size)

    def run(
        self, provider: Provider, body: JSONObject, *, tenant: str, conversation: str, raw: bytes
    ) -> OptimizeResult:
        """Optimize `body` in place; `raw` is the client's body (re-parsed for the deeper pass and counted as
        the upper bound of its tokens)."""
        volatile = len(volatile_spans(body))
        client_print = prefix_print(body) if provider.name == "anthropic" else None
        originals = self._compressible(provider, body)
        folded = self.repeats.fold(provider, body, tenant=tenant, conversation=conversation)
        result = self._pipeline.optimize(
            provider, body, tenant=tenant, conversation=conversation, keep_patterns=self.toin.rules_for(conversation)
        )
        compressed = {h: originals[h] for h in result.ccr_hashes if h in originals}
        if compressed:
            self.toin.observe_compressions(tenant, compressed)
        folded.merge_into(result)
        result.context = self.context.fit(
            provider,
            body,
            tenant=tenant,
            conversation=conversation,
            size_bound=len(raw),
            original=_reparse(provider, raw),
            optimized=result,
        )
        result.context.cache_volatile = volatile
        if _has_tools(body) or result.has_markers:
            # The retrieval tool joins an agent's tools from its first request: appending it later, when the
            # first marker appears, would change the very start of the cached prefix (tools come first).
            self._pipeline.keep_retrieval_tool(provider, body, conversation, result)
        if client_print is not None:
            check = self.cache.observe_prints(conversation, client_print, prefix_print(body))
            result.context.proxy_cache_bust = check is not None and check.proxy_caused_bust
        return result

    def observe_retrieval(self, tenant: str, ccr_hash: str, query: str, original: str | None) -> None:
        self.toin.observe_retrieval(tenant, ccr_hash, query, original)

    def _compressible(self, provider: Provider, body: JSONObject) -> dict[str, Block]:
        """The blocks the pipeline may compress, by the CCR hash their original would be stored under."""
        blocks = [b for b in provider.blocks(body) if self._pipeline.worth_trying([b])]
        return {markers.content_hash(b.text): b for b in blocks}


def _has_tools(body: JSONObject) -> bool:
    tools = body.get("tools")
    return isinstance(tools, list) and bool(tools)


def _reparse(provider: Provider, raw: bytes) -> Callable[[], JSONObject]:
    def parse() -> JSONObject:
        return provider.validate(json.loads(raw))

    return parse
