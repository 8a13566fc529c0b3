"""Dollar cost of a request: what the provider bills for its usage, what it would have billed without Headroom's
compression, and a pessimistic estimate made before forwarding that budget reservations hold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headroom.accounting.prices import PER_MILLION, ModelPrice, price_of
from headroom.accounting.usage import Usage

DEFAULT_MAX_OUTPUT_TOKENS = 4096
OUTPUT_LIMIT_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def usage_cost(usage: Usage, price: ModelPrice) -> float:
    """USD billed for `usage` at `price`, each token kind at its own rate."""
    return (
        usage.input * price.input
        + usage.output * price.output
        + usage.cache_read * price.cache_read
        + usage.cache_write_5m * price.cache_write_5m
        + usage.cache_write_1h * price.cache_write_1h
    ) / PER_MILLION


def cost_usd(model: str, usage: Usage) -> float:
    """USD billed for `usage` on `model` (unknown models at the table's fallback price)."""
    return usage_cost(usage, price_of(model))


def cost_without_headroom(model: str, usage: Usage, tokens_before: int, tokens_after: int) -> float:
    """The counterfactual bill had the request gone upstream uncompressed: the actual cost plus every token
    compression removed, priced as uncached input (which is what new, unseen content is billed as)."""
    saved = max(0, tokens_before - tokens_after)
    return cost_usd(model, usage) + saved * price_of(model).input / PER_MILLION


def max_output_tokens(body: Mapping[str, Any]) -> int:
    """The request's output cap: `max_tokens` (Anthropic, legacy chat), `max_completion_tokens` (chat) or
    `max_output_tokens` (Responses); `DEFAULT_MAX_OUTPUT_TOKENS` when the client set none."""
    for name in OUTPUT_LIMIT_FIELDS:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_MAX_OUTPUT_TOKENS


def estimate_max_cost(model: str, input_tokens: int, max_output: int) -> float:
    """What a request may cost at most, for a budget reservation before it is forwarded: every input token
    at the uncached input price plus the full output allowance. Settling replaces it with the actual cost."""
    price = price_of(model)
    return (max(0, input_tokens) * price.input + max(0, max_output) * price.output) / PER_MILLION
