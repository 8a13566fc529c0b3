"""Prompt-cache accounting: cache reads and writes (5m/1h) from upstream usage, and whether the proxy caused a
cache bust (the client kept its cached prefix but what the proxy sent changed inside the previous prefix)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headroom.providers.base import JSONObject
from headroom.store.interfaces import ConversationStore

PRINTS_FLAG = "prefix_prints"


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """Input tokens by cache treatment; `uncached` excludes reads and writes (Anthropic's `input_tokens`)."""

    uncached: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0

    @property
    def total_input(self) -> int:
        return self.uncached + self.cache_read + self.cache_write_5m + self.cache_write_1h

    @property
    def hit_rate(self) -> float:
        """Share of input tokens read from the cache."""
        return self.cache_read / self.total_input if self.total_input else 0.0


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def cache_usage(usage: Mapping[str, Any]) -> CacheUsage:
    """From Anthropic usage (cache_creation split by TTL when given, else all 5m), OpenAI chat
    (prompt_tokens_details.cached_tokens) or Responses (input_tokens_details.cached_tokens) usage."""
    if "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage:
        creation = _int(usage.get("cache_creation_input_tokens"))
        split = usage.get("cache_creation")
        one_hour = _int(split.get("ephemeral_1h_input_tokens")) if isinstance(split, dict) else 0
        return CacheUsage(
            uncached=_int(usage.get("input_tokens")),
            cache_read=_int(usage.get("cache_read_input_tokens")),
            cache_write_5m=max(0, creation - one_hour),
            cache_write_1h=one_hour,
        )
    for total_key, details_key in (
        ("prompt_tokens", "prompt_tokens_details"),
        ("input_tokens", "input_tokens_details"),
    ):
        if total_key in usage:
            details = usage.get(details_key)
            cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
            return CacheUsage(uncached=max(0, _int(usage[total_key]) - cached), cache_read=cached)
    return CacheUsage()


@dataclass(frozen=True, slots=True)
class PrefixPrint:
    """Digests of a request's cacheable blocks in Anthropic order (tools, system, message blocks) and how many
    of them lie at or before the last cache_control breakpoint."""

    blocks: tuple[str, ...]
    cached_end: int

    @property
    def cached(self) -> tuple[str, ...]:
        return self.blocks[: self.cached_end]

    def extends(self, previous: PrefixPrint) -> bool:
        """True when this request starts with `previous`'s cached prefix, block for block."""
        return self.blocks[: previous.cached_end] == previous.cached


def _digest(role: str, block: Any) -> str:
    if isinstance(block, dict) and "cache_control" in block:
        block = {key: value for key, value in block.items() if key != "cache_control"}
    text = json.dumps([role, block], separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def prefix_print(body: JSONObject) -> PrefixPrint:
    blocks: list[tuple[str, Any]] = [("tool", tool) for tool in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, str) and system:
        blocks.append(("system", {"type": "text", "text": system}))
    elif isinstance(system, list):
        blocks.extend(("system", block) for block in system)
    for message in body.get("messages") or body.get("input") or []:
        content = message.get("content") if isinstance(message, dict) else None
        role = str(message.get("role", message.get("type", ""))) if isinstance(message, dict) else ""
        parts = content if isinstance(content, list) else [message]
        blocks.extend((role, part) for part in parts)
    cached_end = 0
    for index, (_, block) in enumerate(blocks):
        if isinstance(block, dict) and "cache_control" in block:
            cached_end = index + 1
    return PrefixPrint(tuple(_digest(role, block) for role, block in blocks), cached_end)


@dataclass(frozen=True, slots=True)
class BustCheck:
    client_kept_prefix: bool
    proxy_kept_prefix: bool

    @property
    def proxy_caused_bust(self) -> bool:
        return self.client_kept_prefix and not self.proxy_kept_prefix


def check_bust(
    previous_client: PrefixPrint, previous_sent: PrefixPrint, client: PrefixPrint, sent: PrefixPrint
) -> BustCheck:
    """Compare this turn with the conversation's previous one, as the client sent it and as the proxy did."""
    return BustCheck(client.extends(previous_client), sent.extends(previous_sent))


class CacheTracker:
    """Remembers each conversation's last prefix prints (client and sent) in its conversation memory."""

    def __init__(self, conversations: ConversationStore, ttl_seconds: float) -> None:
        self._conversations = conversations
        self._ttl = ttl_seconds

    def observe(self, conversation: str, client_body: JSONObject, sent_body: JSONObject) -> BustCheck | None:
        """The bust check against the previous turn (None for a conversation's first request); then remember
        this turn."""
        return self.observe_prints(conversation, prefix_print(client_body), prefix_print(sent_body))

    def observe_prints(self, conversation: str, client: PrefixPrint, sent: PrefixPrint) -> BustCheck | None:
        """`observe` for prints already taken (the client's must be taken before the body is optimized)."""
        now = time.time()
        raw = self._conversations.get_flag(conversation, PRINTS_FLAG, now)
        check = None
        if raw is not None:
            stored = json.loads(raw)
            previous = [PrefixPrint(tuple(item["blocks"]), int(item["cached_end"])) for item in stored]
            check = check_bust(previous[0], previous[1], client, sent)
        payload = [{"blocks": list(p.blocks), "cached_end": p.cached_end} for p in (client, sent)]
        self._conversations.set_flag(conversation, PRINTS_FLAG, json.dumps(payload), now + self._ttl)
        return check
