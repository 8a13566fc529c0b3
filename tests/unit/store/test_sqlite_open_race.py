"""Two workers opening one new database together: the second waits for the first's write lock to switch to WAL
instead of failing its startup (the switch does not go through SQLite's busy handler)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from headroom.store.sqlite_db import SqliteDatabase


def test_opening_waits_for_another_connections_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE creating (id INTEGER)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO creating VALUES (1)")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        db = SqliteDatabase(path)
        with db.connection() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()
    finally:
        release.join()
        other.close()
