"""The savings store's hourly sums folded into calendar periods (UTC hours, days, ISO weeks, months): the rollup
rows of /stats-history, merged upward from hours."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from headroom.store.interfaces import SavingsHour

Granularity = Literal["hourly", "daily", "weekly", "monthly"]
GRANULARITIES: tuple[Granularity, ...] = ("hourly", "daily", "weekly", "monthly")
TOP_MODELS_PER_PERIOD = 3
DAY_S = 86_400


def iso_utc(moment: datetime | float) -> str:
    """`2026-04-10T16:36:25Z`: UTC, second precision, with the `Z` suffix."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def percent(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole > 0 else 0.0


@dataclass(slots=True)
class ModelTotals:
    provider: str
    requests: int = 0
    tokens_before: int = 0
    tokens_after: int = 0
    cost_usd: float = 0.0
    cost_without_usd: float = 0.0


@dataclass(slots=True)
class PeriodTotals:
    """Sums over the events of one period, with a per-model breakdown."""

    requests: int = 0
    tokens_before: int = 0
    tokens_after: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    cost_without_usd: float = 0.0
    response_cache_hits: int = 0
    models: dict[str, ModelTotals] = field(default_factory=dict)

    def add(self, hour: SavingsHour) -> None:
        """Add one model's sums of one hour."""
        self.requests += hour.requests
        self.tokens_before += hour.tokens_before
        self.tokens_after += hour.tokens_after
        self.input_tokens += hour.input_tokens
        self.output_tokens += hour.output_tokens
        self.cache_read_tokens += hour.cache_read_tokens
        self.cache_write_tokens += hour.cache_write_5m_tokens + hour.cache_write_1h_tokens
        self.cost_usd += hour.cost_usd
        self.cost_without_usd += hour.cost_without_usd
        self.response_cache_hits += hour.response_cache_hits
        model = self.models.get(hour.model)
        if model is None:
            model = self.models[hour.model] = ModelTotals(hour.provider)
        model.requests += hour.requests
        model.tokens_before += hour.tokens_before
        model.tokens_after += hour.tokens_after
        model.cost_usd += hour.cost_usd
        model.cost_without_usd += hour.cost_without_usd

    def merge(self, other: PeriodTotals) -> None:
        self.requests += other.requests
        self.tokens_before += other.tokens_before
        self.tokens_after += other.tokens_after
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cost_usd += other.cost_usd
        self.cost_without_usd += other.cost_without_usd
        self.response_cache_hits += other.response_cache_hits
        for name, theirs in other.models.items():
            mine = self.models.get(name)
            if mine is None:
                mine = self.models[name] = ModelTotals(theirs.provider)
            mine.requests += theirs.requests
            mine.tokens_before += theirs.tokens_before
            mine.tokens_after += theirs.tokens_after
            mine.cost_usd += theirs.cost_usd
            mine.cost_without_usd += theirs.cost_without_usd

    def ranked_models(self) -> list[tuple[str, ModelTotals]]:
        """Models by requests, then tokens saved, then name (a stable order for ties)."""
        return sorted(
            self.models.items(),
            key=lambda item: (-item[1].requests, -(item[1].tokens_before - item[1].tokens_after), item[0]),
        )

    def row(self, period: str, start: datetime, end: datetime) -> dict[str, Any]:
        prompt_tokens = self.input_tokens + self.cache_read_tokens + self.cache_write_tokens
        return {
            "period": period,
            "start": iso_utc(start),
            "end": iso_utc(end),
            "requests": self.requests,
            "tokens_before": self.tokens_before,
            "tokens_after": self.tokens_after,
            "tokens_saved": self.tokens_before - self.tokens_after,
            "savings_percent": percent(self.tokens_before - self.tokens_after, self.tokens_before),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_hit_percent": percent(self.cache_read_tokens, prompt_tokens),
            "cost_usd": round(self.cost_usd, 6),
            "cost_without_usd": round(self.cost_without_usd, 6),
            "cost_saved_usd": round(self.cost_without_usd - self.cost_usd, 6),
            "response_cache_hits": self.response_cache_hits,
            "response_cache_hit_percent": percent(self.response_cache_hits, self.requests),
            "top_models": [
                {"model": name, "requests": totals.requests, "tokens_saved": totals.tokens_before - totals.tokens_after}
                for name, totals in self.ranked_models()[:TOP_MODELS_PER_PERIOD]
            ],
        }


def period_start(moment: datetime, granularity: Granularity) -> datetime:
    """The UTC start of the period holding `moment` (weeks start on Monday, as ISO weeks do)."""
    hour = moment.replace(minute=0, second=0, microsecond=0)
    if granularity == "hourly":
        return hour
    day = hour.replace(hour=0)
    if granularity == "daily":
        return day
    if granularity == "weekly":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_period(start: datetime, granularity: Granularity) -> datetime:
    if granularity == "hourly":
        return start + timedelta(hours=1)
    if granularity == "daily":
        return start + timedelta(days=1)
    if granularity == "weekly":
        return start + timedelta(weeks=1)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def period_label(start: datetime, granularity: Granularity) -> str:
    """`2026-04-10T16:00:00Z`, `2026-04-10`, `2026-W15` (ISO week) or `2026-04`."""
    if granularity == "hourly":
        return iso_utc(start)
    if granularity == "daily":
        return start.strftime("%Y-%m-%d")
    if granularity == "weekly":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.strftime("%Y-%m")


def _periods(first: datetime, last: datetime, granularity: Granularity) -> Iterator[tuple[datetime, datetime]]:
    start = period_start(first, granularity)
    while start <= last:
        end = next_period(start, granularity)
        yield start, end
        start = end


def period_totals(
    hours: Iterable[SavingsHour], hourly_from: float = 0.0
) -> dict[Granularity, dict[datetime, PeriodTotals]]:
    """Totals per period start for every granularity, the hourly ones only for the hours starting at or after
    `hourly_from` (Unix seconds): each of the store's (hour, model) sums is added to its UTC day (and hour), then
    days are merged into ISO weeks and months."""
    by_hour: dict[int, PeriodTotals] = {}
    by_day: dict[int, PeriodTotals] = {}
    for hour in hours:
        day = hour.start - hour.start % DAY_S
        bucket = by_day.get(day)
        if bucket is None:
            bucket = by_day[day] = PeriodTotals()
        bucket.add(hour)
        if hour.start >= hourly_from:
            bucket = by_hour.get(hour.start)
            if bucket is None:
                bucket = by_hour[hour.start] = PeriodTotals()
            bucket.add(hour)
    days = {datetime.fromtimestamp(start, UTC): totals for start, totals in by_day.items()}
    return {
        "hourly": {datetime.fromtimestamp(start, UTC): totals for start, totals in by_hour.items()},
        "daily": days,
        "weekly": _regroup(days, "weekly"),
        "monthly": _regroup(days, "monthly"),
    }


def _regroup(finer: dict[datetime, PeriodTotals], granularity: Granularity) -> dict[datetime, PeriodTotals]:
    merged: dict[datetime, PeriodTotals] = {}
    for start, totals in finer.items():
        key = period_start(start, granularity)
        bucket = merged.get(key)
        if bucket is None:
            bucket = merged[key] = PeriodTotals()
        bucket.merge(totals)
    return merged


def rollup_rows(
    periods: dict[datetime, PeriodTotals], granularity: Granularity, first: datetime, last: datetime
) -> list[dict[str, Any]]:
    """One row per period from the period holding `first` to the one holding `last`, oldest first, from totals
    keyed by period start; periods without events are present with zeros so charts show the gaps."""
    return [
        periods.get(start, PeriodTotals()).row(period_label(start, granularity), start, end)
        for start, end in _periods(first, last, granularity)
    ]
