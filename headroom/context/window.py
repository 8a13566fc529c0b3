"""Keeps a request inside the model's context window: first compress deeper, then drop the lowest-scored units
(IntelligentContextManager) or the oldest (RollingWindow), leaving a CCR marker where messages were dropped.

Drops are remembered per conversation, so turn N+1 drops the same messages (plus possibly more) and the bytes
before them stay stable for the prompt cache.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from headroom.accounting.prices import context_window
from headroom.accounting.tokens import count_tokens
from headroom.ccr import markers
from headroom.config import Settings
from headroom.context.decision import ContextDecision
from headroom.context.deepen import compress_deeper
from headroom.context.scoring import importance_scores, position_scores
from headroom.context.splice import message_list, splice_out
from headroom.context.units import Unit, atomic_units
from headroom.pipeline.memo import LruCache
from headroom.pipeline.pipeline import OptimizeResult, Pipeline
from headroom.providers.base import JSONObject, Message, Provider
from headroom.store.interfaces import Stores

DROPS_FLAG = "context_drops"
# Once dropping is needed, drop down to this share of the budget so the next turns fit without new drops
# (every new drop changes bytes in the middle of the prefix and costs a cache write).
REFILL_TARGET = 0.6
# Request bytes that are always an upper bound of its token count, plus room for the retrieval tool.
_TOOL_SLACK_BYTES = 2048

LearnedImportance = Callable[[Provider, JSONObject], Mapping[int, float]]


def _canonical(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


class ContextManager:
    """One per app; stateless between requests except an in-process token-count memo."""

    def __init__(self, settings: Settings, stores: Stores, pipeline: Pipeline, learned: LearnedImportance) -> None:
        self._settings = settings
        self._stores = stores
        self._pipeline = pipeline
        self._learned = learned
        self._memo: LruCache[str, int] = LruCache(32768)

    def budget(self, body: JSONObject, model: str) -> tuple[int, int]:
        """(context limit, input budget): the limit less the output the request reserves (at most a quarter)."""
        limit = self._settings.context_limit or context_window(model)
        reserved = body.get("max_tokens") or body.get("max_completion_tokens") or body.get("max_output_tokens")
        reserve = min(reserved, limit // 4) if isinstance(reserved, int) and not isinstance(reserved, bool) else 0
        return limit, limit - reserve

    def might_overflow(self, body: JSONObject, model: str, size: int) -> bool:
        """False when a body of `size` bytes surely fits (a token is at least one byte): nothing to count."""
        return size + _TOOL_SLACK_BYTES > self.budget(body, model)[1]

    def fit(
        self,
        provider: Provider,
        body: JSONObject,
        *,
        tenant: str,
        conversation: str,
        size_bound: int,
        original: Callable[[], JSONObject],
        optimized: OptimizeResult,
    ) -> ContextDecision:
        """Make `body` (already optimized by the pipeline) fit the model's window, in place.

        `size_bound` is the client body's byte length: a request that small fits without counting anything.
        `original` re-parses the client's body (for the deeper compression pass)."""
        limit, budget = self.budget(body, provider.model(body))
        decision = ContextDecision(limit=limit)
        if not self.might_overflow(body, provider.model(body), size_bound):
            return decision
        total = self.request_tokens(provider, body)
        decision.tokens_before = decision.tokens_after = total
        if total <= budget and not self._remembered(conversation):
            return decision
        if total > budget and self._settings.compress_first:
            deeper = compress_deeper(self._pipeline, provider, body, original(), tenant, conversation, optimized)
            if deeper:
                total = self.request_tokens(provider, body)
                decision.compress_freed = decision.tokens_before - total
        decision.tokens_after = total
        self._drop(provider, body, tenant, conversation, budget, decision, optimized)
        if optimized.has_markers:
            self._pipeline.keep_retrieval_tool(provider, body, conversation, optimized)
        return decision

    def request_tokens(self, provider: Provider, body: JSONObject) -> int:
        """Tokens of everything the model reads: tools, system/instructions and each message (memoized)."""
        head = {k: body.get(k) for k in ("tools", "system", "instructions") if body.get(k) is not None}
        parts = [self._tokens(_canonical(head))] if head else []
        parts.extend(self._tokens(_canonical(item)) for item in message_list(provider.name, body))
        return sum(parts)

    def _tokens(self, serialized: str) -> int:
        key = markers.content_hash(serialized)
        cached = self._memo.get(key)
        if cached is None:
            cached = count_tokens(serialized)
            self._memo.put(key, cached)
        return cached

    def _remembered(self, conversation: str) -> list[str]:
        raw = self._stores.conversations.get_flag(conversation, DROPS_FLAG, time.time())
        return list(json.loads(raw)) if raw else []

    def _drop(
        self,
        provider: Provider,
        body: JSONObject,
        tenant: str,
        conversation: str,
        budget: int,
        decision: ContextDecision,
        optimized: OptimizeResult,
    ) -> None:
        items = message_list(provider.name, body)
        messages = provider.messages(body)
        units = atomic_units(messages)
        digests = [markers.content_hash(_canonical(item)) for item in items]
        sizes = [self._tokens(_canonical(item)) for item in items]
        remembered = set(self._remembered(conversation))
        chosen = [u for u in units if not u.protected and all(digests[i] in remembered for i in u.indices)]
        decision.remembered_drops = sum(len(u.indices) for u in chosen)
        total = decision.tokens_after - sum(sizes[i] for u in chosen for i in u.indices)
        if total > budget:
            decision.strategy = self._strategy()
            target = int(budget * REFILL_TARGET)
            for unit in self._drop_order(provider, body, units, messages, chosen):
                if total <= target:
                    break
                chosen.append(unit)
                total -= sum(sizes[i] for i in unit.indices)
        decision.over_limit = total > budget
        if not chosen:
            return
        dropped = sorted(i for u in chosen for i in u.indices)
        spans = self._store_spans(tenant, items, dropped, sizes, decision)
        splice_out(provider.name, body, spans)
        decision.dropped_messages = len(dropped)
        decision.dropped_tokens = sum(sizes[i] for i in dropped)
        decision.tokens_after = self.request_tokens(provider, body)
        self._remember(conversation, remembered | {digests[i] for i in dropped})
        optimized.changed = optimized.has_markers = True
        optimized.ccr_hashes.extend(decision.ccr_hashes)
        optimized.tokens_before += decision.dropped_tokens
        optimized.transforms.append(f"context:{decision.strategy or 'remembered'}:{len(dropped)}")

    def _strategy(self) -> str:
        if not self._settings.intelligent_context:
            return "rolling"
        return "intelligent" if self._settings.intelligent_scoring else "position"

    def _drop_order(
        self,
        provider: Provider,
        body: JSONObject,
        units: Sequence[Unit],
        messages: Sequence[Message],
        chosen: Sequence[Unit],
    ) -> list[Unit]:
        """Droppable units, first to drop first: oldest first (rolling, position) or lowest score first."""
        taken = {u.start for u in chosen}
        candidates = [u for u in units if not u.protected and u.start not in taken]
        if not self._settings.intelligent_context:
            return candidates
        if self._settings.intelligent_scoring:
            learned = self._learned(provider, body)
            query = provider.latest_user_text(body)
            scores = importance_scores(units, messages, query, learned, embedding_model=self._settings.kompress_model)
        else:
            scores = position_scores(units)
        by_start = {u.start: s for u, s in zip(units, scores, strict=True)}
        return sorted(candidates, key=lambda u: (by_start[u.start], u.start))

    def _store_spans(
        self, tenant: str, items: list[Any], dropped: list[int], sizes: list[int], decision: ContextDecision
    ) -> list[tuple[int, int, str]]:
        """Store each contiguous run of dropped messages in CCR and build its marker."""
        runs: list[list[int]] = []
        for index in dropped:
            if runs and runs[-1][-1] == index - 1:
                runs[-1].append(index)
            else:
                runs.append([index])
        spans: list[tuple[int, int, str]] = []
        expires = time.time() + self._settings.ccr_ttl
        for run in runs:
            original = json.dumps([items[i] for i in run], ensure_ascii=False, indent=1)
            ccr_hash = markers.content_hash(original)
            self._stores.blobs.put_blob(tenant, ccr_hash, original.encode("utf-8", "surrogatepass"), expires)
            kind = f"{len(run)} earlier messages"
            text = markers.marker(ccr_hash, kind, sum(sizes[i] for i in run), 0).strip()
            spans.append((run[0], run[-1], text))
            decision.ccr_hashes.append(ccr_hash)
        return spans

    def _remember(self, conversation: str, digests: set[str]) -> None:
        expires = time.time() + self._settings.ccr_ttl
        self._stores.conversations.set_flag(conversation, DROPS_FLAG, json.dumps(sorted(digests)), expires)
