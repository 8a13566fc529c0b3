"""Exact-match response cache: a key over the request's content (not its per-request ids, cache hints or
`stream` flag), successful responses kept in one canonical non-streaming form, and replay as JSON or SSE."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from headroom.accounting.sse_assembly import assemble
from headroom.accounting.sse_replay import render_sse
from headroom.config import Settings
from headroom.store.interfaces import CachedResponse, InlineResponseReads, ResponseCacheStore

Defer = Callable[..., None]
JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"
# Fields that identify a request or steer provider-side caching without changing what the model answers.
IGNORED_TOP_LEVEL = frozenset({"stream", "stream_options", "user", "safety_identifier", "prompt_cache_key"})
IGNORED_METADATA = frozenset({"user_id"})
IGNORED_ANYWHERE = frozenset({"cache_control"})


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _canonical(item) for key, item in value.items() if key not in IGNORED_ANYWHERE}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def cache_key(provider: str, path: str, body: Mapping[str, Any]) -> str:
    """SHA-256 over the provider, the path and the canonical JSON of the body (sorted keys, compact), after
    dropping `cache_control` everywhere, `metadata.user_id`, end-user ids and the streaming options."""
    kept = {key: value for key, value in body.items() if key not in IGNORED_TOP_LEVEL}
    metadata = kept.get("metadata")
    if isinstance(metadata, Mapping):
        remaining = {key: value for key, value in metadata.items() if key not in IGNORED_METADATA}
        if remaining:
            kept["metadata"] = remaining
        else:
            del kept["metadata"]
    canonical = json.dumps(_canonical(kept), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256()
    for part in (provider, path, canonical):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def wants_usage_chunk(body: Mapping[str, Any]) -> bool:
    """Whether an OpenAI chat request asked for the final usage chunk of a stream."""
    options = body.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


@dataclass(frozen=True, slots=True)
class Replay:
    """A cached response ready to send: `chunks` is one JSON body, or the SSE events of a stream."""

    status: int
    content_type: str
    chunks: list[bytes]


@dataclass(frozen=True, slots=True)
class ResponseCacheStats:
    enabled: bool
    hits: int
    misses: int
    stored: int

    def as_dict(self) -> dict[str, object]:
        return {"enabled": self.enabled, "hits": self.hits, "misses": self.misses, "stored": self.stored}


def _canonical_json(body: bytes) -> dict[str, Any] | None:
    """The body as an object if it is a finished, successful response (a Responses object must be
    `completed`); None for errors, partial responses and anything that is not JSON."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or parsed.get("error") is not None or parsed.get("type") == "error":
        return None
    if parsed.get("status") not in (None, "completed"):
        return None
    return parsed


@dataclass(frozen=True, slots=True)
class ResponseWrite:
    """A response to keep: what the write needs and nothing of the exchange it came from."""

    tenant: str
    key: str
    provider: str
    streaming: bool
    status: int
    body: bytes


def _kept_body(write: ResponseWrite) -> bytes | None:
    """The canonical non-streaming body kept for `write`, or None when it must not be cached (not a 200, not a
    JSON object, an error, or a stream that did not complete)."""
    if write.status != 200:
        return None
    if not write.streaming:
        return write.body if _canonical_json(write.body) is not None else None
    message = assemble(write.provider, write.body)
    return None if message is None else json.dumps(message, separators=(",", ":")).encode()


class ResponseCache:
    """Per-tenant exact cache over a ResponseCacheStore (LRU with TTL). Only complete 200 responses are kept;
    errors and streams that carried an error event never are. Store calls block: run them off the event loop,
    except a lookup with `defer` on a store with InlineResponseReads (`reads_inline`), which only reads."""

    def __init__(
        self,
        store: ResponseCacheStore,
        *,
        enabled: bool = True,
        max_entries: int = 1000,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._inline = store if isinstance(store, InlineResponseReads) else None
        self._enabled = enabled and max_entries > 0 and ttl > 0
        self._max_entries = max_entries
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._stored = 0
        self._expected: dict[tuple[str, str], ResponseWrite] = {}

    @classmethod
    def from_settings(cls, settings: Settings, store: ResponseCacheStore) -> ResponseCache:
        return cls(
            store,
            enabled=settings.cache_enabled,
            max_entries=settings.response_cache_max_entries,
            ttl=float(settings.response_cache_ttl),
        )

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def reads_inline(self) -> bool:
        """Whether `lookup` with `defer` may run on the event loop."""
        return self._inline is not None

    def lookup(
        self,
        tenant: str,
        key: str,
        provider: str,
        *,
        stream: bool,
        include_usage: bool = True,
        defer: Defer | None = None,
    ) -> Replay | None:
        """The cached response for `key`, rendered as JSON or as `provider`'s SSE stream; None on a miss. With
        `defer` (how to queue a write, e.g. StoreThread.submit) and `reads_inline`, the lookup only reads and
        hands the hit's LRU use to `defer`."""
        if not self._enabled:
            return None
        if defer is not None and self._inline is not None:
            cached = self._inline.peek_response(tenant, key, self._clock())
            if cached is not None:
                defer(self._inline.touch_response, tenant, key)
        else:
            cached = self._store.get_response(tenant, key, self._clock())
        with self._lock:
            expected = self._expected.get((tenant, key))
        kept = cached.body if cached is not None else None if expected is None else _kept_body(expected)
        body = None if kept is None else _canonical_json(kept)
        with self._lock:
            if body is None:
                self._misses += 1
            else:
                self._hits += 1
        if kept is None or body is None:
            return None
        if not stream:
            return Replay(200, JSON_TYPE, [kept])
        return Replay(200, SSE_TYPE, render_sse(provider, body, include_usage=include_usage))

    def store_json(self, tenant: str, key: str, status: int, body: bytes) -> bool:
        """Keep a non-streamed response; True if it was cacheable (status 200, a JSON object, not an error)."""
        return self.store(ResponseWrite(tenant, key, "", streaming=False, status=status, body=body))

    def store_stream(self, tenant: str, key: str, provider: str, status: int, stream: bytes) -> bool:
        """Keep a streamed response as the final message it assembles to; True if it was cacheable (status 200,
        the stream complete, no error event)."""
        return self.store(ResponseWrite(tenant, key, provider, streaming=True, status=status, body=stream))

    def expect(self, write: ResponseWrite) -> None:
        """`write` is queued for the store thread: until it is stored and committed, lookups of its key answer
        from it (an identical request sent right after the response would otherwise miss)."""
        if self._enabled:
            with self._lock:
                self._expected[write.tenant, write.key] = write

    def store(self, write: ResponseWrite, after_commit: Defer | None = None) -> bool:
        """Keep a response if it is cacheable; True if it was. `after_commit` (e.g. StoreThread.after_commit) says
        when the write is visible to other connections, for a write made inside a batch."""
        stored = False
        try:
            body = _kept_body(write) if self._enabled else None
            if body is not None:
                stored = self._put(write.tenant, write.key, body, streamed=write.streaming)
            return stored
        finally:
            if stored and after_commit is not None:
                after_commit(self._forget, write)
            else:
                self._forget(write)

    def _forget(self, write: ResponseWrite) -> None:
        with self._lock:
            if self._expected.get((write.tenant, write.key)) is write:
                del self._expected[write.tenant, write.key]

    def _put(self, tenant: str, key: str, body: bytes, *, streamed: bool) -> bool:
        response = CachedResponse(status=200, headers=(("content-type", JSON_TYPE),), body=body, streamed=streamed)
        self._store.put_response(tenant, key, response, self._clock() + self._ttl, self._max_entries)
        with self._lock:
            self._stored += 1
        return True

    def stats(self) -> ResponseCacheStats:
        with self._lock:
            return ResponseCacheStats(self._enabled, self._hits, self._misses, self._stored)
