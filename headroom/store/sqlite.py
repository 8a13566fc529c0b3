"""SQLite backend (the local default): every store over one WAL database file, safe for several worker processes
on one machine. Conditional updates are single `UPDATE ... WHERE` statements or `BEGIN IMMEDIATE` transactions."""

from __future__ import annotations

import math
import time
from pathlib import Path

from headroom.store.bucket import Bucket, full_at, take_from
from headroom.store.interfaces import Stores, ToinPattern
from headroom.store.sqlite_db import SqliteDatabase
from headroom.store.sqlite_history import SqliteResponseCacheStore, SqliteSavingsStore

SQL_MAX_PARAMS = 500


def _storable(expires_at: float) -> float:
    """SQLite stores inf, but a finite far-future time keeps comparisons and indexes simple."""
    return min(expires_at, 1e15) if not math.isnan(expires_at) else 0.0


class SqliteBlobStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def put_blob(self, tenant: str, key: str, data: bytes, expires_at: float) -> None:
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO blobs (tenant, key, data, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tenant, key) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
                (tenant, key, bytes(data), _storable(expires_at)),
            )
        self._db.wrote("blobs")

    def get_blob(self, tenant: str, key: str, now: float) -> bytes | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT data FROM blobs WHERE tenant = ? AND key = ? AND expires_at > ?", (tenant, key, now)
            ).fetchone()
        return None if row is None else bytes(row[0])


class SqliteCounterStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def reserve(self, key: str, amount: float, limit: float, expires_at: float) -> bool:
        now = time.time()
        with self._db.connection() as conn:
            added = conn.execute(
                "INSERT INTO counters (key, value, expires_at) SELECT :key, :amount, :exp "
                "WHERE :amount <= :limit OR EXISTS (SELECT 1 FROM counters WHERE key = :key AND expires_at > :now) "
                "ON CONFLICT (key) DO UPDATE SET "
                "value = (CASE WHEN expires_at <= :now THEN 0.0 ELSE value END) + :amount, expires_at = :exp "
                "WHERE (CASE WHEN expires_at <= :now THEN 0.0 ELSE value END) + :amount <= :limit",
                {"key": key, "amount": amount, "limit": limit, "exp": _storable(expires_at), "now": now},
            ).rowcount
        self._db.wrote("counters")
        return added == 1

    def add(self, key: str, delta: float, expires_at: float) -> float:
        with self._db.connection() as conn:
            rows = conn.execute(
                "INSERT INTO counters (key, value, expires_at) VALUES (:key, :delta, :exp) "
                "ON CONFLICT (key) DO UPDATE SET "
                "value = (CASE WHEN expires_at <= :now THEN 0.0 ELSE value END) + :delta, expires_at = :exp "
                "RETURNING value",
                {"key": key, "delta": delta, "exp": _storable(expires_at), "now": time.time()},
            ).fetchall()
        self._db.wrote("counters")
        return float(rows[0][0])

    def value(self, key: str, now: float) -> float:
        with self._db.connection() as conn:
            row = conn.execute("SELECT value FROM counters WHERE key = ? AND expires_at > ?", (key, now)).fetchone()
        return 0.0 if row is None else float(row[0])

    def take_tokens(self, key: str, cost: float, capacity: float, refill_per_second: float, now: float) -> float:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT tokens, updated_at FROM buckets WHERE key = ? AND expires_at > ?", (key, now)
            ).fetchone()
            stored = None if row is None else Bucket(float(row[0]), float(row[1]))
            bucket, wait = take_from(stored, cost, capacity, refill_per_second, now)
            if bucket is not None:
                conn.execute(
                    "INSERT INTO buckets (key, tokens, updated_at, expires_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at, "
                    "expires_at = excluded.expires_at",
                    (key, bucket.tokens, bucket.updated_at, _storable(full_at(bucket, capacity, refill_per_second))),
                )
        if bucket is not None:
            self._db.wrote("buckets")
        return wait


class SqliteConversationStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def get_forms(self, conversation: str, content_hashes: list[str], now: float) -> dict[str, str]:
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(content_hashes))
        with self._db.connection() as conn:
            for start in range(0, len(unique), SQL_MAX_PARAMS):
                chunk = unique[start : start + SQL_MAX_PARAMS]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT hash, form FROM forms WHERE conversation = ? AND expires_at > ? AND hash IN ({marks})",
                    (conversation, now, *chunk),
                )
                found.update((str(h), str(f)) for h, f in rows)
        return found

    def put_forms(self, conversation: str, forms: dict[str, str], expires_at: float) -> None:
        if not forms:
            return
        now, exp = time.time(), _storable(expires_at)
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT INTO forms (conversation, hash, form, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (conversation, hash) DO UPDATE SET "
                "form = CASE WHEN expires_at <= ? THEN excluded.form ELSE form END, "
                "expires_at = CASE WHEN expires_at <= ? THEN excluded.expires_at "
                "ELSE max(expires_at, excluded.expires_at) END",
                [(conversation, h, form, exp, now, now) for h, form in forms.items()],
            )
        self._db.wrote("forms")

    def get_flag(self, conversation: str, name: str, now: float) -> str | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT value FROM flags WHERE conversation = ? AND name = ? AND expires_at > ?",
                (conversation, name, now),
            ).fetchone()
        return None if row is None else str(row[0])

    def set_flag(self, conversation: str, name: str, value: str, expires_at: float) -> None:
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO flags (conversation, name, value, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (conversation, name) DO UPDATE SET value = excluded.value, "
                "expires_at = excluded.expires_at",
                (conversation, name, value, _storable(expires_at)),
            )
        self._db.wrote("flags")


class SqliteToinStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def record(self, pattern: str, compressions: int = 0, retrievals: int = 0, fields: tuple[str, ...] = ()) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO toin (pattern, compressions, retrievals) VALUES (?, ?, ?) ON CONFLICT (pattern) "
                "DO UPDATE SET compressions = compressions + excluded.compressions, "
                "retrievals = retrievals + excluded.retrievals",
                (pattern, compressions, retrievals),
            )
            conn.executemany(
                "INSERT INTO toin_fields (pattern, field, count) VALUES (?, ?, 1) "
                "ON CONFLICT (pattern, field) DO UPDATE SET count = count + 1",
                [(pattern, name) for name in fields],
            )

    def get(self, pattern: str) -> ToinPattern | None:
        found = self._load("WHERE pattern = ?", (pattern,))
        return found[0] if found else None

    def all(self) -> list[ToinPattern]:
        return self._load("", ())

    def _load(self, where: str, args: tuple[str, ...]) -> list[ToinPattern]:
        with self._db.transaction(write=False) as conn:
            heads = conn.execute(
                f"SELECT pattern, compressions, retrievals FROM toin {where} ORDER BY pattern", args
            ).fetchall()
            fields: dict[str, dict[str, int]] = {}
            for pattern, name, count in conn.execute(f"SELECT pattern, field, count FROM toin_fields {where}", args):
                fields.setdefault(str(pattern), {})[str(name)] = int(count)
        return [ToinPattern(str(p), int(c), int(r), fields.get(str(p), {})) for p, c, r in heads]


def sqlite_stores(path: Path) -> Stores:
    """Every store over the database at `path` (created with its schema if missing). Close the bundle when done."""
    db = SqliteDatabase(path)
    return Stores(
        blobs=SqliteBlobStore(db),
        counters=SqliteCounterStore(db),
        savings=SqliteSavingsStore(db),
        responses=SqliteResponseCacheStore(db),
        conversations=SqliteConversationStore(db),
        toin=SqliteToinStore(db),
        backend="sqlite",
        closer=db.close,
        group=db.batch,
    )
