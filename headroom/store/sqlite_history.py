"""SQLite savings history (events plus a durable totals row and the event's (hour, model) sums, updated in the
same transaction) and the per-tenant LRU response cache."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from typing import Any

from headroom.store.interfaces import CachedResponse, SavingsEvent, SavingsHour, SavingsTotals
from headroom.store.sqlite_db import PURGE_EVERY, SqliteDatabase
from headroom.store.totals import HOUR_SUMS, SUMMED_FIELDS, hour_start

EVENTS_KEPT = 500_000
# A response's LRU stamp: one past the tenant's newest.
NEXT_USE = "(SELECT coalesce(max(last_used), 0) + 1 FROM responses WHERE tenant = :tenant)"
EVENT_COLUMNS = tuple(field.name for field in dataclasses.fields(SavingsEvent))
CACHED_COLUMN = EVENT_COLUMNS.index("response_cached")
INSERT_EVENT = f"INSERT INTO savings_events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
ADD_TOTALS = (
    f"INSERT INTO savings_totals (id, requests, {', '.join(SUMMED_FIELDS)}, response_cache_hits, first_ts, last_ts) "
    f"VALUES (1, 1, {', '.join('?' * len(SUMMED_FIELDS))}, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
    "requests = requests + 1, "
    + ", ".join(f"{name} = {name} + excluded.{name}" for name in SUMMED_FIELDS)
    + ", response_cache_hits = response_cache_hits + excluded.response_cache_hits, "
    "first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)"
)
TOTALS_COLUMNS = ("requests", *SUMMED_FIELDS, "response_cache_hits", "first_ts", "last_ts")
ADD_HOUR = (
    f"INSERT INTO savings_hours (hour, model, provider, {', '.join(HOUR_SUMS)}) "
    f"VALUES (?, ?, ?, 1, {', '.join('?' * (len(HOUR_SUMS) - 1))}) ON CONFLICT (hour, model) DO UPDATE SET "
    + ", ".join(f"{name} = {name} + excluded.{name}" for name in HOUR_SUMS)
)


class SqliteSavingsStore:
    def __init__(self, db: SqliteDatabase, events_kept: int = EVENTS_KEPT) -> None:
        self._db = db
        self._events_kept = events_kept
        self._records = itertools.count(1)

    def record(self, event: SavingsEvent) -> None:
        row = tuple(getattr(event, name) for name in EVENT_COLUMNS)
        sums = (*(getattr(event, name) for name in SUMMED_FIELDS), int(event.response_cached))
        with self._db.transaction() as conn:
            conn.execute(INSERT_EVENT, row)
            conn.execute(ADD_TOTALS, (*sums, event.ts, event.ts))
            conn.execute(ADD_HOUR, (hour_start(event.ts), event.model, event.provider, *sums))
        if next(self._records) % PURGE_EVERY == 0:
            self.prune()

    def prune(self) -> None:
        """Drop the oldest events beyond the kept number; the totals row and the hours already count them."""
        with self._db.connection() as conn:
            conn.execute(
                "DELETE FROM savings_events WHERE id <= (SELECT max(id) FROM savings_events) - ?",
                (self._events_kept,),
            )

    def totals(self) -> SavingsTotals:
        with self._db.connection() as conn:
            row = conn.execute(f"SELECT {', '.join(TOTALS_COLUMNS)} FROM savings_totals WHERE id = 1").fetchone()
        return SavingsTotals() if row is None else SavingsTotals(**dict(zip(TOTALS_COLUMNS, row, strict=True)))

    def events(self, since: float | None = None, limit: int | None = None) -> list[SavingsEvent]:
        query = f"SELECT {', '.join(EVENT_COLUMNS)} FROM savings_events WHERE ts >= ? ORDER BY ts DESC, id DESC"
        args: tuple[float, ...] | tuple[float, int] = (-math.inf if since is None else since,)
        if limit is not None:
            query += " LIMIT ?"
            args = (args[0], max(0, limit))
        with self._db.connection() as conn:
            rows = conn.execute(query, args).fetchall()
        return [
            SavingsEvent(*(*row[:CACHED_COLUMN], bool(row[CACHED_COLUMN]), *row[CACHED_COLUMN + 1 :]))
            for row in reversed(rows)
        ]

    def hours(self, since: float | None = None) -> list[SavingsHour]:
        with self._db.connection() as conn:
            rows = conn.execute(
                f"SELECT hour, model, provider, {', '.join(HOUR_SUMS)} FROM savings_hours WHERE hour >= ? "
                "ORDER BY hour, model",
                (-math.inf if since is None else hour_start(since),),
            ).fetchall()
        return [
            SavingsHour(*sums, start=start, model=model, provider=provider) for start, model, provider, *sums in rows
        ]


def _cached(rows: list[Any]) -> CachedResponse | None:
    if not rows:
        return None
    status, headers, body, streamed = rows[0]
    pairs = tuple((str(name), str(value)) for name, value in json.loads(headers))
    return CachedResponse(int(status), pairs, bytes(body), bool(streamed))


class SqliteResponseCacheStore:
    """The response cache in SQLite. Reads never wait for the writer (WAL), so it offers InlineResponseReads."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def get_response(self, tenant: str, key: str, now: float) -> CachedResponse | None:
        with self._db.connection() as conn:
            rows = conn.execute(
                f"UPDATE responses SET last_used = {NEXT_USE} WHERE tenant = :tenant AND key = :key "
                "AND expires_at > :now RETURNING status, headers, body, streamed",
                {"tenant": tenant, "key": key, "now": now},
            ).fetchall()
        return _cached(rows)

    def peek_response(self, tenant: str, key: str, now: float) -> CachedResponse | None:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT status, headers, body, streamed FROM responses WHERE tenant = ? AND key = ? AND expires_at > ?",
                (tenant, key, now),
            ).fetchall()
        return _cached(rows)

    def touch_response(self, tenant: str, key: str) -> None:
        with self._db.connection() as conn:
            conn.execute(
                f"UPDATE responses SET last_used = {NEXT_USE} WHERE tenant = :tenant AND key = :key",
                {"tenant": tenant, "key": key},
            )

    def put_response(
        self, tenant: str, key: str, response: CachedResponse, expires_at: float, max_entries: int
    ) -> None:
        headers = json.dumps([list(pair) for pair in response.headers])
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO responses (tenant, key, status, headers, body, streamed, expires_at, last_used) "
                "VALUES (:tenant, :key, :status, :headers, :body, :streamed, :exp, "
                f"{NEXT_USE}) "
                "ON CONFLICT (tenant, key) DO UPDATE SET status = excluded.status, headers = excluded.headers, "
                "body = excluded.body, streamed = excluded.streamed, expires_at = excluded.expires_at, "
                "last_used = excluded.last_used",
                {
                    "tenant": tenant,
                    "key": key,
                    "status": response.status,
                    "headers": headers,
                    "body": bytes(response.body),
                    "streamed": int(response.streamed),
                    "exp": min(expires_at, 1e15),
                },
            )
            conn.execute(
                "DELETE FROM responses WHERE rowid IN (SELECT rowid FROM responses WHERE tenant = :tenant "
                "ORDER BY last_used LIMIT max(0, (SELECT entries FROM response_counts WHERE tenant = :tenant) - :max))",
                {"tenant": tenant, "max": max(0, max_entries)},
            )
        self._db.wrote("responses")
