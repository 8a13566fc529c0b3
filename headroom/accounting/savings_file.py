"""The durable savings file (`settings.savings_file`, default `<workspace>/proxy_savings.json`): lifetime totals and
recent checkpoints exported from the savings store, written atomically, and read back by tools."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from headroom.accounting.history import COMPACT_CHECKPOINTS, checkpoints, compact_steps, lifetime_block
from headroom.accounting.rollups import iso_utc
from headroom.store.interfaces import SavingsStore, SavingsTotals

SCHEMA = "headroom.proxy_savings/1"
log = logging.getLogger("headroom.accounting")


class SavingsFileCorrupt(ValueError):
    """The savings file exists but is not a savings export this version can read."""


@dataclass(frozen=True, slots=True)
class SavingsSnapshot:
    """What a savings file holds: lifetime totals and cumulative checkpoints, oldest first."""

    generated_at: str
    totals: SavingsTotals
    checkpoints: list[dict[str, Any]]


def savings_export(store: SavingsStore, now: float | None = None) -> dict[str, Any]:
    """The file's JSON document: lifetime totals (raw, for seeding, and derived, for reading) and the checkpoints of
    /stats-history's compact mode (at most COMPACT_CHECKPOINTS, one per event while the store holds no more, else
    one per hour over the whole history, evenly thinned). Reads at most COMPACT_CHECKPOINTS + 1 events."""
    newest = store.events(limit=COMPACT_CHECKPOINTS + 1)
    totals = store.totals()
    points = checkpoints(compact_steps(newest, store.hours, totals.last_ts), totals, COMPACT_CHECKPOINTS)
    return {
        "schema": SCHEMA,
        "generated_at": iso_utc(time.time() if now is None else now),
        "totals": {f.name: getattr(totals, f.name) for f in fields(SavingsTotals)},
        "lifetime": lifetime_block(totals),
        "checkpoints": points,
    }


def write_savings_file(path: Path, store: SavingsStore, now: float | None = None) -> None:
    """Export the store to `path` atomically: readers see the old file or the new one, never a partial write."""
    document = savings_export(store, now)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as temp:
            json.dump(document, temp, indent=1)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def load_savings_file(path: Path) -> SavingsSnapshot | None:
    """The snapshot stored at `path`; None if there is no file. Raises SavingsFileCorrupt if it cannot be read."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as error:
        raise SavingsFileCorrupt(f"{path}: not JSON ({error})") from error
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise SavingsFileCorrupt(f"{path}: not a {SCHEMA} document")
    totals = document.get("totals")
    points = document.get("checkpoints")
    if not isinstance(totals, dict) or not isinstance(points, list):
        raise SavingsFileCorrupt(f"{path}: totals or checkpoints missing")
    known = {f.name for f in fields(SavingsTotals)}
    try:
        lifetime = SavingsTotals(**{name: value for name, value in totals.items() if name in known})
    except TypeError as error:
        raise SavingsFileCorrupt(f"{path}: bad totals ({error})") from error
    return SavingsSnapshot(str(document.get("generated_at", "")), lifetime, [p for p in points if isinstance(p, dict)])


class SavingsFileExporter:
    """Writes the savings file every `interval` seconds in a worker thread, and once more at `aclose()`.
    A failed write is logged and retried at the next tick; it never stops the proxy."""

    def __init__(self, path: Path, store: SavingsStore, interval: float) -> None:
        self._path = path
        self._store = store
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="headroom-savings-file")

    async def export_now(self) -> bool:
        """Write the file now; False (and a warning in the log) if it could not be written."""
        try:
            await asyncio.to_thread(write_savings_file, self._path, self._store)
        except (OSError, ValueError) as error:
            log.warning(json.dumps({"event": "savings_file_write_failed", "error": str(error)}))
            return False
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.export_now()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.export_now()
