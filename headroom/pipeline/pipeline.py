"""Optimizes one parsed request in place: picks the blocks that may change (cache-safe rules), compresses them
through the router, stores originals in CCR, remembers each conversation's forms, and fails open.

Cache-safety rules, per block (see docs/architecture.md):
- a block whose content this conversation already sent is sent again in exactly the form sent before;
- a new block in the newest turn (after the last assistant message) may be compressed;
- a new block in an older turn may be compressed only in token mode and only after the last breakpoint.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from headroom.accounting.tokens import count_tokens
from headroom.ccr import markers
from headroom.config import Settings
from headroom.context.decision import ContextDecision
from headroom.pipeline.memo import LruCache, text_bytes
from headroom.pipeline.router import compress_block
from headroom.pipeline.types import Compressed, CompressionContext
from headroom.providers.base import Block, JSONObject, Provider
from headroom.store.interfaces import Stores

CompressFn = Callable[[str, CompressionContext], Compressed | None]
UNCHANGED = "\x00"
# The forms memo only spares recompressing a block that its conversation has not remembered yet (a retry, the
# same output in another conversation or a subagent): 8 MB holds ~1,000 compressed forms of 8 KB.
FORMS_BYTES = 8 << 20
RETRIEVAL_FLAG = "retrieval_tool"


@dataclass(slots=True)
class OptimizeResult:
    changed: bool = False
    tokens_before: int = 0
    tokens_after: int = 0
    transforms: list[str] = field(default_factory=list)
    ccr_hashes: list[str] = field(default_factory=list)
    failures: int = 0
    reused_forms: int = 0
    retrieval_enabled: bool = False
    has_markers: bool = False
    context: ContextDecision = field(default_factory=ContextDecision)

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after


@dataclass(frozen=True, slots=True)
class _Form:
    text: str
    transform: str
    tokens_before: int
    tokens_after: int
    ccr_hash: str | None


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _form_bytes(form: _Form) -> int:
    return text_bytes(form.text)


def _default_compress(text: str, ctx: CompressionContext) -> Compressed | None:
    return compress_block(text, ctx)


def _last_assistant_index(provider: Provider, body: JSONObject) -> int:
    last = -1
    for message in provider.messages(body):
        if message.role == "assistant":
            last = message.index
    return last


class Pipeline:
    def __init__(self, settings: Settings, stores: Stores, compress: CompressFn | None = None) -> None:
        self._settings = settings
        self._stores = stores
        self._compress = compress or _default_compress
        self._memo: LruCache[tuple[str, str, int], _Form] = LruCache(4096, FORMS_BYTES, _form_bytes)
        self._token_memo: LruCache[str, int] = LruCache(16384)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="headroom-compress")
        self._min_chars = settings.min_compress_tokens * 3

    @property
    def stores(self) -> Stores:
        return self._stores

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def worth_trying(self, blocks: list[Block]) -> bool:
        """Cheap pre-check: is any block large enough to be compressed or remembered?"""
        return any(len(block.text) >= self._min_chars for block in blocks)

    def tokens(self, text: str) -> int:
        key = _digest(text)
        cached = self._token_memo.get(key)
        if cached is None:
            cached = count_tokens(text)
            self._token_memo.put(key, cached)
        return cached

    def optimize(
        self,
        provider: Provider,
        body: JSONObject,
        *,
        tenant: str,
        conversation: str,
        depth: int = 1,
        keep_patterns: Mapping[str, tuple[str, ...]] | None = None,
    ) -> OptimizeResult:
        """Compress the request body in place and report what changed. Never raises for a compressor fault.
        `keep_patterns` are TOIN's keep-rules per tool name (frozen per conversation)."""
        result = OptimizeResult()
        blocks = [b for b in provider.blocks(body) if len(b.text) >= self._min_chars]
        if not blocks:
            return result
        now = time.time()
        hashes = [_digest(b.text) for b in blocks]
        remembered = self._stores.conversations.get_forms(conversation, sorted(set(hashes)), now)
        newest_after = _last_assistant_index(provider, body)
        query = provider.latest_user_text(body)
        new_forms: dict[str, str] = {}
        for block, digest in zip(blocks, hashes, strict=True):
            form_text = remembered.get(digest)
            if form_text is not None:
                if form_text != UNCHANGED:
                    result.reused_forms += 1
                    self._apply(block, form_text, result)
                continue
            in_newest_turn = block.message_index > newest_after
            if not in_newest_turn and (block.frozen or self._settings.mode == "cache"):
                continue
            keep = (keep_patterns or {}).get(block.tool_name, ())
            form = self._form_for(block, digest, query, tenant, depth, keep, result)
            new_forms[digest] = UNCHANGED if form is None else form.text
            if form is not None:
                result.transforms.append(form.transform)
                if form.ccr_hash:
                    result.ccr_hashes.append(form.ccr_hash)
                self._apply(block, form.text, result)
        if new_forms:
            self._stores.conversations.put_forms(conversation, new_forms, now + self._settings.ccr_ttl)
        flagged = self._stores.conversations.get_flag(conversation, RETRIEVAL_FLAG, now) is not None
        if flagged or result.has_markers:
            self._enable_retrieval_tool(provider, body, conversation, result, flagged=flagged)
        return result

    def keep_retrieval_tool(
        self, provider: Provider, body: JSONObject, conversation: str, result: OptimizeResult
    ) -> None:
        """The retrieval tool joins the conversation's tools now and stays for the rest of it, so the tools
        prefix never flips."""
        flagged = self._stores.conversations.get_flag(conversation, RETRIEVAL_FLAG, time.time()) is not None
        self._enable_retrieval_tool(provider, body, conversation, result, flagged=flagged)

    def _enable_retrieval_tool(
        self, provider: Provider, body: JSONObject, conversation: str, result: OptimizeResult, *, flagged: bool
    ) -> None:
        if markers.ensure_tool(provider.name, body):
            result.changed = True
        result.retrieval_enabled = True
        if not flagged:
            expires = time.time() + self._settings.ccr_ttl
            self._stores.conversations.set_flag(conversation, RETRIEVAL_FLAG, "1", expires)

    def _apply(self, block: Block, text: str, result: OptimizeResult) -> None:
        before = self.tokens(block.text)
        after = self.tokens(text)
        block.set_text(text)
        result.changed = True
        result.has_markers = result.has_markers or markers.RETRIEVE_TOOL in text
        result.tokens_before += before
        result.tokens_after += after

    def _form_for(
        self,
        block: Block,
        digest: str,
        query: str,
        tenant: str,
        depth: int,
        keep: tuple[str, ...],
        result: OptimizeResult,
    ) -> _Form | None:
        full_query = f"{query}\n{block.tool_name}".strip()
        memo_key = (digest, _digest("\x1f".join((full_query, *keep))), depth)
        form = self._memo.get(memo_key)
        if form is None:
            ctx = CompressionContext(
                query=full_query,
                tool_name=block.tool_name,
                depth=depth,
                keep_patterns=keep,
                code_aware=self._settings.code_aware,
                embedding_model=self._settings.kompress_model,
            )
            future = self._executor.submit(self._compress, block.text, ctx)
            try:
                compressed = future.result(timeout=self._settings.compress_timeout)
            except Exception:  # fail open on any compressor fault (timeouts included), and count it
                result.failures += 1
                return None
            form = self._build_form(block.text, compressed)
            if form is None:
                return None
            self._memo.put(memo_key, form)
        if form.ccr_hash is not None:
            expires = time.time() + self._settings.ccr_ttl
            self._stores.blobs.put_blob(tenant, form.ccr_hash, block.text.encode("utf-8", "surrogatepass"), expires)
        return form

    def _build_form(self, original: str, compressed: Compressed | None) -> _Form | None:
        if compressed is None:
            return None
        before = self.tokens(original)
        text = compressed.text
        ccr_hash = None
        if not compressed.lossless:
            ccr_hash = markers.content_hash(original)
            text += markers.marker(ccr_hash, compressed.transform.split(":")[0], before, self.tokens(compressed.text))
        after = self.tokens(text)
        if after >= before * 0.9:
            return None
        return _Form(text, compressed.transform, before, after, ccr_hash)
