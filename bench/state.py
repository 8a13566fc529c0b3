"""State-store benchmark: p50/p99 latency and throughput of every store operation on memory, SQLite and AWS
(DynamoDB + S3 on a local moto server), plus the per-request accounting path.

Run from the repository root: `python -m bench.state [--iterations N] [--aws-iterations N] [--out PATH]`.
The accounting path is one reserve, one take_tokens, one savings record and one add; the target is <= 0.5 ms p50
on SQLite. `responses.put_response, 1000 kept` writes into a tenant whose cache is full, as a busy tenant's is.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from headroom.config import Settings
from headroom.store.interfaces import CachedResponse, SavingsEvent, Stores
from headroom.store.memory import memory_stores
from headroom.store.sqlite import sqlite_stores

_DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "state.json"
LATER = time.time() + 86_400
FULL_TENANT = 1000  # the default response_cache_max_entries
DUMMY_AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def operations(stores: Stores) -> dict[str, Callable[[int], object]]:
    """Each benchmarked operation, called with the iteration number."""
    blob = os.urandom(4096)
    response = CachedResponse(200, (("content-type", "application/json"),), os.urandom(2048))
    forms = {f"h{i}": "compressed form " * 20 for i in range(10)}
    c = stores.counters

    def event(i: int) -> SavingsEvent:
        return SavingsEvent(time.time(), "anthropic", "claude", "tenant", 1000, 400, 400, 50, cost_usd=0.01)

    def put_into_full_tenant(i: int) -> None:
        """A new response for a tenant already holding FULL_TENANT entries: each write evicts one."""
        if i == 0:
            for n in range(FULL_TENANT):
                stores.responses.put_response("full", f"old{n}", response, LATER, FULL_TENANT)
        stores.responses.put_response("full", f"new{i}", response, LATER, FULL_TENANT)

    def accounting(i: int) -> object:
        c.reserve("budget:tenant", 0.01, 1e12, LATER)
        c.take_tokens("rpm:tenant", 1.0, 1e12, 1e9, time.time())
        stores.savings.record(event(i))
        return c.add("budget:tenant", -0.002, LATER)

    return {
        "counters.reserve": lambda i: c.reserve("budget:tenant", 0.01, 1e12, LATER),
        "counters.add": lambda i: c.add("spend:tenant", 0.01, LATER),
        "counters.value": lambda i: c.value("budget:tenant", time.time()),
        "counters.take_tokens": lambda i: c.take_tokens("rpm:tenant", 1.0, 1e12, 1e9, time.time()),
        "savings.record": lambda i: stores.savings.record(event(i)),
        "savings.totals": lambda i: stores.savings.totals(),
        "savings.events(limit=100)": lambda i: stores.savings.events(limit=100),
        "blobs.put_blob(4KB)": lambda i: stores.blobs.put_blob("tenant", f"k{i % 100}", blob, LATER),
        "blobs.get_blob(4KB)": lambda i: stores.blobs.get_blob("tenant", f"k{i % 100}", time.time()),
        "responses.put_response(2KB)": lambda i: stores.responses.put_response(
            "tenant", f"r{i % 200}", response, LATER, 100
        ),
        f"responses.put_response, {FULL_TENANT} kept": put_into_full_tenant,
        "responses.get_response": lambda i: stores.responses.get_response("tenant", f"r{i % 200}", time.time()),
        "conversations.put_forms(10)": lambda i: stores.conversations.put_forms(f"c{i % 20}", forms, LATER),
        "conversations.get_forms(10)": lambda i: stores.conversations.get_forms(f"c{i % 20}", list(forms), time.time()),
        "conversations.set_flag": lambda i: stores.conversations.set_flag("c1", "tool", str(i), LATER),
        "conversations.get_flag": lambda i: stores.conversations.get_flag("c1", "tool", time.time()),
        "toin.record": lambda i: stores.toin.record("tool:grep|list", 1, i % 2, ("path",)),
        "accounting path": accounting,
    }


def measure(work: Callable[[int], object], iterations: int) -> dict[str, float]:
    for i in range(min(20, iterations)):
        work(i)
    samples = []
    started = time.perf_counter()
    for i in range(iterations):
        begin = time.perf_counter()
        work(i)
        samples.append((time.perf_counter() - begin) * 1000)
    elapsed = time.perf_counter() - started
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 4),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 4),
        "ops_per_s": round(iterations / elapsed, 1),
    }


def bench(stores: Stores, iterations: int) -> dict[str, dict[str, float]]:
    try:
        return {name: measure(work, iterations) for name, work in operations(stores).items()}
    finally:
        stores.close()


@contextmanager
def moto_settings() -> Iterator[Settings]:
    """Settings for fresh tables and a bucket on a moto server on loopback, with dummy credentials meanwhile."""
    from moto.server import ThreadedMotoServer

    from headroom.store.aws import ensure_aws_resources

    saved = {name: os.environ.get(name) for name in DUMMY_AWS_ENV}
    os.environ.update(DUMMY_AWS_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        settings = Settings(
            _env_file=None, store="aws", aws_endpoint_url=f"http://{host}:{port}", aws_table_prefix="bench"
        )
        ensure_aws_resources(settings)
        yield settings
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=2000, help="Iterations per operation (memory, SQLite).")
    parser.add_argument("--aws-iterations", type=int, default=200, help="Iterations per operation on moto.")
    parser.add_argument("--skip-aws", action="store_true", help="Skip the AWS backend.")
    parser.add_argument("--out", type=Path, default=_DEFAULT_OUT)
    args = parser.parse_args()

    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    results: dict[str, dict[str, dict[str, float]]] = {"memory": bench(memory_stores(), args.iterations)}
    with tempfile.TemporaryDirectory() as workspace:
        results["sqlite"] = bench(sqlite_stores(Path(workspace) / "headroom.db"), args.iterations)
    if not args.skip_aws:
        from headroom.store.aws import aws_stores

        with moto_settings() as settings:
            results["aws (moto)"] = bench(aws_stores(settings), args.aws_iterations)

    backends = list(results)
    print(f"{'operation':32}" + "".join(f"{b + ' p50/p99 ms':>26}{'ops/s':>10}" for b in backends))
    for name in results["memory"]:
        cells = [results[b][name] for b in backends]
        row = "".join(f"{c['p50_ms']:>13.4f} /{c['p99_ms']:>10.4f}{c['ops_per_s']:>12.0f}" for c in cells)
        print(f"{name:32}{row}")
    target = results["sqlite"]["accounting path"]["p50_ms"]
    print(f"\nSQLite accounting path p50: {target:.3f} ms (target <= 0.5 ms: {'met' if target <= 0.5 else 'MISSED'})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"iterations": vars(args) | {"out": str(args.out.name)}, "results": results}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
