"""What the context manager and the cache aligner did to one request, for response headers and /stats."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ContextDecision:
    """`tokens_before`/`tokens_after` are the whole request's estimated tokens around context management
    (0 when the request was small enough not to be counted); `cache_volatile` counts volatile spans
    (timestamps, UUIDs, per-session lines) found in the cacheable prefix."""

    limit: int = 0
    tokens_before: int = 0
    tokens_after: int = 0
    compress_freed: int = 0
    dropped_messages: int = 0
    dropped_tokens: int = 0
    remembered_drops: int = 0
    strategy: str = ""
    over_limit: bool = False
    cache_volatile: int = 0
    proxy_cache_bust: bool = False
    ccr_hashes: list[str] = field(default_factory=list)

    @property
    def tokens_freed(self) -> int:
        return self.tokens_before - self.tokens_after
