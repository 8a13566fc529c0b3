"""Which savings-event fields add up into lifetime totals and hourly sums, shared by every savings backend."""

from __future__ import annotations

from dataclasses import fields

from headroom.store.interfaces import SavingsEvent, SavingsHour, SavingsSums, SavingsTotals

HOUR_S = 3600
HOUR_SUMS = tuple(field.name for field in fields(SavingsSums))
"""The fields of SavingsSums (of totals and of each hour), in declaration order."""
SUMMED_FIELDS = tuple(name for name in HOUR_SUMS if name not in ("requests", "response_cache_hits"))
"""The sums an event adds its own same-named field to (it adds 1 to requests, its response_cached to the hits)."""


def hour_start(ts: float) -> int:
    """The first second of the UTC hour holding `ts`."""
    return int(ts // HOUR_S) * HOUR_S


def _add_sums(target: SavingsSums, event: SavingsEvent) -> None:
    target.requests += 1
    for name in SUMMED_FIELDS:
        setattr(target, name, getattr(target, name) + getattr(event, name))
    target.response_cache_hits += int(event.response_cached)


def add_event(totals: SavingsTotals, event: SavingsEvent) -> None:
    """Fold one event into running totals in place."""
    _add_sums(totals, event)
    totals.first_ts = event.ts if totals.first_ts is None else min(totals.first_ts, event.ts)
    totals.last_ts = event.ts if totals.last_ts is None else max(totals.last_ts, event.ts)


def add_to_hours(hours: dict[tuple[int, str], SavingsHour], event: SavingsEvent) -> None:
    """Fold one event into its (hour, model) sum in place, creating the sum with the event's provider."""
    key = (hour_start(event.ts), event.model)
    hour = hours.get(key)
    if hour is None:
        hour = hours[key] = SavingsHour(start=key[0], model=event.model, provider=event.provider)
    _add_sums(hour, event)
