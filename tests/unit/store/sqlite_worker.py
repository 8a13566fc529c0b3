"""A worker process for the SQLite multi-process tests: hammers one database file and reports on stdout."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from headroom.store.interfaces import SavingsEvent
from headroom.store.sqlite import sqlite_stores

LATER = time.time() + 3600


def contend(db: Path, mode: str, count: int, limit: float) -> None:
    """Print `ready`, wait for a line on stdin (so that all workers start together), then print the successes."""
    stores = sqlite_stores(db)
    try:
        print("ready", flush=True)
        sys.stdin.readline()
        if mode == "reserve":
            won = sum(stores.counters.reserve("budget", 1.0, limit, LATER) for _ in range(count))
        elif mode == "record":
            for i in range(count):
                stores.savings.record(SavingsEvent(limit + i % 7200, "anthropic", f"m{i % 3}", "t", 10, 4))
            won = count
        else:
            won = sum(stores.counters.take_tokens("bucket", 1.0, limit, 0.0, 1000.0) == 0.0 for _ in range(count))
        print(won, flush=True)
    finally:
        stores.close()


def write_forever(db: Path) -> None:
    """Record events, bump a counter and store blobs until killed; print the number done every 25 rounds."""
    stores = sqlite_stores(db)
    payload = bytes(range(256)) * 64
    done = 0
    while True:
        done += 1
        stores.savings.record(SavingsEvent(float(done), "anthropic", "m", "t", 10, 4, cost_usd=0.5))
        stores.counters.add("writes", 1.0, LATER)
        stores.blobs.put_blob("t", f"k{done % 50}", payload, LATER)
        if done % 25 == 0:
            print(done, flush=True)


if __name__ == "__main__":
    if sys.argv[2] == "write":
        write_forever(Path(sys.argv[1]))
    else:
        contend(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
