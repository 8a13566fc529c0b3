"""Usage extraction counts each billed token once, under its billing kind, for every provider format."""

from __future__ import annotations

from typing import Any

import pytest

from headroom.accounting.usage import (
    Usage,
    merge_anthropic_usage,
    sum_usages,
    usage_from,
    usage_from_anthropic,
    usage_from_openai_chat,
    usage_from_responses,
)


def test_anthropic_ttl_buckets() -> None:
    raw = {
        "input_tokens": 12,
        "cache_read_input_tokens": 4000,
        "cache_creation_input_tokens": 1500,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 500},
        "output_tokens": 77,
    }
    usage = usage_from_anthropic(raw)
    assert usage == Usage(input=12, output=77, cache_read=4000, cache_write_5m=1000, cache_write_1h=500)
    assert usage.prompt_tokens == 12 + 4000 + 1500


def test_anthropic_without_buckets_counts_writes_as_5m() -> None:
    usage = usage_from_anthropic({"input_tokens": 3, "cache_creation_input_tokens": 900, "output_tokens": 1})
    assert (usage.cache_write_5m, usage.cache_write_1h) == (900, 0)


def test_anthropic_zero_buckets_fall_back_to_the_total() -> None:
    raw = {"cache_creation_input_tokens": 200, "cache_creation": {"ephemeral_5m_input_tokens": 0}}
    assert usage_from_anthropic(raw).cache_write_5m == 200


def test_openai_chat_counts_cached_tokens_once() -> None:
    raw = {
        "prompt_tokens": 2000,
        "completion_tokens": 300,
        "total_tokens": 2300,
        "prompt_tokens_details": {"cached_tokens": 1536},
        "completion_tokens_details": {"reasoning_tokens": 100},
    }
    usage = usage_from_openai_chat(raw)
    assert usage == Usage(input=464, output=300, cache_read=1536)
    assert usage.prompt_tokens == 2000


def test_responses_counts_cached_tokens_once() -> None:
    raw = {
        "input_tokens": 1000,
        "input_tokens_details": {"cached_tokens": 600},
        "output_tokens": 50,
        "output_tokens_details": {"reasoning_tokens": 20},
        "total_tokens": 1050,
    }
    assert usage_from_responses(raw) == Usage(input=400, output=50, cache_read=600)


@pytest.mark.parametrize(
    "raw",
    [{}, {"input_tokens": None, "output_tokens": "7"}, {"prompt_tokens": True}, {"input_tokens": -5}],
)
def test_malformed_values_count_as_zero(raw: dict[str, Any]) -> None:
    for provider in ("anthropic", "openai", "openai_responses"):
        assert usage_from(provider, raw) == Usage()


def test_dispatch_by_provider_and_unknown_format() -> None:
    assert usage_from("openai", {"prompt_tokens": 5}).input == 5
    assert usage_from("openai_responses", {"input_tokens": 6}).input == 6
    assert usage_from("anthropic", {"input_tokens": 7}).input == 7
    with pytest.raises(ValueError, match="gemini"):
        usage_from("gemini", {})


def test_anthropic_stream_merge_takes_cumulative_delta() -> None:
    start = {
        "input_tokens": 20,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 1,
    }
    delta = {"output_tokens": 250, "input_tokens": None, "cache_creation": {"ephemeral_1h_input_tokens": 30}}
    merged = merge_anthropic_usage(start, delta)
    assert merged["output_tokens"] == 250
    assert merged["input_tokens"] == 20
    assert merged["cache_creation"] == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 30}
    assert start["output_tokens"] == 1
    assert usage_from_anthropic(merged) == Usage(input=20, output=250, cache_read=100, cache_write_1h=30)


def test_sum_of_rounds() -> None:
    rounds = [Usage(input=10, output=2), Usage(input=5, cache_read=100, output=3, cache_write_1h=4)]
    assert sum_usages(rounds) == Usage(input=15, output=5, cache_read=100, cache_write_1h=4)
    assert sum_usages([]) == Usage()
