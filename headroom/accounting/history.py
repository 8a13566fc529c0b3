"""The /stats-history document: lifetime proxy compression totals, cumulative checkpoints (thinned by default),
hourly/daily/weekly/monthly rollups and a summary, built from the savings store's hourly sums and its newest
COMPACT_CHECKPOINTS + 1 events (every event in full mode); plus its CSV form."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple, cast

from headroom.accounting.rollups import (
    GRANULARITIES,
    Granularity,
    PeriodTotals,
    iso_utc,
    percent,
    period_start,
    period_totals,
    rollup_rows,
)
from headroom.errors import InvalidRequest
from headroom.store.interfaces import SavingsEvent, SavingsHour, SavingsStore, SavingsTotals
from headroom.store.totals import HOUR_S

HistoryMode = Literal["compact", "full"]
Series = Literal["hourly", "daily", "weekly", "monthly", "checkpoints"]
COMPACT_CHECKPOINTS = 200
COMPACT_HOURLY_HOURS = 7 * 24
TOP_MODELS = 10
CHOICES: dict[str, tuple[str, ...]] = {
    "format": ("json", "csv"),
    "history_mode": ("compact", "full"),
    "series": (*GRANULARITIES, "checkpoints"),
}
ROLLUP_COLUMNS = (
    "period",
    "start",
    "end",
    "requests",
    "tokens_before",
    "tokens_after",
    "tokens_saved",
    "savings_percent",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_hit_percent",
    "cost_usd",
    "cost_without_usd",
    "cost_saved_usd",
    "response_cache_hits",
    "response_cache_hit_percent",
    "top_models",
)
CHECKPOINT_COLUMNS = (
    "timestamp",
    "requests",
    "tokens_before",
    "tokens_after",
    "tokens_saved",
    "cost_usd",
    "cost_without_usd",
    "cost_saved_usd",
)


class Step(NamedTuple):
    """What one event, or one hour's events, added to the cumulative totals, stamped with the moment after it."""

    ts: float
    requests: int
    tokens_before: int
    tokens_after: int
    cost_usd: float
    cost_without_usd: float


def event_steps(events: Sequence[SavingsEvent]) -> list[Step]:
    """One step per event, at its time."""
    return [Step(e.ts, 1, e.tokens_before, e.tokens_after, e.cost_usd, e.cost_without_usd) for e in events]


def hour_steps(hours: Sequence[SavingsHour], last_ts: float | None) -> list[Step]:
    """One step per hour holding events (its models' sums added up), at the hour's end: the cumulative totals
    then are those after its last event. The newest hour's step is at `last_ts`, the newest event's time."""
    steps: list[Step] = []
    previous = None
    for hour in hours:
        requests, before, after = hour.requests, hour.tokens_before, hour.tokens_after
        cost, cost_without = hour.cost_usd, hour.cost_without_usd
        if hour.start == previous:  # another model of the same hour
            same = steps.pop()
            requests, before, after = requests + same.requests, before + same.tokens_before, after + same.tokens_after
            cost, cost_without = cost + same.cost_usd, cost_without + same.cost_without_usd
        previous = hour.start
        end = hour.start + HOUR_S
        ts = float(end) if last_ts is None else min(end, max(hour.start, last_ts))
        steps.append(Step(ts, requests, before, after, cost, cost_without))
    return steps


def compact_steps(
    newest: Sequence[SavingsEvent], hours: Callable[[], Sequence[SavingsHour]], last_ts: float | None
) -> list[Step]:
    """The steps compact checkpoints accumulate, from the newest COMPACT_CHECKPOINTS + 1 events: one per event while
    the store holds at most COMPACT_CHECKPOINTS, else one per hour (`hours` is read only then)."""
    if len(newest) <= COMPACT_CHECKPOINTS:
        return event_steps(newest)
    return hour_steps(hours(), last_ts)


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """The validated query of GET /stats-history."""

    format: Literal["json", "csv"] = "json"
    history_mode: HistoryMode = "compact"
    series: Series = "daily"


def parse_history_query(params: Mapping[str, str | Sequence[str]]) -> HistoryQuery:
    """Validate the query parameters; anything unknown, repeated or out of range is an InvalidRequest."""
    chosen: dict[str, str] = {}
    for name, value in params.items():
        if name not in CHOICES:
            raise InvalidRequest(f"unknown query parameter {name!r}; expected one of {', '.join(CHOICES)}")
        if not isinstance(value, str):
            raise InvalidRequest(f"query parameter {name!r} given more than once")
        if value not in CHOICES[name]:
            raise InvalidRequest(f"{name} must be one of {', '.join(CHOICES[name])}, not {value!r}")
        chosen[name] = value
    return HistoryQuery(
        format=cast(Literal["json", "csv"], chosen.get("format", "json")),
        history_mode=cast(HistoryMode, chosen.get("history_mode", "compact")),
        series=cast(Series, chosen.get("series", "daily")),
    )


def lifetime_block(totals: SavingsTotals) -> dict[str, Any]:
    """Lifetime totals over every event ever recorded (pruned ones included)."""
    cache_write = totals.cache_write_5m_tokens + totals.cache_write_1h_tokens
    prompt_tokens = totals.input_tokens + totals.cache_read_tokens + cache_write
    return {
        "requests": totals.requests,
        "tokens_before": totals.tokens_before,
        "tokens_after": totals.tokens_after,
        "tokens_saved": totals.tokens_saved,
        "savings_percent": percent(totals.tokens_saved, totals.tokens_before),
        "input_tokens": totals.input_tokens,
        "output_tokens": totals.output_tokens,
        "cache_read_tokens": totals.cache_read_tokens,
        "cache_write_5m_tokens": totals.cache_write_5m_tokens,
        "cache_write_1h_tokens": totals.cache_write_1h_tokens,
        "cache_hit_percent": percent(totals.cache_read_tokens, prompt_tokens),
        "cost_usd": round(totals.cost_usd, 6),
        "cost_without_usd": round(totals.cost_without_usd, 6),
        "cost_saved_usd": round(totals.cost_without_usd - totals.cost_usd, 6),
        "response_cache_hits": totals.response_cache_hits,
        "response_cache_hit_percent": percent(totals.response_cache_hits, totals.requests),
        "first_request_at": None if totals.first_ts is None else iso_utc(totals.first_ts),
        "last_request_at": None if totals.last_ts is None else iso_utc(totals.last_ts),
    }


def thinned_indices(count: int, limit: int) -> list[int]:
    """At most `limit` evenly spaced indices of `range(count)`, always the first and the last."""
    if count <= limit:
        return list(range(count))
    if limit <= 1:
        return [count - 1] if limit == 1 else []
    return sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)})


def checkpoints(steps: Sequence[Step], lifetime: SavingsTotals, limit: int | None) -> list[dict[str, Any]]:
    """Cumulative lifetime totals after each step (oldest first), at most `limit` of them evenly thinned.
    Requests absent from the steps (events the store has pruned) are counted in the starting offset, so the last
    checkpoint equals the totals."""
    keep = None if limit is None else set(thinned_indices(len(steps), limit))
    requests = before = after = 0
    cost = cost_without = 0.0
    raw: list[tuple[float, int, int, int, float, float]] = []
    for index, step in enumerate(steps):
        requests += step.requests
        before += step.tokens_before
        after += step.tokens_after
        cost += step.cost_usd
        cost_without += step.cost_without_usd
        if keep is None or index in keep:
            raw.append((step.ts, requests, before, after, cost, cost_without))
    base_requests = max(0, lifetime.requests - requests)
    base_before = max(0, lifetime.tokens_before - before)
    base_after = max(0, lifetime.tokens_after - after)
    base_cost = max(0.0, lifetime.cost_usd - cost)
    base_cost_without = max(0.0, lifetime.cost_without_usd - cost_without)
    rows = []
    for ts, count, tokens_before, tokens_after, spent, spent_without in raw:
        tokens_before += base_before
        tokens_after += base_after
        spent += base_cost
        spent_without += base_cost_without
        rows.append(
            {
                "timestamp": iso_utc(ts),
                "requests": count + base_requests,
                "tokens_before": tokens_before,
                "tokens_after": tokens_after,
                "tokens_saved": tokens_before - tokens_after,
                "cost_usd": round(spent, 6),
                "cost_without_usd": round(spent_without, 6),
                "cost_saved_usd": round(spent_without - spent, 6),
            }
        )
    return rows


def _top_models(months: dict[datetime, PeriodTotals]) -> list[dict[str, Any]]:
    overall = PeriodTotals()
    for totals in months.values():
        overall.merge(totals)
    return [
        {
            "model": name,
            "provider": model.provider,
            "requests": model.requests,
            "tokens_before": model.tokens_before,
            "tokens_saved": model.tokens_before - model.tokens_after,
            "savings_percent": percent(model.tokens_before - model.tokens_after, model.tokens_before),
            "cost_usd": round(model.cost_usd, 6),
            "cost_saved_usd": round(model.cost_without_usd - model.cost_usd, 6),
        }
        for name, model in overall.ranked_models()[:TOP_MODELS]
    ]


def _rollups(
    periods: dict[Granularity, dict[datetime, PeriodTotals]], first: datetime, hourly_first: datetime, last: datetime
) -> dict[str, list[dict[str, Any]]]:
    return {
        granularity: rollup_rows(
            periods[granularity], granularity, hourly_first if granularity == "hourly" else first, last
        )
        for granularity in GRANULARITIES
    }


def build_history(store: SavingsStore, mode: HistoryMode = "compact", now: float | None = None) -> dict[str, Any]:
    """The whole /stats-history document, rollups (from the store's hourly sums) running up to `now` (default: the
    current time). Full: a checkpoint after every stored event. Compact: the same while at most COMPACT_CHECKPOINTS
    events are stored, else at most COMPACT_CHECKPOINTS of the hourly checkpoints, evenly thinned; the hourly series
    over its last week. Compact reads at most COMPACT_CHECKPOINTS + 1 events, whatever the store holds."""
    events = store.events() if mode == "full" else store.events(limit=COMPACT_CHECKPOINTS + 1)
    hours = store.hours()
    lifetime = store.totals()
    steps = event_steps(events) if mode == "full" else compact_steps(events, lambda: hours, lifetime.last_ts)
    return history_document(lifetime, hours, steps, mode, now)


def history_document(
    lifetime: SavingsTotals, hours: Sequence[SavingsHour], steps: Sequence[Step], mode: HistoryMode, now: float | None
) -> dict[str, Any]:
    """The document from what was read: lifetime totals, the (hour, model) sums and the steps that the checkpoints
    accumulate."""
    moment = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
    first = datetime.fromtimestamp(hours[0].start if hours else 0, UTC)
    last = max(moment, datetime.fromtimestamp(hours[-1].start if hours else 0, UTC))
    hourly_first = first if mode == "full" else max(first, last - timedelta(hours=COMPACT_HOURLY_HOURS - 1))
    periods = period_totals(hours, period_start(hourly_first, "hourly").timestamp())
    points = checkpoints(steps, lifetime, COMPACT_CHECKPOINTS if mode == "compact" else None)
    rollups = _rollups(periods, first, hourly_first, last) if hours else {series: [] for series in GRANULARITIES}
    return {
        "generated_at": iso_utc(moment),
        "lifetime": lifetime_block(lifetime),
        "checkpoints": points,
        "rollups": rollups,
        "top_models": _top_models(periods["monthly"]),
        "history_summary": {
            "mode": mode,
            "stored_checkpoints": len(steps),
            "returned_checkpoints": len(points),
            "max_compact_checkpoints": COMPACT_CHECKPOINTS,
            "pruned_requests": max(0, lifetime.requests - sum(step.requests for step in steps)),
            "first_checkpoint_at": points[0]["timestamp"] if points else None,
            "last_checkpoint_at": points[-1]["timestamp"] if points else None,
            "hourly_window_hours": None if mode == "full" else COMPACT_HOURLY_HOURS,
        },
    }


def history_csv(document: Mapping[str, Any], series: Series) -> str:
    """One series of a history document as CSV with a header row (top models as `model (requests)` joined
    by `; `)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if series == "checkpoints":
        writer.writerow(CHECKPOINT_COLUMNS)
        writer.writerows([point[name] for name in CHECKPOINT_COLUMNS] for point in document["checkpoints"])
        return out.getvalue()
    writer.writerow(ROLLUP_COLUMNS)
    for row in document["rollups"][series]:
        models = "; ".join(f"{item['model']} ({item['requests']})" for item in row["top_models"])
        writer.writerow([*(row[name] for name in ROLLUP_COLUMNS[:-1]), models])
    return out.getvalue()
