"""Costs follow the price table per token kind; the counterfactual and the estimate bound the real bill."""

from __future__ import annotations

import pytest

from headroom.accounting.cost import (
    DEFAULT_MAX_OUTPUT_TOKENS,
    cost_usd,
    cost_without_headroom,
    estimate_max_cost,
    max_output_tokens,
    usage_cost,
)
from headroom.accounting.prices import price_of
from headroom.accounting.usage import Usage


def test_each_token_kind_at_its_rate() -> None:
    usage = Usage(input=1_000_000, output=1_000_000, cache_read=1_000_000, cache_write_5m=1_000_000)
    assert cost_usd("claude-sonnet-4-5-20250929", usage) == pytest.approx(3 + 15 + 0.3 + 3.75)
    assert cost_usd("claude-sonnet-4-5", Usage(cache_write_1h=2_000_000)) == pytest.approx(12.0)


def test_small_request_cost() -> None:
    usage = Usage(input=464, output=300, cache_read=1536)
    expected = (464 * 2.5 + 300 * 10 + 1536 * 1.25) / 1_000_000
    assert cost_usd("gpt-4o-2024-08-06", usage) == pytest.approx(expected)
    assert usage_cost(usage, price_of("gpt-4o")) == pytest.approx(expected)


def test_unknown_model_priced_at_fallback() -> None:
    usage = Usage(input=1000, output=1000)
    assert cost_usd("mystery-1", usage) == pytest.approx(usage_cost(usage, price_of("mystery-1")))
    assert cost_usd("mystery-1", usage) > 0


def test_counterfactual_adds_saved_tokens_as_input() -> None:
    usage = Usage(input=2000, output=100, cache_read=5000)
    actual = cost_usd("claude-haiku-4-5", usage)
    without = cost_without_headroom("claude-haiku-4-5", usage, tokens_before=12_000, tokens_after=7000)
    assert without - actual == pytest.approx(5000 * 1.0 / 1_000_000)
    assert cost_without_headroom("claude-haiku-4-5", usage, 100, 400) == pytest.approx(actual)


def test_estimate_is_input_plus_full_output_allowance() -> None:
    estimate = estimate_max_cost("claude-opus-4-1", input_tokens=10_000, max_output=2000)
    assert estimate == pytest.approx((10_000 * 15 + 2000 * 75) / 1_000_000)
    actual = cost_usd("claude-opus-4-1", Usage(input=10_000, output=1999))
    assert actual <= estimate
    assert estimate_max_cost("gpt-5", -1, -1) == 0.0


def test_max_output_tokens_from_each_format() -> None:
    assert max_output_tokens({"max_tokens": 1024}) == 1024
    assert max_output_tokens({"max_completion_tokens": 99}) == 99
    assert max_output_tokens({"max_output_tokens": 7}) == 7
    assert max_output_tokens({}) == DEFAULT_MAX_OUTPUT_TOKENS
    assert max_output_tokens({"max_tokens": True, "max_output_tokens": "5"}) == DEFAULT_MAX_OUTPUT_TOKENS
