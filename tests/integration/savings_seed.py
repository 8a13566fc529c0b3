"""A deterministic generator of ~90 days of realistic savings events (several models, both providers, weekday
rhythm, growth), to seed a store for the dashboard browser test."""

from __future__ import annotations

import random
from dataclasses import dataclass

from headroom.store.interfaces import SavingsEvent

DAY = 86400.0


@dataclass(frozen=True)
class SeedModel:
    provider: str
    name: str
    input_price: float  # USD per million tokens
    output_price: float
    weight: float


MODELS = (
    SeedModel("anthropic", "claude-sonnet-4-5", 3.0, 15.0, 0.5),
    SeedModel("anthropic", "claude-opus-4-1", 15.0, 75.0, 0.12),
    SeedModel("anthropic", "claude-haiku-4-5", 1.0, 5.0, 0.1),
    SeedModel("openai", "gpt-5-codex", 1.25, 10.0, 0.18),
    SeedModel("openai", "gpt-4o", 2.5, 10.0, 0.1),
)


def _event(rng: random.Random, ts: float) -> SavingsEvent:
    model = rng.choices(MODELS, weights=[m.weight for m in MODELS])[0]
    before = rng.randint(6_000, 110_000)
    cached_response = rng.random() < 0.03
    after = before if cached_response else int(before * (1 - rng.uniform(0.12, 0.68)))
    cache_read = int(after * rng.uniform(0.2, 0.85)) if model.provider == "anthropic" else int(after * 0.3)
    cache_write = int((after - cache_read) * rng.uniform(0.0, 0.4)) if model.provider == "anthropic" else 0
    plain = after - cache_read - cache_write
    output = rng.randint(150, 3_500)
    per_token = model.input_price / 1e6
    cost = plain * per_token + cache_read * per_token * 0.1 + cache_write * per_token * 1.25
    cost += output * model.output_price / 1e6
    if cached_response:
        cost, output = 0.0, 0
    cost_without = cost + (before - after) * per_token
    return SavingsEvent(
        ts=ts,
        provider=model.provider,
        model=model.name,
        tenant="t-" + rng.choice("abc"),
        tokens_before=before,
        tokens_after=after,
        input_tokens=plain,
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_write_5m_tokens=cache_write,
        cost_usd=round(cost, 6),
        cost_without_usd=round(cost_without, 6),
        latency_ms=rng.uniform(400, 9000),
        overhead_ms=rng.uniform(2, 40),
        response_cached=cached_response,
    )


def seed_events(now: float, days: int = 90, seed: int = 7) -> list[SavingsEvent]:
    """Events over the `days` days before `now`, oldest first: busier on weekdays and growing over time."""
    rng = random.Random(seed)
    events = []
    start_day = (now // DAY - days + 1) * DAY
    for day in range(days):
        day_start = start_day + day * DAY
        weekday = int(day_start // DAY + 3) % 7  # 1970-01-01 was a Thursday
        growth = 0.5 + day / days
        count = int(rng.randint(25, 55) * growth) if weekday < 5 else int(rng.randint(3, 12) * growth)
        for _ in range(count):
            ts = day_start + rng.uniform(7, 21) * 3600
            if ts < now:
                events.append(_event(rng, ts))
    return sorted(events, key=lambda event: event.ts)
