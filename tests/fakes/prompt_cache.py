"""Anthropic prompt-cache simulation for the fake upstream: which part of a request's prefix is read from the
cache, which part is written, and what is left as plain input tokens, estimated with Headroom's token counter.

The model follows Anthropic's documented behaviour: the cacheable prefix runs tools -> system -> messages, block
by block, up to the last block carrying `cache_control`; every breakpoint writes its prefix (5 minutes, or 1 hour
with `"ttl": "1h"`); a read is the longest byte-identical prefix already cached that ends at a breakpoint or at
one of the 20 block boundaries before it; prefixes below the minimum cacheable length are never cached.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from headroom.accounting.tokens import count_tokens

DEFAULT_TTL_SECONDS = 300.0
LONG_TTL_SECONDS = 3600.0
LOOKBACK_BLOCKS = 20


@dataclass(frozen=True)
class CacheUsage:
    """Anthropic usage fields; `input_tokens` excludes cache reads and writes, as in the real API."""

    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


@dataclass(frozen=True)
class _Segment:
    serialized: str
    tokens: int
    ttl_seconds: float | None


def _canonical(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _segment(kind: str, block: Any, extra: dict[str, Any] | None = None) -> _Segment:
    ttl: float | None = None
    if isinstance(block, dict) and isinstance(block.get("cache_control"), dict):
        ttl = LONG_TTL_SECONDS if block["cache_control"].get("ttl") == "1h" else DEFAULT_TTL_SECONDS
        block = {key: value for key, value in block.items() if key != "cache_control"}
    serialized = _canonical({"kind": kind, **(extra or {}), "block": block})
    return _Segment(serialized, count_tokens(serialized), ttl)


def prefix_segments(body: dict[str, Any]) -> list[_Segment]:
    """The request as cacheable blocks in Anthropic's order: each tool, each system block, each message block.
    A message's first block carries its role, so message boundaries are part of the prefix."""
    segments = [_segment("tool", tool) for tool in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, str) and system:
        segments.append(_segment("system", {"type": "text", "text": system}))
    elif isinstance(system, list):
        segments.extend(_segment("system", block) for block in system)
    for message in body.get("messages") or []:
        content = message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for index, block in enumerate(blocks):
            extra = {"role": message.get("role")} if index == 0 else None
            segments.append(_segment("message", block, extra))
    return segments


class PromptCache:
    """Remembers cached prefixes (by hash, with their expiry) across requests and computes each request's usage."""

    def __init__(
        self,
        min_cacheable_tokens: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._min_tokens = min_cacheable_tokens
        self._clock = clock
        self._entries: dict[str, tuple[float, float]] = {}

    def clear(self) -> None:
        self._entries.clear()

    def account(self, body: dict[str, Any]) -> CacheUsage:
        """Usage for this request, recording the prefixes it writes and refreshing the one it reads."""
        segments = prefix_segments(body)
        now = self._clock()
        hashes: list[str] = []
        cumulative: list[int] = []
        running = hashlib.sha256(_canonical(body.get("model")).encode())
        total = 0
        for segment in segments:
            running.update(segment.serialized.encode())
            hashes.append(running.copy().hexdigest())
            total += segment.tokens
            cumulative.append(total)
        breakpoints = [index for index, segment in enumerate(segments) if segment.ttl_seconds is not None]
        if not breakpoints:
            return CacheUsage(total, 0, 0)

        read_at = self._longest_cached(hashes, breakpoints, now)
        read = cumulative[read_at] if read_at is not None else 0
        if read_at is not None:
            expires, read_ttl = self._entries[hashes[read_at]]
            self._entries[hashes[read_at]] = (max(expires, now + read_ttl), read_ttl)

        for index in breakpoints:
            ttl = segments[index].ttl_seconds
            if ttl is not None and cumulative[index] >= self._min_tokens:
                self._entries[hashes[index]] = (now + ttl, ttl)
        cached_end = cumulative[breakpoints[-1]]
        creation = cached_end - read if cached_end >= self._min_tokens else 0
        return CacheUsage(total - read - creation, creation, read)

    def _longest_cached(self, hashes: list[str], breakpoints: list[int], now: float) -> int | None:
        candidates: set[int] = set()
        for breakpoint in breakpoints:
            candidates.update(range(max(0, breakpoint - LOOKBACK_BLOCKS), breakpoint + 1))
        for index in sorted(candidates, reverse=True):
            entry = self._entries.get(hashes[index])
            if entry is not None and entry[0] > now:
                return index
        return None
