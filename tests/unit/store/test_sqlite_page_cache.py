"""SQLite's page cache is bounded per pooled connection, so a long-running proxy's memory does not grow with its
database."""

from __future__ import annotations

import threading
from pathlib import Path

from headroom.store.sqlite_db import PAGE_CACHE_KIB, SqliteDatabase


def test_every_pooled_connection_has_the_bounded_page_cache(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "state.db")
    sizes: list[int] = []
    inside = threading.Barrier(2)

    def hold_a_connection() -> None:
        with db.connection() as conn:
            sizes.append(conn.execute("PRAGMA cache_size").fetchone()[0])
            inside.wait(timeout=10)

    try:
        threads = [threading.Thread(target=hold_a_connection) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert sizes == [-PAGE_CACHE_KIB, -PAGE_CACHE_KIB]
    finally:
        db.close()
