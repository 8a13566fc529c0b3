"""The /stats-history document: rollups on UTC calendar boundaries, checkpoint thinning, pruned-event offsets,
CSV output, query validation, and the durable savings file."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from headroom.accounting.history import (
    CHECKPOINT_COLUMNS,
    COMPACT_CHECKPOINTS,
    COMPACT_HOURLY_HOURS,
    ROLLUP_COLUMNS,
    Series,
    build_history,
    history_csv,
    parse_history_query,
    thinned_indices,
)
from headroom.accounting.savings_file import (
    SavingsFileCorrupt,
    SavingsFileExporter,
    load_savings_file,
    write_savings_file,
)
from headroom.errors import InvalidRequest
from headroom.store.interfaces import SavingsEvent, SavingsHour, SavingsStore, SavingsTotals
from headroom.store.memory import memory_stores
from headroom.store.sqlite_db import SqliteDatabase
from headroom.store.sqlite_history import SqliteSavingsStore


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def event(
    ts: float, model: str = "claude-sonnet-4-5", before: int = 1000, after: int = 600, **extra: Any
) -> SavingsEvent:
    provider = "openai" if model.startswith("gpt") else "anthropic"
    values: dict[str, Any] = {"cost_usd": after / 1e6, "cost_without_usd": before / 1e6, **extra}
    return SavingsEvent(
        ts=ts, provider=provider, model=model, tenant="t", tokens_before=before, tokens_after=after, **values
    )


def store_with(*events: SavingsEvent) -> SavingsStore:
    store = memory_stores().savings
    for item in events:
        store.record(item)
    return store


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[SqliteDatabase]:
    db = SqliteDatabase(tmp_path / "state.db")
    yield db
    db.close()


def test_empty_store_gives_an_empty_but_complete_document() -> None:
    document = build_history(store_with(), now=at("2026-04-10T12:00:00"))
    assert document["lifetime"]["requests"] == 0
    assert document["lifetime"]["first_request_at"] is None
    assert document["checkpoints"] == []
    assert document["rollups"] == {"hourly": [], "daily": [], "weekly": [], "monthly": []}
    assert document["top_models"] == []
    assert document["history_summary"]["stored_checkpoints"] == 0
    assert document["generated_at"] == "2026-04-10T12:00:00Z"
    rows = list(csv.reader(io.StringIO(history_csv(document, "daily"))))
    assert rows == [list(ROLLUP_COLUMNS)]


def test_rollups_follow_utc_days_iso_weeks_and_months() -> None:
    store = store_with(
        event(at("2026-03-29T23:30:00"), before=1000, after=400, cache_read_tokens=300, input_tokens=100),
        event(at("2026-03-30T00:10:00"), model="gpt-5-codex", before=2000, after=1500, response_cached=True),
        event(at("2026-03-30T00:50:00"), model="gpt-5-codex", before=500, after=500),
        event(at("2026-04-01T09:00:00"), before=4000, after=1000, cache_write_5m_tokens=7, cache_write_1h_tokens=3),
    )
    rollups = build_history(store, now=at("2026-04-01T10:00:00"))["rollups"]

    daily = rollups["daily"]
    assert [row["period"] for row in daily] == ["2026-03-29", "2026-03-30", "2026-03-31", "2026-04-01"]
    assert [row["requests"] for row in daily] == [1, 2, 0, 1]
    monday = daily[1]
    assert (monday["tokens_before"], monday["tokens_after"], monday["tokens_saved"]) == (2500, 2000, 500)
    assert monday["savings_percent"] == 20.0
    assert monday["response_cache_hits"] == 1 and monday["response_cache_hit_percent"] == 50.0
    assert monday["start"] == "2026-03-30T00:00:00Z" and monday["end"] == "2026-03-31T00:00:00Z"
    assert monday["top_models"] == [{"model": "gpt-5-codex", "requests": 2, "tokens_saved": 500}]
    assert daily[0]["cache_hit_percent"] == 75.0
    assert daily[3]["cache_write_tokens"] == 10
    assert daily[3]["cost_saved_usd"] == pytest.approx(0.003)

    weekly = rollups["weekly"]
    assert [(row["period"], row["start"], row["requests"]) for row in weekly] == [
        ("2026-W13", "2026-03-23T00:00:00Z", 1),
        ("2026-W14", "2026-03-30T00:00:00Z", 3),
    ]
    monthly = rollups["monthly"]
    assert [(row["period"], row["requests"], row["end"]) for row in monthly] == [
        ("2026-03", 3, "2026-04-01T00:00:00Z"),
        ("2026-04", 1, "2026-05-01T00:00:00Z"),
    ]
    hourly = rollups["hourly"]
    assert hourly[-1]["period"] == "2026-04-01T10:00:00Z"
    assert sum(row["requests"] for row in hourly) == 4
    assert next(row for row in hourly if row["period"] == "2026-03-30T00:00:00Z")["requests"] == 2


def test_iso_week_spanning_new_year_is_one_row() -> None:
    store = store_with(event(at("2026-12-31T12:00:00")), event(at("2027-01-02T12:00:00")))
    rollups = build_history(store, now=at("2027-01-02T13:00:00"))["rollups"]
    assert [(row["period"], row["requests"]) for row in rollups["weekly"]] == [("2026-W53", 2)]
    assert [row["period"] for row in rollups["monthly"]] == ["2026-12", "2027-01"]


def test_labels_stay_utc_whatever_the_local_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    time.tzset()
    try:
        document = build_history(store_with(event(at("2026-04-10T23:30:00"))), now=at("2026-04-10T23:45:00"))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert document["rollups"]["daily"][0]["period"] == "2026-04-10"
    assert document["checkpoints"][0]["timestamp"] == "2026-04-10T23:30:00Z"
    stamps = [document["generated_at"], document["lifetime"]["first_request_at"]]
    stamps += [row["start"] for series in document["rollups"].values() for row in series]
    assert all(stamp.endswith("Z") and "+" not in stamp for stamp in stamps)


def test_compact_history_thins_hourly_checkpoints_evenly_and_full_returns_all() -> None:
    start = at("2026-01-01T00:00:00")
    store = store_with(*(event(start + i * 900, before=100 + i, after=100) for i in range(1000)))
    now = start + 1000 * 900
    full = build_history(store, "full", now=now)
    assert len(full["checkpoints"]) == 1000
    assert full["history_summary"]["returned_checkpoints"] == full["history_summary"]["stored_checkpoints"] == 1000
    assert full["rollups"]["hourly"][0]["period"] == "2026-01-01T00:00:00Z"
    assert sum(row["requests"] for row in full["rollups"]["hourly"]) == 1000

    compact = build_history(store, now=now)
    points = compact["checkpoints"]
    assert len(points) == COMPACT_CHECKPOINTS
    assert points[0]["timestamp"] == "2026-01-01T01:00:00Z" and points[0]["requests"] == 4
    assert points[-1]["timestamp"] == full["checkpoints"][-1]["timestamp"] and points[-1]["requests"] == 1000
    gaps = {b["requests"] - a["requests"] for a, b in itertools.pairwise(points)}
    assert gaps == {4, 8}
    for point in points:  # each is the full history's checkpoint after the last event of an hour
        after_hour = full["checkpoints"][point["requests"] - 1]
        assert {**after_hour, "timestamp": point["timestamp"]} == point
    assert points[-1]["tokens_saved"] == compact["lifetime"]["tokens_saved"] == sum(range(1000))
    summary = compact["history_summary"]
    assert (summary["mode"], summary["stored_checkpoints"], summary["returned_checkpoints"]) == ("compact", 250, 200)
    assert summary["last_checkpoint_at"] == points[-1]["timestamp"]
    assert len(compact["rollups"]["hourly"]) == COMPACT_HOURLY_HOURS
    assert compact["rollups"]["daily"] == full["rollups"]["daily"] and compact["top_models"] == full["top_models"]


def test_compact_history_of_few_events_has_a_checkpoint_after_each() -> None:
    start = at("2026-01-01T00:00:00")
    store = store_with(*(event(start + i * 60, before=100 + i, after=100) for i in range(COMPACT_CHECKPOINTS)))
    compact = build_history(store, now=start + 86_400)
    assert compact["checkpoints"] == build_history(store, "full", now=start + 86_400)["checkpoints"]
    assert compact["history_summary"]["stored_checkpoints"] == COMPACT_CHECKPOINTS
    store.record(event(start + 86_000))
    one_more = build_history(store, now=start + 86_400)
    assert [point["requests"] for point in one_more["checkpoints"]] == [60, 120, 180, 200, 201]


@pytest.mark.parametrize(("count", "limit"), [(0, 5), (3, 5), (5, 5), (6, 5), (1001, 200), (7, 1)])
def test_thinned_indices_keep_ends_and_respect_the_limit(count: int, limit: int) -> None:
    indices = thinned_indices(count, limit)
    assert len(indices) == min(count, limit)
    assert indices == sorted(set(indices))
    if count:
        assert indices[-1] == count - 1
        assert limit == 1 or indices[0] == 0


def test_checkpoints_count_events_the_store_pruned(sqlite_db: SqliteDatabase) -> None:
    store = SqliteSavingsStore(sqlite_db, events_kept=10)
    start = at("2026-02-01T00:00:00")
    for i in range(25):
        store.record(event(start + i * 60, before=1000, after=900, cost_usd=0.5, cost_without_usd=1.0))
    store.prune()
    document = build_history(store, now=start + 3600)
    points = document["checkpoints"]
    assert len(points) == 10
    assert points[0]["requests"] == 16 and points[0]["tokens_saved"] == 1600
    assert points[-1]["requests"] == document["lifetime"]["requests"] == 25
    assert points[-1]["cost_saved_usd"] == pytest.approx(12.5)
    assert document["history_summary"]["pruned_requests"] == 15


def test_hourly_checkpoints_and_rollups_keep_the_events_the_store_pruned(sqlite_db: SqliteDatabase) -> None:
    store = SqliteSavingsStore(sqlite_db, events_kept=COMPACT_CHECKPOINTS + 50)
    start = at("2026-02-01T00:00:00")
    for i in range(400):
        store.record(event(start + i * 60, before=1000, after=900))
    store.prune()
    document = build_history(store, now=start + 86_400)
    assert [point["requests"] for point in document["checkpoints"]] == [60, 120, 180, 240, 300, 360, 400]
    assert document["checkpoints"][0]["tokens_saved"] == 6000
    assert sum(row["requests"] for row in document["rollups"]["hourly"]) == 400
    assert document["history_summary"]["pruned_requests"] == 0
    assert build_history(store, "full", now=start + 86_400)["history_summary"]["pruned_requests"] == 150


def test_top_models_rank_by_requests() -> None:
    store = store_with(
        event(at("2026-04-01T09:00:00"), model="gpt-4o"),
        event(at("2026-04-01T09:05:00"), model="claude-opus-4-1", before=5000, after=1000),
        event(at("2026-04-01T09:10:00"), model="gpt-4o"),
    )
    models = build_history(store, now=at("2026-04-01T10:00:00"))["top_models"]
    assert [(m["model"], m["provider"], m["requests"]) for m in models] == [
        ("gpt-4o", "openai", 2),
        ("claude-opus-4-1", "anthropic", 1),
    ]
    assert models[1]["savings_percent"] == 80.0


@pytest.mark.parametrize(
    ("series", "busiest_models"),
    [
        ("hourly", "claude-sonnet-4-5 (1); gpt-5-codex (1)"),
        ("daily", "claude-sonnet-4-5 (1); gpt-5-codex (1)"),
        ("weekly", "claude-sonnet-4-5 (2); gpt-5-codex (1)"),
        ("monthly", "claude-sonnet-4-5 (1); gpt-5-codex (1)"),
    ],
)
def test_csv_rollup_series_parse_back(series: Series, busiest_models: str) -> None:
    store = store_with(
        event(at("2026-03-30T08:00:00"), model="gpt-5-codex"),
        event(at("2026-03-30T08:30:00")),
        event(at("2026-04-02T08:00:00")),
    )
    document = build_history(store, now=at("2026-04-02T09:00:00"))
    rows = list(csv.DictReader(io.StringIO(history_csv(document, series))))
    assert list(rows[0]) == list(ROLLUP_COLUMNS)
    assert len(rows) == len(document["rollups"][series])
    assert sum(int(row["requests"]) for row in rows) == 3
    busiest = max(rows, key=lambda row: int(row["requests"]))
    assert busiest["top_models"] == busiest_models
    assert all(row["start"].endswith("Z") for row in rows)


def test_csv_checkpoints() -> None:
    store = store_with(event(at("2026-03-30T08:00:00")), event(at("2026-03-30T09:00:00"), before=50, after=50))
    text = history_csv(build_history(store, now=at("2026-03-30T10:00:00")), "checkpoints")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header == list(CHECKPOINT_COLUMNS)
    assert [(row[0], row[1], row[4]) for row in rows] == [
        ("2026-03-30T08:00:00Z", "1", "400"),
        ("2026-03-30T09:00:00Z", "2", "400"),
    ]


def test_query_defaults_and_choices() -> None:
    assert parse_history_query({}) == parse_history_query({"format": "json", "history_mode": "compact"})
    query = parse_history_query({"format": "csv", "series": "weekly", "history_mode": "full"})
    assert (query.format, query.series, query.history_mode) == ("csv", "weekly", "full")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"format": "xml"}, "format must be one of json, csv"),
        ({"series": "yearly"}, "series must be one of"),
        ({"history_mode": "everything"}, "history_mode must be one of compact, full"),
        ({"limit": "5"}, "unknown query parameter 'limit'"),
        ({"series": ["daily", "weekly"]}, "'series' given more than once"),
    ],
)
def test_bad_query_parameters_are_invalid_requests(params: dict[str, str | list[str]], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse_history_query(params)


def test_savings_file_round_trips_atomically_with_the_compact_history_checkpoints(tmp_path: Path) -> None:
    start = at("2026-04-01T00:00:00")
    store = CountingSavingsStore(
        store_with(*(event(start + i * 600, cost_usd=0.25, cost_without_usd=1.0) for i in range(3000)))
    )
    path = tmp_path / "nested" / "proxy_savings.json"
    write_savings_file(path, store, now=at("2026-05-02T00:00:00"))
    assert store.reads == [f"events(limit={COMPACT_CHECKPOINTS + 1})", "totals", "hours"]
    assert [p.name for p in path.parent.iterdir()] == ["proxy_savings.json"]
    raw = json.loads(path.read_text())
    assert raw["lifetime"]["tokens_saved"] == 3000 * 400
    snapshot = load_savings_file(path)
    assert snapshot is not None
    assert snapshot.generated_at == "2026-05-02T00:00:00Z"
    assert snapshot.totals == store.totals()
    assert snapshot.checkpoints == build_history(store, now=at("2026-05-02T00:00:00"))["checkpoints"]
    assert len(snapshot.checkpoints) == COMPACT_CHECKPOINTS
    assert snapshot.checkpoints[-1]["cost_saved_usd"] == pytest.approx(2250.0)


def test_savings_file_missing_or_corrupt(tmp_path: Path) -> None:
    assert load_savings_file(tmp_path / "absent.json") is None
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(SavingsFileCorrupt, match="not JSON"):
        load_savings_file(broken)
    broken.write_text(json.dumps({"schema": "something-else"}))
    with pytest.raises(SavingsFileCorrupt, match=r"not a headroom\.proxy_savings/1 document"):
        load_savings_file(broken)


def test_exporter_writes_at_close_and_reports_failures(tmp_path: Path) -> None:
    store = store_with(event(at("2026-04-01T00:00:00")))
    path = tmp_path / "proxy_savings.json"
    blocked = tmp_path / "a-file"
    blocked.write_text("")

    async def scenario() -> bool:
        exporter = SavingsFileExporter(path, store, interval=3600)
        exporter.start()
        await exporter.aclose()
        return await SavingsFileExporter(blocked / "proxy_savings.json", store, interval=3600).export_now()

    assert asyncio.run(scenario()) is False
    snapshot = load_savings_file(path)
    assert snapshot is not None and snapshot.totals.requests == 1


class CountingSavingsStore:
    """A savings store that names each read it serves."""

    def __init__(self, store: SavingsStore) -> None:
        self._store = store
        self.reads: list[str] = []

    def record(self, event: SavingsEvent) -> None:
        self._store.record(event)

    def totals(self) -> SavingsTotals:
        self.reads.append("totals")
        return self._store.totals()

    def events(self, since: float | None = None, limit: int | None = None) -> list[SavingsEvent]:
        self.reads.append(f"events(limit={limit})")
        return self._store.events(since, limit)

    def hours(self, since: float | None = None) -> list[SavingsHour]:
        self.reads.append("hours")
        return self._store.hours(since)


def test_one_hundred_thousand_events_build_from_the_hours_and_the_newest_events() -> None:
    start = at("2025-06-01T00:00:00")
    models = ("claude-sonnet-4-5", "gpt-5-codex", "claude-opus-4-1")
    store = CountingSavingsStore(store_with(*(event(start + i * 300, model=models[i % 3]) for i in range(100_000))))
    document = build_history(store, now=start + 100_000 * 300)
    assert store.reads == [f"events(limit={COMPACT_CHECKPOINTS + 1})", "hours", "totals"]
    assert document["lifetime"]["requests"] == 100_000
    assert sum(row["requests"] for row in document["rollups"]["daily"]) == 100_000
    assert len(document["checkpoints"]) == COMPACT_CHECKPOINTS
