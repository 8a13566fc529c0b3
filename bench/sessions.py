"""Sessions benchmark: replays every multi-turn agent trace in the corpus turn by turn, as Claude Code would send
it (Anthropic Messages, a cache_control breakpoint on the last block), straight to the fake upstream and through
Headroom in token and cache mode; reports billed input cost at Sonnet prices (cache reads 0.1x, writes 1.25x),
cache hit rates, turns too short to be cached and the context manager's decisions.

`--floor` adds a bound: the same replay in process with a compressor that keeps nothing of a block but its CCR
marker, i.e. the lowest cost any compressor could reach under the cache-safe rules and the current thresholds.

Run from the repository root:
`python -m bench.sessions [--corpus PATH] [--out PATH] [--context-limit N] [--floor]`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.traces import MODEL, Trace, load_trace, turn_requests
from headroom.accounting.prices import PER_MILLION, price_of
from headroom.config import Settings
from headroom.context.cache_accounting import CacheUsage, cache_usage
from headroom.context.optimizer import RequestOptimizer
from headroom.pipeline.pipeline import Pipeline
from headroom.pipeline.types import Compressed, CompressionContext
from headroom.providers.anthropic import AnthropicProvider
from headroom.store.memory import memory_stores
from tests.fakes.processes import FakeUpstream, ProxyProcess
from tests.fakes.prompt_cache import PromptCache

_REPO = Path(__file__).resolve().parents[1]
_DEFAULT_CORPUS = _REPO.parent / "shared" / "corpus"
_DEFAULT_OUT = _REPO / "bench" / "results" / "sessions.json"
_HEADERS = {"x-api-key": "sk-bench", "anthropic-version": "2023-06-01"}
MODES = ("token", "cache")
FLOOR = "floor"


@dataclass
class RunTotals:
    """One trace replayed one way."""

    uncached: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cost_usd: float = 0.0
    uncacheable_turns: int = 0
    proxy_busts: int = 0
    dropped_messages: int = 0
    volatile_spans: int = 0
    failed_turns: int = 0

    def add(self, usage: CacheUsage) -> None:
        price = price_of(MODEL)
        self.uncached += usage.uncached
        self.cache_read += usage.cache_read
        self.cache_write += usage.cache_write_5m + usage.cache_write_1h
        self.cost_usd += (
            usage.uncached * price.input
            + usage.cache_read * price.cache_read
            + usage.cache_write_5m * price.cache_write_5m
            + usage.cache_write_1h * price.cache_write_1h
        ) / PER_MILLION
        # Neither read nor written: the prompt was shorter than the minimum cacheable prefix.
        self.uncacheable_turns += int(usage.cache_read + usage.cache_write_5m + usage.cache_write_1h == 0)

    def merge(self, other: RunTotals) -> None:
        for name in (
            "uncached",
            "cache_read",
            "cache_write",
            "cost_usd",
            "uncacheable_turns",
            "proxy_busts",
            "dropped_messages",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def hit_rate(self) -> float:
        """Share of all input tokens read from the cache."""
        total = self.uncached + self.cache_read + self.cache_write
        return self.cache_read / total if total else 0.0

    @property
    def prefix_hit_rate(self) -> float:
        """Share of the cached prefix tokens that were reads rather than writes (prompts below the minimum
        cacheable length count in neither)."""
        cached = self.cache_read + self.cache_write
        return self.cache_read / cached if cached else 0.0


@dataclass
class TraceResult:
    id: str
    turns: int
    without: RunTotals
    modes: dict[str, RunTotals] = field(default_factory=dict)


def _replay(client: httpx.Client, url: str, trace: Trace, session: str) -> RunTotals:
    totals = RunTotals()
    headers = {**_HEADERS, "x-claude-code-session-id": session}
    for body in turn_requests(trace):
        response = client.post(f"{url}/v1/messages", json=body, headers=headers)
        if response.status_code != 200:
            totals.failed_turns += 1
            continue
        totals.add(cache_usage(response.json().get("usage", {})))
        totals.dropped_messages += int(response.headers.get("x-headroom-context-dropped", "0"))
        totals.volatile_spans += int(response.headers.get("x-headroom-cache-volatile", "0"))
    return totals


def _proxy_busts(client: httpx.Client, url: str) -> int:
    """The proxy's count of cache busts it caused (a prefix the client kept but the proxy changed)."""
    busts: int = client.get(f"{url}/stats").json()["prefix_cache"]["proxy_caused_busts"]
    return busts


def _keep_nothing(text: str, ctx: CompressionContext) -> Compressed:
    """The floor's compressor: a block it is offered keeps nothing but the CCR marker the pipeline appends."""
    return Compressed(text="", lossless=False, transform="floor")


def _replay_floor(trace: Trace, context_limit: int | None) -> RunTotals:
    """The proxy's optimizer in process (token mode) with `_keep_nothing`, priced by the fake upstream's cache."""
    settings = Settings(_env_file=None, mode="token", context_limit=context_limit)
    pipeline = Pipeline(settings, memory_stores(), compress=_keep_nothing)
    optimizer = RequestOptimizer(settings, pipeline)
    provider = AnthropicProvider()
    cache = PromptCache()
    totals = RunTotals()
    try:
        for body in turn_requests(trace):
            raw = json.dumps(body).encode("utf-8")
            optimizer.run(provider, body, tenant="bench", conversation=trace.id, raw=raw)
            totals.add(cache_usage(asdict(cache.account(body))))
    finally:
        pipeline.close()
    return totals


def run(corpus: Path, context_limit: int | None, floor: bool = False) -> list[TraceResult]:
    traces = [load_trace(corpus, meta) for meta in sorted((corpus / "agent_traces").glob("*.meta.json"))]
    env = {"HEADROOM_CONTEXT_LIMIT": str(context_limit)} if context_limit else {}
    results: list[TraceResult] = []
    upstream = FakeUpstream()
    proxies: dict[str, ProxyProcess] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="headroom-bench-") as workspace, httpx.Client(timeout=120) as client:
            for mode in MODES:
                folder = Path(workspace) / mode
                folder.mkdir()
                proxies[mode] = ProxyProcess(
                    upstream.url, folder, ("--mode", mode), {**env, "HEADROOM_RATE_LIMIT": "0"}
                )
            for trace in traces:
                if trace is None:
                    continue
                upstream.clear()
                result = TraceResult(
                    trace.id, sum(1 for _ in turn_requests(trace)), _replay(client, upstream.url, trace, trace.id)
                )
                for mode, proxy in proxies.items():
                    upstream.clear()
                    busts = _proxy_busts(client, proxy.url)
                    result.modes[mode] = _replay(client, proxy.url, trace, f"{trace.id}-{mode}")
                    result.modes[mode].proxy_busts = _proxy_busts(client, proxy.url) - busts
                if floor:
                    result.modes[FLOOR] = _replay_floor(trace, context_limit)
                results.append(result)
    finally:
        for proxy in proxies.values():
            proxy.stop()
        upstream.close()
    return results


def _hits(totals: RunTotals) -> str:
    return f"{totals.hit_rate:6.1%} {totals.prefix_hit_rate:6.1%} {totals.uncacheable_turns:3}"


def _row(name: str, turns: int, without: RunTotals, modes: dict[str, RunTotals]) -> str:
    cells = [f"{name[:40]:40}", f"{turns:5}", f"${without.cost_usd:8.4f}", _hits(without)]
    for mode, totals in modes.items():
        ratio = totals.cost_usd / without.cost_usd if without.cost_usd else 0.0
        cells += [f"${totals.cost_usd:8.4f}", f"{ratio:6.1%}", _hits(totals)]
        if mode != FLOOR:
            cells.append(f"{totals.dropped_messages:5} {totals.proxy_busts:5}")
    return " | ".join(cells)


def report(results: list[TraceResult]) -> str:
    """One row per trace and a total; hit/prefix/unc = hit rate, prefix hit rate, turns below the cache minimum;
    drops = messages dropped by the context manager, busts = cache busts the proxy caused."""
    names = list(results[0].modes) if results else list(MODES)
    head = ["trace".ljust(40), "turns", "cost w/o ", "hit/prefix/unc w/o "]
    for mode in names:
        head += [f"{mode} cost".ljust(9), "ratio ", "hit/prefix/unc     "]
        if mode != FLOOR:
            head.append("drops busts")
    lines = [" | ".join(head)]
    total_without = RunTotals()
    total_modes = {mode: RunTotals() for mode in names}
    for result in results:
        lines.append(_row(result.id, result.turns, result.without, result.modes))
        total_without.merge(result.without)
        for mode in names:
            total_modes[mode].merge(result.modes[mode])
    lines.append(_row("TOTAL", sum(r.turns for r in results), total_without, total_modes))
    return "\n".join(lines)


def _totals_json(totals: RunTotals) -> dict[str, Any]:
    return {**asdict(totals), "hit_rate": totals.hit_rate, "prefix_hit_rate": totals.prefix_hit_rate}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=_DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=_DEFAULT_OUT)
    parser.add_argument("--context-limit", type=int, default=None, help="HEADROOM_CONTEXT_LIMIT for the proxies")
    parser.add_argument("--floor", action="store_true", help="add the keep-nothing compressor's bound")
    args = parser.parse_args(argv)
    results = run(args.corpus, args.context_limit, floor=args.floor)
    print(report(results))
    payload: dict[str, Any] = {
        "model": MODEL,
        "context_limit": args.context_limit,
        "traces": [
            {
                "id": r.id,
                "turns": r.turns,
                "without": _totals_json(r.without),
                **{mode: _totals_json(t) for mode, t in r.modes.items()},
            }
            for r in results
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
