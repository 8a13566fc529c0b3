"""The price table loads from the package, resolves dated snapshots by longest prefix, and flags unknowns."""

from __future__ import annotations

import pytest

from headroom.accounting.prices import context_window, normalize_model, price_of, price_table

REQUIRED = [
    "claude-opus-4",
    "claude-opus-4-1",
    "claude-opus-4-5",
    "claude-sonnet-4",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "claude-3-5-sonnet",
    "claude-3-5-haiku",
    "claude-3-7-sonnet",
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "o1",
    "o3",
    "o3-mini",
    "o4-mini",
]


@pytest.mark.parametrize("model", REQUIRED)
def test_required_models_are_priced_sanely(model: str) -> None:
    price = price_of(model)
    assert price.known
    assert price.model == model
    assert 0 < price.cache_read < price.input < price.output
    assert price.cache_write_5m >= price.input
    assert price.cache_write_1h >= price.cache_write_5m
    assert price.context_window >= 128_000


@pytest.mark.parametrize(
    ("requested", "entry"),
    [
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("GPT-5-Mini", "gpt-5-mini"),
        ("openai/gpt-5", "gpt-5"),
    ],
)
def test_longest_prefix_wins(requested: str, entry: str) -> None:
    assert price_of(requested).model == entry


def test_published_anchor_prices() -> None:
    sonnet = price_of("claude-sonnet-4-5")
    assert (sonnet.input, sonnet.output, sonnet.cache_read, sonnet.cache_write_5m, sonnet.cache_write_1h) == (
        3.0,
        15.0,
        0.3,
        3.75,
        6.0,
    )
    assert price_of("claude-opus-4-5").input < price_of("claude-opus-4-1").input
    assert (price_of("gpt-4o").input, price_of("gpt-4o").output) == (2.5, 10.0)


def test_unknown_model_uses_flagged_fallback() -> None:
    price = price_of("mystery-model-9")
    assert not price.known
    assert price == price_table().fallback
    assert price.input > 0 and price.output > 0
    assert context_window("mystery-model-9") == price.context_window


def test_context_windows() -> None:
    assert context_window("claude-sonnet-4-20250514") == 200_000
    assert context_window("gpt-4o") == 128_000
    assert context_window("gpt-4.1") > 1_000_000


def test_table_is_loaded_once_and_documented() -> None:
    assert price_table() is price_table()
    assert price_table().as_of
    assert "anthropic" in price_table().source.lower()
    assert normalize_model(" Anthropic/Claude-Opus-4 ") == "claude-opus-4"


def test_newer_point_releases_are_not_priced_as_their_base_model() -> None:
    assert price_of("gpt-5.4-mini-2026-03-01").model == "gpt-5.4-mini"
    assert price_of("gpt-5.2-codex").model == "gpt-5.2"
    assert price_of("gpt-5.4").output > price_of("gpt-5").output
    assert price_of("claude-opus-4-6").input < price_of("claude-opus-4").input
