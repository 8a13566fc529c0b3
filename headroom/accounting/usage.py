"""Token usage in one provider-neutral shape, read from the usage objects of the Anthropic Messages, OpenAI Chat
Completions and OpenAI Responses APIs, with each token counted once under the price it is billed at."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens by billing kind. `input` excludes cache reads and writes, which are counted on their own."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0

    @property
    def prompt_tokens(self) -> int:
        """Every input token the model read, cached or not."""
        return self.input + self.cache_read + self.cache_write_5m + self.cache_write_1h

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Usage)))


def sum_usages(usages: Iterable[Usage]) -> Usage:
    """The total of several rounds (CCR retrieval continuations are billed as separate requests)."""
    total = Usage()
    for usage in usages:
        total = total + usage
    return total


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value))


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def usage_from_anthropic(raw: Mapping[str, Any]) -> Usage:
    """Anthropic: `input_tokens` already excludes cache reads and writes. Writes are split by TTL when the
    `cache_creation` buckets are present; otherwise `cache_creation_input_tokens` is taken as 5-minute writes."""
    written = _count(raw.get("cache_creation_input_tokens"))
    buckets = _mapping(raw.get("cache_creation"))
    write_1h = _count(buckets.get("ephemeral_1h_input_tokens"))
    write_5m = max(_count(buckets.get("ephemeral_5m_input_tokens")), written - write_1h)
    return Usage(
        input=_count(raw.get("input_tokens")),
        output=_count(raw.get("output_tokens")),
        cache_read=_count(raw.get("cache_read_input_tokens")),
        cache_write_5m=write_5m,
        cache_write_1h=write_1h,
    )


def usage_from_openai_chat(raw: Mapping[str, Any]) -> Usage:
    """Chat Completions: `prompt_tokens` includes `prompt_tokens_details.cached_tokens`; count those once, as
    cache reads. OpenAI bills no cache writes."""
    prompt = _count(raw.get("prompt_tokens"))
    cached = min(prompt, _count(_mapping(raw.get("prompt_tokens_details")).get("cached_tokens")))
    return Usage(input=prompt - cached, output=_count(raw.get("completion_tokens")), cache_read=cached)


def usage_from_responses(raw: Mapping[str, Any]) -> Usage:
    """Responses API: `input_tokens` includes `input_tokens_details.cached_tokens`; `output_tokens` includes
    reasoning tokens, which are billed as output."""
    prompt = _count(raw.get("input_tokens"))
    cached = min(prompt, _count(_mapping(raw.get("input_tokens_details")).get("cached_tokens")))
    return Usage(input=prompt - cached, output=_count(raw.get("output_tokens")), cache_read=cached)


def usage_from(provider: str, raw: Mapping[str, Any]) -> Usage:
    """Dispatch on the provider format's name: `anthropic`, `openai` (chat) or `openai_responses`."""
    if provider == "anthropic":
        return usage_from_anthropic(raw)
    if provider == "openai_responses":
        return usage_from_responses(raw)
    if provider == "openai":
        return usage_from_openai_chat(raw)
    raise ValueError(f"unknown provider format {provider!r}")


def merge_anthropic_usage(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> dict[str, Any]:
    """Fold a later Anthropic usage object (message_delta's, which is cumulative) into an earlier one
    (message_start's): each field the later one reports replaces the earlier value; null fields are ignored."""
    merged: dict[str, Any] = dict(earlier)
    for key, value in later.items():
        if value is None:
            continue
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_anthropic_usage(merged[key], value)
        else:
            merged[key] = value
    return merged
