"""Model prices and context windows from the packaged `data/prices.json`, looked up by the longest matching
model-id prefix so dated snapshots (claude-sonnet-4-20250514, gpt-4o-2024-08-06) find their family."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

PER_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens for each kind of token, and the model's context window.

    `known` is False when the model matched no entry and the table's fallback was used; callers count those.
    """

    model: str
    input: float
    output: float
    cache_read: float
    cache_write_5m: float
    cache_write_1h: float
    context_window: int
    known: bool = True


@dataclass(frozen=True, slots=True)
class PriceTable:
    prices: dict[str, ModelPrice]
    fallback: ModelPrice
    as_of: str
    source: str

    def lookup(self, model: str) -> ModelPrice:
        """The entry whose key is the longest prefix of the normalized model id; the fallback (known=False)
        if none matches."""
        name = normalize_model(model)
        for end in range(len(name), 0, -1):
            price = self.prices.get(name[:end])
            if price is not None:
                return price
        return self.fallback


def normalize_model(model: str) -> str:
    """Lower-case, and drop a routing prefix such as `openai/` or `anthropic/` that some clients add."""
    return model.strip().lower().rsplit("/", 1)[-1]


def _entry(name: str, raw: dict[str, Any], known: bool) -> ModelPrice:
    return ModelPrice(
        model=name,
        input=float(raw["input"]),
        output=float(raw["output"]),
        cache_read=float(raw["cache_read"]),
        cache_write_5m=float(raw["cache_write_5m"]),
        cache_write_1h=float(raw["cache_write_1h"]),
        context_window=int(raw["context_window"]),
        known=known,
    )


@functools.cache
def price_table() -> PriceTable:
    """The packaged table, read once per process."""
    text = resources.files("headroom").joinpath("data/prices.json").read_text(encoding="utf-8")
    raw = json.loads(text)
    return PriceTable(
        prices={name.lower(): _entry(name, entry, True) for name, entry in raw["models"].items()},
        fallback=_entry("fallback", raw["fallback"], False),
        as_of=str(raw["as_of"]),
        source=str(raw["source"]),
    )


def price_of(model: str) -> ModelPrice:
    return price_table().lookup(model)


def context_window(model: str) -> int:
    """The model's context window in tokens (the fallback's for an unknown model)."""
    return price_of(model).context_window
