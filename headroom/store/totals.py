"""Which savings-event fields add up into lifetime totals, shared by every savings backend."""

from __future__ import annotations

from headroom.store.interfaces import SavingsEvent, SavingsTotals

SUMMED_FIELDS = (
    "tokens_before",
    "tokens_after",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cost_usd",
    "cost_without_usd",
)


def add_event(totals: SavingsTotals, event: SavingsEvent) -> None:
    """Fold one event into running totals in place."""
    totals.requests += 1
    for name in SUMMED_FIELDS:
        setattr(totals, name, getattr(totals, name) + getattr(event, name))
    totals.response_cache_hits += int(event.response_cached)
    totals.first_ts = event.ts if totals.first_ts is None else min(totals.first_ts, event.ts)
    totals.last_ts = event.ts if totals.last_ts is None else max(totals.last_ts, event.ts)
