"""One SQLite database file shared by every worker process: a small connection pool, WAL, the schema, the
opportunistic purge of expired rows, and WAL checkpoints on a thread of their own.

SQLite checkpoints the WAL from whichever commit crosses its size threshold, and a checkpoint syncs the file: on
the request path that put 10-15 ms into one request in a hundred. Pool connections therefore never checkpoint;
a background thread per process runs a passive checkpoint (it never blocks readers or writers) every second.

Every commit writes each page it changed to the WAL, so the store thread groups its writes: inside `batch()` a
thread's transactions are savepoints of one transaction, committed once at the end of the batch."""

from __future__ import annotations

import itertools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from headroom.errors import NotReady

# Version 2 added the per-tenant response counts, 3 the hourly savings sums; opening an older file runs the whole
# script in one transaction, whose INSERT ... SELECT statements fill the new tables from the rows already stored.
SCHEMA_VERSION = 3
BUSY_TIMEOUT_S = 30.0
PURGE_EVERY = 512
PURGE_BATCH = 1000
CHECKPOINT_EVERY_S = 1.0
# Page cache of each pooled connection, in KiB (SQLite's default is 2,000). Each connection of the pool fills its
# own cache as the database grows, so with the default RSS kept climbing, by up to 2 MB per pooled connection, long
# after start-up. A request's hot pages (B-tree interiors, the newest leaves of the append-only tables, one
# conversation's forms) fit in far less, a miss is read from the OS page cache, and another connection's commit
# resets the cache anyway; the same-run bench showed no change in the proxy's CPU per request at 512 or 256 KiB.
PAGE_CACHE_KIB = 512
WAL_SWITCH_RETRY_S = 0.01

log = logging.getLogger("headroom.store")
EXPIRING_TABLES = ("blobs", "counters", "buckets", "responses", "forms", "flags")

SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    tenant TEXT NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (tenant, key));
CREATE INDEX IF NOT EXISTS blobs_expiry ON blobs (expires_at);
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY, value REAL NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS counters_expiry ON counters (expires_at);
CREATE TABLE IF NOT EXISTS buckets (
    key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_at REAL NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS buckets_expiry ON buckets (expires_at);
CREATE TABLE IF NOT EXISTS savings_events (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, tenant TEXT NOT NULL,
    tokens_before INTEGER NOT NULL, tokens_after INTEGER NOT NULL, input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL, cache_write_5m_tokens INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, cost_without_usd REAL NOT NULL,
    latency_ms REAL NOT NULL, overhead_ms REAL NOT NULL, response_cached INTEGER NOT NULL, status INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS savings_events_ts ON savings_events (ts);
CREATE TABLE IF NOT EXISTS savings_totals (
    id INTEGER PRIMARY KEY CHECK (id = 1), requests INTEGER NOT NULL, tokens_before INTEGER NOT NULL,
    tokens_after INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL, cache_write_5m_tokens INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, cost_without_usd REAL NOT NULL,
    response_cache_hits INTEGER NOT NULL, first_ts REAL, last_ts REAL);
CREATE TABLE IF NOT EXISTS savings_hours (
    hour INTEGER NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL, requests INTEGER NOT NULL,
    tokens_before INTEGER NOT NULL, tokens_after INTEGER NOT NULL, input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL, cache_write_5m_tokens INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, cost_without_usd REAL NOT NULL,
    response_cache_hits INTEGER NOT NULL, PRIMARY KEY (hour, model)) WITHOUT ROWID;
INSERT OR IGNORE INTO savings_hours SELECT hour, model, provider, requests, tokens_before, tokens_after, input_tokens,
    output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cost_usd, cost_without_usd,
    response_cache_hits FROM (
    SELECT CAST(ts / 3600 AS INTEGER) * 3600 AS hour, model, provider, min(id), count(*) AS requests,
        sum(tokens_before) AS tokens_before, sum(tokens_after) AS tokens_after, sum(input_tokens) AS input_tokens,
        sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens,
        sum(cache_write_5m_tokens) AS cache_write_5m_tokens, sum(cache_write_1h_tokens) AS cache_write_1h_tokens,
        sum(cost_usd) AS cost_usd, sum(cost_without_usd) AS cost_without_usd,
        sum(response_cached) AS response_cache_hits
    FROM savings_events GROUP BY hour, model);
CREATE TABLE IF NOT EXISTS responses (
    tenant TEXT NOT NULL, key TEXT NOT NULL, status INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL,
    streamed INTEGER NOT NULL, expires_at REAL NOT NULL, last_used INTEGER NOT NULL, PRIMARY KEY (tenant, key));
CREATE INDEX IF NOT EXISTS responses_lru ON responses (tenant, last_used);
CREATE INDEX IF NOT EXISTS responses_expiry ON responses (expires_at);
CREATE TABLE IF NOT EXISTS response_counts (tenant TEXT PRIMARY KEY, entries INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS responses_added AFTER INSERT ON responses BEGIN
    INSERT INTO response_counts (tenant, entries) VALUES (new.tenant, 1)
    ON CONFLICT (tenant) DO UPDATE SET entries = entries + 1; END;
CREATE TRIGGER IF NOT EXISTS responses_removed AFTER DELETE ON responses BEGIN
    UPDATE response_counts SET entries = entries - 1 WHERE tenant = old.tenant; END;
INSERT OR REPLACE INTO response_counts (tenant, entries) SELECT tenant, count(*) FROM responses GROUP BY tenant;
CREATE TABLE IF NOT EXISTS forms (
    conversation TEXT NOT NULL, hash TEXT NOT NULL, form TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (conversation, hash));
CREATE INDEX IF NOT EXISTS forms_expiry ON forms (expires_at);
CREATE TABLE IF NOT EXISTS flags (
    conversation TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (conversation, name));
CREATE INDEX IF NOT EXISTS flags_expiry ON flags (expires_at);
CREATE TABLE IF NOT EXISTS toin (
    pattern TEXT PRIMARY KEY, compressions INTEGER NOT NULL, retrievals INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS toin_fields (
    pattern TEXT NOT NULL, field TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (pattern, field));
"""


class SqliteDatabase:
    """A pool of connections to one file. Each connection is used by one thread at a time; writes that read
    before they write run in `BEGIN IMMEDIATE` transactions, so they are atomic across processes too."""

    def __init__(
        self, path: Path, busy_timeout: float = BUSY_TIMEOUT_S, checkpoint_every: float = CHECKPOINT_EVERY_S
    ) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._checkpoint_every = checkpoint_every
        self._checkpointer_pid = 0
        self._checkpointer: threading.Thread | None = None
        self._stop = threading.Event()
        self.checkpoints = 0
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._closed = False
        self._writes = itertools.count(1)
        self._batched = threading.local()
        with self.transaction() as conn:
            if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                for statement in _statements(SCHEMA):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        _enable_wal(conn, self._busy_timeout)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
        return conn

    def _start_checkpointer(self) -> None:
        """With the lock held: one checkpoint thread per process (a forked worker starts its own)."""
        pid = os.getpid()
        if self._checkpointer_pid != pid:
            self._checkpointer_pid = pid
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="headroom-sqlite-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self._checkpoint_every):
                self._checkpoint(conn)
            self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self.checkpoints += 1
        except sqlite3.Error as exc:  # a locked or busy file is retried on the next tick
            log.warning("WAL checkpoint failed: %s", exc)

    def _acquire(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise NotReady("state store is closed")
            self._start_checkpointer()
            if self._idle:
                return self._idle.pop()
        conn = self._open()
        with self._lock:
            self._all.append(conn)
        return conn

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if self._closed:
                conn.close()
            else:
                self._idle.append(conn)

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode: each statement is its own atomic transaction (inside `batch()`, a
        statement of the batch's transaction)."""
        batched: sqlite3.Connection | None = getattr(self._batched, "conn", None)
        conn = batched or self._acquire()
        try:
            yield conn
        except sqlite3.Error as exc:
            raise NotReady(f"state store error: {exc}") from exc
        finally:
            if batched is None:
                self._release(conn)

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction; a write one holds the database's write lock from its first statement, a read one
        sees one consistent snapshot. Inside `batch()` it is a savepoint: all or nothing on its own, durable
        and visible to other connections when the batch commits."""
        with self.connection() as conn:
            batched = conn is getattr(self._batched, "conn", None)
            conn.execute("SAVEPOINT one" if batched else "BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
            try:
                yield conn
            except BaseException:
                if batched and conn.in_transaction:
                    conn.execute("ROLLBACK TO one")
                    conn.execute("RELEASE one")
                elif conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("RELEASE one" if batched else "COMMIT")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One write transaction for everything this thread does with the database until the block ends, then
        one commit. Holding the write lock for the whole block, it keeps other writers out: keep it short.
        Nested, the inner block is part of the outer one."""
        if getattr(self._batched, "conn", None) is not None:
            yield
            return
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._batched.conn = conn
            try:
                yield
                if conn.in_transaction:
                    conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._batched.conn = None

    def wrote(self, table: str) -> None:
        """Count a write; every PURGE_EVERY writes, delete a batch of expired rows from `table`."""
        if next(self._writes) % PURGE_EVERY or table not in EXPIRING_TABLES:
            return
        with self.connection() as conn:
            conn.execute(
                f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE expires_at <= ? LIMIT ?)",
                (time.time(), PURGE_BATCH),
            )

    def close(self) -> None:
        """Close every connection; later use raises NotReady. Idempotent."""
        with self._lock:
            self._closed = True
            conns, self._all, self._idle = self._all, [], []
            checkpointer = self._checkpointer if self._checkpointer_pid == os.getpid() else None
        self._stop.set()
        if checkpointer is not None:
            checkpointer.join()
        for conn in conns:
            conn.close()


def _statements(script: str) -> Iterator[str]:
    """The statements of `script` one by one (a trigger's body holds semicolons of its own)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement
            statement = ""


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch to WAL, waiting up to `timeout` for other connections: the switch answers "database is locked" at
    once, without the busy handler, while another connection holds a write lock (two workers opening a new
    database together, one of them creating the schema)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(WAL_SWITCH_RETRY_S)
