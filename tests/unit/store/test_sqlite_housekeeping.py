"""SQLite housekeeping: pruned events stay in the totals, expired rows are purged opportunistically, and the
per-tenant response counts that bound the response cache stay true through every insert, delete and upgrade."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

from headroom.store.interfaces import CachedResponse, SavingsEvent
from headroom.store.sqlite_db import EXPIRING_TABLES, PURGE_EVERY, SqliteDatabase
from headroom.store.sqlite_history import SqliteResponseCacheStore, SqliteSavingsStore


def test_pruned_events_stay_in_totals(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "state.db")
    try:
        savings = SqliteSavingsStore(db, events_kept=3)
        for ts in range(10):
            savings.record(SavingsEvent(float(ts), "openai", "gpt", "t", 10, 4))
        savings.prune()
        assert [e.ts for e in savings.events()] == [7.0, 8.0, 9.0]
        totals = savings.totals()
        assert (totals.requests, totals.tokens_saved, totals.first_ts, totals.last_ts) == (10, 60, 0.0, 9.0)
    finally:
        db.close()


def test_expired_rows_are_purged_from_every_expiring_table(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "state.db")
    try:
        with db.transaction() as conn:
            conn.execute("INSERT INTO blobs VALUES ('t', 'old', x'00', 1.0), ('t', 'new', x'01', 1e15)")
            conn.execute("INSERT INTO counters VALUES ('old', 1.0, 1.0), ('new', 1.0, 1e15)")
        for table in EXPIRING_TABLES:
            for _ in range(PURGE_EVERY):
                db.wrote(table)
        with db.connection() as conn:
            assert conn.execute("SELECT key FROM blobs").fetchall() == [("new",)]
            assert conn.execute("SELECT key FROM counters").fetchall() == [("new",)]
    finally:
        db.close()


def test_schema_opens_idempotently(tmp_path: Path) -> None:
    first = SqliteDatabase(tmp_path / "state.db")
    second = SqliteDatabase(tmp_path / "state.db")
    try:
        with first.connection() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        with second.connection() as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
    finally:
        first.close()
        second.close()


def test_the_wal_is_checkpointed_off_the_request_path(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "state.db", checkpoint_every=0.02)
    try:
        savings = SqliteSavingsStore(db, events_kept=1000)
        for ts in range(200):
            savings.record(SavingsEvent(float(ts), "openai", "gpt", "t", 10, 4))
        with db.connection() as conn:
            assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,), "commits must not checkpoint"
        deadline = time.monotonic() + 10
        while db.checkpoints < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert db.checkpoints >= 2
        with closing(sqlite3.connect(db.path)) as probe:
            deadline = time.monotonic() + 10
            while True:  # busy only while the background thread's own checkpoint runs
                busy, logged, done = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if busy == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
        assert busy == 0 and logged == done, "the background thread has copied every frame into the database"
    finally:
        db.close()
    assert [t for t in threading.enumerate() if t.name == "headroom-sqlite-checkpoint"] == [], "close stops it"


def test_a_batch_commits_once_and_a_failed_transaction_in_it_undoes_only_itself(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "state.db")
    other = sqlite3.connect(tmp_path / "state.db")
    savings = SqliteSavingsStore(db)
    try:
        with db.batch():
            savings.record(SavingsEvent(1.0, "openai", "gpt", "t", 10, 4))
            try:
                with db.transaction() as conn:
                    conn.execute("INSERT INTO counters VALUES ('gone', 1.0, 1e15)")
                    raise LookupError("this transaction fails")
            except LookupError:
                pass
            with db.batch():  # nested: part of the outer batch
                savings.record(SavingsEvent(2.0, "openai", "gpt", "t", 10, 4))
            assert other.execute("SELECT count(*) FROM savings_events").fetchone() == (0,), "visible before commit"
        assert other.execute("SELECT count(*) FROM savings_events").fetchone() == (2,)
        assert other.execute("SELECT count(*) FROM counters WHERE key = 'gone'").fetchone() == (0,)
        assert savings.totals().requests == 2
    finally:
        other.close()
        db.close()


def test_a_batch_that_raises_commits_nothing(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "state.db")
    savings = SqliteSavingsStore(db)
    try:
        try:
            with db.batch():
                savings.record(SavingsEvent(1.0, "openai", "gpt", "t", 10, 4))
                raise LookupError("the batch fails")
        except LookupError:
            pass
        savings.record(SavingsEvent(2.0, "openai", "gpt", "t", 10, 4))
        assert [e.ts for e in savings.events()] == [2.0]
        assert [(h.start, h.requests) for h in savings.hours()] == [(0, 1)], "the hour is written with its event"
    finally:
        db.close()


def test_response_counts_follow_every_insert_and_delete(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "state.db")
    try:
        responses = SqliteResponseCacheStore(db)
        cached = CachedResponse(200, (), b"{}", False)
        for key in ("a", "b", "c"):
            responses.put_response("t", key, cached, 1e15, 10)
        responses.put_response("t", "a", cached, 1e15, 10)
        responses.put_response("u", "old", cached, 1.0, 10)
        with db.connection() as conn:
            assert dict(conn.execute("SELECT tenant, entries FROM response_counts")) == {"t": 3, "u": 1}
        for _ in range(PURGE_EVERY):
            db.wrote("responses")
        responses.put_response("t", "d", cached, 1e15, 2)
        with db.connection() as conn:
            assert dict(conn.execute("SELECT tenant, entries FROM response_counts")) == {"t": 2, "u": 0}
            assert sorted(key for (key,) in conn.execute("SELECT key FROM responses")) == ["a", "d"]
    finally:
        db.close()


def test_a_version_1_database_gets_its_response_counts(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteDatabase(path).close()
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("DROP TRIGGER responses_added")
        conn.execute("DROP TRIGGER responses_removed")
        conn.execute("DROP TABLE response_counts")
        conn.executemany(
            "INSERT INTO responses VALUES ('t', ?, 200, '[]', x'7b7d', 0, 1e15, ?)", [(f"k{i}", i) for i in range(5)]
        )
        conn.execute("PRAGMA user_version = 1")
    db = SqliteDatabase(path)
    try:
        SqliteResponseCacheStore(db).put_response("t", "new", CachedResponse(200, (), b"{}", False), 1e15, 3)
        with db.connection() as conn:
            assert conn.execute("SELECT entries FROM response_counts WHERE tenant = 't'").fetchone() == (3,)
            assert sorted(key for (key,) in conn.execute("SELECT key FROM responses")) == ["k3", "k4", "new"]
    finally:
        db.close()


def test_a_version_2_database_gets_its_hours_from_the_stored_events(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = SqliteDatabase(path)
    savings = SqliteSavingsStore(db)
    for ts, model, provider in [
        (7200.5, "gpt", "openai"),
        (10.0, "gpt", "azure"),
        (3599.0, "gpt", "x"),
        (3600.0, "c", "a"),
    ]:
        savings.record(SavingsEvent(ts, provider, model, "t", 10, 4, cost_usd=0.5, response_cached=ts > 3000))
    recorded = savings.hours()
    db.close()
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("DROP TABLE savings_hours")
        conn.execute("PRAGMA user_version = 2")
    db = SqliteDatabase(path)
    try:
        assert SqliteSavingsStore(db).hours() == recorded
        assert [(h.start, h.model, h.provider, h.requests, h.response_cache_hits) for h in recorded] == [
            (0, "gpt", "azure", 2, 1),
            (3600, "c", "a", 1, 1),
            (7200, "gpt", "openai", 1, 1),
        ]
        with db.connection() as conn:
            assert conn.execute("PRAGMA user_version").fetchone() == (3,)
    finally:
        db.close()
