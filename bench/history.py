"""/stats-history benchmark: builds the document from a SQLite store of 100,000 savings events spread over 30 days,
compact and full, the way it is built now (the store's hourly sums, and in full mode every event) and the way it was
built before them (every stored event read and folded into hours on each request), both in the same run; plus the
cost of recording one event with and without its hourly sum, and of one savings-file export.

Times are CPU seconds of this process (SQLite runs in it), the median of `--repeats` builds, so other load on the
machine moves them less than wall time. Run from the repository root:
`python -m bench.history [--events N] [--days N] [--repeats N] [--records N] [--out PATH]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from headroom.accounting.history import (
    COMPACT_CHECKPOINTS,
    HistoryMode,
    build_history,
    event_steps,
    history_document,
)
from headroom.accounting.savings_file import savings_export
from headroom.store.interfaces import SavingsEvent, SavingsHour
from headroom.store.sqlite_db import SqliteDatabase
from headroom.store.sqlite_history import ADD_TOTALS, EVENT_COLUMNS, INSERT_EVENT, SqliteSavingsStore
from headroom.store.totals import SUMMED_FIELDS, add_to_hours

_DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "history.json"
START = 1_780_000_000.0
MODELS = (("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-5-codex"), ("anthropic", "claude-opus-4-1"))


def sample_event(index: int, ts: float) -> SavingsEvent:
    provider, model = MODELS[index % len(MODELS)]
    before = 2000 + index % 997
    return SavingsEvent(
        ts=ts,
        provider=provider,
        model=model,
        tenant="tenant",
        tokens_before=before,
        tokens_after=before // 2,
        input_tokens=before // 2,
        output_tokens=300,
        cache_read_tokens=index % 500,
        cost_usd=0.003,
        cost_without_usd=0.006,
        response_cached=index % 20 == 0,
    )


def fill(store: SqliteSavingsStore, db: SqliteDatabase, count: int, days: float) -> None:
    spacing = days * 86_400 / count
    with db.batch():
        for index in range(count):
            store.record(sample_event(index, START + index * spacing))


def history_before(store: SqliteSavingsStore, mode: HistoryMode, now: float) -> dict[str, Any]:
    """The document as built before the hourly sums: every stored event read, folded into hours and accumulated
    into checkpoints (thinned to COMPACT_CHECKPOINTS in compact mode) on each request."""
    events = store.events()
    lifetime = store.totals()
    hours: dict[tuple[int, str], SavingsHour] = {}
    for event in events:
        add_to_hours(hours, event)
    return history_document(
        lifetime, sorted(hours.values(), key=lambda h: (h.start, h.model)), event_steps(events), mode, now
    )


def cpu_seconds(work: Callable[[], object], repeats: int) -> dict[str, float]:
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(repeats):
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        work()
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started_wall)
    return {"cpu_s": round(statistics.median(cpu), 4), "wall_s": round(statistics.median(wall), 4)}


def record_before(db: SqliteDatabase, event: SavingsEvent) -> None:
    """Recording as it was before the hourly sums: the event and the totals row in one transaction."""
    sums = (*(getattr(event, name) for name in SUMMED_FIELDS), int(event.response_cached))
    with db.transaction() as conn:
        conn.execute(INSERT_EVENT, tuple(getattr(event, name) for name in EVENT_COLUMNS))
        conn.execute(ADD_TOTALS, (*sums, event.ts, event.ts))


def record_costs(store: SqliteSavingsStore, db: SqliteDatabase, records: int, now: float) -> dict[str, float]:
    """CPU microseconds per record, before and after, in alternating blocks of 100 (each a committed transaction)."""
    spent = {"before": 0.0, "after": 0.0}
    for block in range(records // 100):
        for name in ("before", "after") if block % 2 == 0 else ("after", "before"):
            started = time.process_time()
            for index in range(100):
                event = sample_event(index, now + block)
                if name == "before":
                    record_before(db, event)
                else:
                    store.record(event)
            spent[name] += time.process_time() - started
    return {name: round(total / (records // 100 * 100) * 1e6, 1) for name, total in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="Savings events stored.")
    parser.add_argument("--days", type=float, default=30.0, help="Days the events are spread over.")
    parser.add_argument("--repeats", type=int, default=5, help="Builds timed per case (the median is reported).")
    parser.add_argument("--records", type=int, default=4000, help="Events recorded per record-cost case.")
    parser.add_argument("--out", type=Path, default=_DEFAULT_OUT)
    args = parser.parse_args()

    now = START + args.days * 86_400
    with tempfile.TemporaryDirectory() as workspace:
        db = SqliteDatabase(Path(workspace) / "headroom.db")
        try:
            store = SqliteSavingsStore(db)
            fill(store, db, args.events, args.days)
            hours = len(store.hours())
            builds: dict[str, dict[str, dict[str, float]]] = {}
            for mode in ("compact", "full"):
                builds[mode] = {
                    "before": cpu_seconds(lambda mode=mode: history_before(store, mode, now), args.repeats),
                    "after": cpu_seconds(lambda mode=mode: build_history(store, mode, now), args.repeats),
                }
            export = cpu_seconds(lambda: savings_export(store, now), args.repeats)
            records = record_costs(store, db, args.records, now)
        finally:
            db.close()

    print(f"{args.events:,} events over {args.days:g} days ({hours:,} hour-model sums), SQLite, CPU s (wall s)")
    print(f"{'case':22}{'before':>18}{'after':>18}{'after/before':>14}")
    for mode, cases in builds.items():
        before, after = cases["before"], cases["after"]
        cells = "".join(f"{c['cpu_s']:>9.4f} ({c['wall_s']:.4f})" for c in (before, after))
        print(f"{'build_history ' + mode:22}{cells}{after['cpu_s'] / before['cpu_s']:>14.3f}")
    print(f"{'savings-file export':22}{'':>18}{export['cpu_s']:>9.4f} ({export['wall_s']:.4f})")
    ratio = records["after"] / records["before"]
    print(f"{'record, CPU us':22}{records['before']:>18.1f}{records['after']:>18.1f}{ratio:>14.3f}")
    print(f"\n(compact checkpoints: at most {COMPACT_CHECKPOINTS})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "arguments": vars(args) | {"out": args.out.name},
        "hour_model_sums": hours,
        "build_history": builds,
        "savings_export": export,
        "record_cpu_us": records,
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
