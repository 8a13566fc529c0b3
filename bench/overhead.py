"""Proxy overhead benchmark: what putting Headroom between a client and the provider costs, measured against the
fake upstream in the same run (direct vs through the proxy, interleaved request by request and repeated).

Run from the repository root: `python -m bench.overhead [--repeats 3] [--requests 500] [--only SECTION ...]
[--out PATH]`. It starts the fake upstream (tests/fakes) and proxies as subprocesses on loopback, prints a table
with PASS/FAIL against the targets and writes bench/results/overhead.json. Every load loop is bounded in count and
in time. The throughput rows use bench/loadgen.py, a raw keep-alive client cheap enough that the direct rate is
far above the target. On a shared machine the absolute numbers are noisy; the added-latency rows are differences
against the direct baseline.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.loadgen import post_request, run_load
from headroom.config import Settings
from tests.fakes.processes import FakeUpstream, ProxyProcess, ServerProcess, free_port

_REPO = Path(__file__).resolve().parents[1]
_DEFAULT_OUT = _REPO / "bench" / "results" / "overhead.json"
HEADERS = {"x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01", "content-type": "application/json"}
MODEL = "claude-sonnet-4-5"
PURE = ("--no-optimize", "--no-rate-limit", "--no-cache")
OPTIMIZING = ("--no-rate-limit", "--no-cache")
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()

BodyFactory = Callable[[int], bytes]
SECTIONS = ("latency", "compressible", "ttfb", "throughput", "memory", "startup")
_RUNS = itertools.count(1)


def headers_for(i: int) -> dict[str, str]:
    """Anthropic headers with one of 256 API keys, so the default rate limit (600 rpm per key) is not the subject."""
    return {**HEADERS, "x-api-key": f"sk-ant-bench-{i % 256}"}


@dataclass
class Row:
    name: str
    measured: float
    unit: str
    target: str
    passed: bool | None
    detail: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, measured: float, unit: str, target: str, passed: bool | None, detail: str = "") -> None:
        self.rows.append(Row(name, round(measured, 3), unit, target, passed, detail))
        verdict = "info" if passed is None else ("PASS" if passed else "FAIL")
        print(f"  {verdict:4} {name:48} {measured:10.3f} {unit:6} target {target:10} {detail}", flush=True)


# --- payloads ----------------------------------------------------------------------------------------------------


def small_body(i: int, stream: bool = False) -> bytes:
    body = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": f"hello #{i}"}]}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


def many_messages_body(i: int, size: int = 100_000) -> bytes:
    """~`size` bytes of short, distinct chat turns: nothing in it is big enough to compress."""
    messages: list[dict[str, Any]] = []
    n = 0
    while sum(len(m["content"]) + 40 for m in messages) < size:
        words = " ".join(WORDS[(n * 7 + k * 3 + i) % len(WORDS)] + str(n * 31 + k) for k in range(24))
        messages.append({"role": "user" if n % 2 == 0 else "assistant", "content": f"turn {n}: {words}"})
        n += 1
    if messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": f"and finally #{i}?"})
    return json.dumps({"model": MODEL, "max_tokens": 64, "messages": messages}).encode()


def tool_result_body(seed: int, size: int = 100_000) -> bytes:
    """One ~`size`-byte tool result (build log lines, highly repetitive) as the newest turn: compressible."""
    lines: list[str] = []
    n = 0
    while sum(len(line) + 1 for line in lines) < size:
        level = "ERROR" if n % 397 == 0 else "INFO"
        lines.append(f"2025-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}Z {level} worker-{n % 8} step {n} ok seed={seed}")
        n += 1
    messages = [
        {"role": "user", "content": "Run the build and tell me what failed."},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_bench1", "name": "Bash", "input": {"command": "make"}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_bench1", "content": "\n".join(lines)}],
        },
    ]
    return json.dumps({"model": MODEL, "max_tokens": 64, "messages": messages}).encode()


# --- measurement helpers -----------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed_post(client: httpx.Client, url: str, body: bytes) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    response = client.post(url, content=body, headers=headers_for(int(start * 1e6)))
    elapsed = (time.perf_counter() - start) * 1000
    response.raise_for_status()
    return elapsed, response


def interleaved_latency(
    direct: str, proxy: str, body_for: BodyFactory, n: int, time_limit: float = 120.0
) -> tuple[list[float], list[float]]:
    """n requests each way on keep-alive clients, alternating direct/proxy (and which goes first) per pair."""
    times: dict[str, list[float]] = {"direct": [], "proxy": []}
    offset = next(_RUNS) * 10_000_000  # unique bodies per run: a response cache never answers
    deadline = time.monotonic() + time_limit
    with httpx.Client(timeout=30) as a, httpx.Client(timeout=30) as b:
        for warm in range(5):
            timed_post(a, f"{direct}/v1/messages", body_for(-1 - warm))
            timed_post(b, f"{proxy}/v1/messages", body_for(-1 - warm))
        for i in range(n):
            if time.monotonic() > deadline:
                break
            body = body_for(i + offset)
            order = [("direct", a, direct), ("proxy", b, proxy)]
            for label, client, base in order if i % 2 == 0 else order[::-1]:
                times[label].append(timed_post(client, f"{base}/v1/messages", body)[0])
    return times["direct"], times["proxy"]


def added(repeats: list[tuple[list[float], list[float]]], q: float) -> tuple[float, list[float]]:
    """Median over repeats of percentile(proxy) - percentile(direct), and the per-repeat values."""
    diffs = [percentile(p, q) - percentile(d, q) for d, p in repeats]
    return statistics.median(diffs), [round(x, 3) for x in diffs]


def ttfb(client: httpx.Client, url: str, body: bytes) -> float:
    start = time.perf_counter()
    with client.stream("POST", url, content=body, headers=headers_for(int(start * 1e6))) as response:
        first: float | None = None
        for chunk in response.iter_raw():
            if first is None and chunk:
                first = (time.perf_counter() - start) * 1000
    assert first is not None and response.status_code == 200
    return first


def interleaved_ttfb(direct: str, proxy: str, n: int) -> tuple[list[float], list[float]]:
    times: dict[str, list[float]] = {"direct": [], "proxy": []}
    deadline = time.monotonic() + 120
    with httpx.Client(timeout=30) as a, httpx.Client(timeout=30) as b:
        for i in range(-5, n):
            if time.monotonic() > deadline:
                break
            body = small_body(i, stream=True)
            order = [("direct", a, direct), ("proxy", b, proxy)]
            for label, client, base in order if i % 2 == 0 else order[::-1]:
                value = ttfb(client, f"{base}/v1/messages", body)
                if i >= 0:
                    times[label].append(value)
    return times["direct"], times["proxy"]


def requests_per_second(
    base: str, body_for: BodyFactory, concurrency: int, total: int, time_limit: float = 60.0
) -> float:
    return load(base, body_for, concurrency, total, time_limit)[1]


def load(base: str, body_for: BodyFactory, concurrency: int, total: int, time_limit: float) -> tuple[int, float]:
    """(requests done, requests/s) of one bounded load run from the cheap raw-HTTP client of bench/loadgen.py;
    bodies are unique across runs (no cache hits)."""
    offset = next(_RUNS) * 10_000_000
    host = urlsplit(base).netloc

    def request(i: int) -> bytes:
        return post_request(host, "/v1/messages", headers_for(i), body_for(i + offset))

    done, elapsed = run_load(base, request, concurrency, total, time_limit)
    return done, done / elapsed


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def time_to_ready(upstream: str, args: tuple[str, ...]) -> float:
    """Seconds from spawning `headroom proxy` to its first /readyz 200 (polled every 5 ms), fresh workspace."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="headroom-bench-") as workspace:
        argv = [sys.executable, "-m", "headroom.cli", "proxy", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--anthropic-api-url", upstream, "--openai-api-url", upstream, *args]
        env = {**os.environ, "HEADROOM_WORKSPACE_DIR": workspace, "HEADROOM_TELEMETRY": "off"}
        start = time.perf_counter()
        server = ServerProcess(argv, env)
        try:
            with httpx.Client(timeout=1) as client:
                while time.perf_counter() - start < 30:
                    if server.process.poll() is not None:
                        raise RuntimeError(f"proxy exited: {server.output()}")
                    try:
                        if client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                            return time.perf_counter() - start
                    except httpx.TransportError:
                        pass
                    time.sleep(0.005)
            raise TimeoutError("proxy not ready after 30 s")
        finally:
            server.stop()


# --- the benchmark -----------------------------------------------------------------------------------------------


class Proxies:
    """The proxies under test, each in its own temp workspace."""

    def __init__(self, upstream: str) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="headroom-bench-")
        self.upstream = upstream
        self.started: list[ProxyProcess] = []

    def start(self, name: str, args: tuple[str, ...]) -> ProxyProcess:
        workspace = Path(self._dir.name) / name
        workspace.mkdir()
        proxy = ProxyProcess(self.upstream, workspace, args, None)
        self.started.append(proxy)
        return proxy

    def close(self) -> None:
        for proxy in self.started:
            proxy.stop()
        self._dir.cleanup()


def latency_rows(report: Report, fake: FakeUpstream, proxy: str, label: str, body_for: BodyFactory, args: Any) -> None:
    n, repeats, p50_target, p99_target = args
    runs = []
    for _ in range(repeats):
        runs.append(interleaved_latency(fake.url, proxy, body_for, n))
        fake.clear()
    p50, p50s = added(runs, 50)
    p99, p99s = added(runs, 99)
    direct_p50 = statistics.median(percentile(d, 50) for d, _ in runs)
    report.raw[label] = {"added_p50_ms": p50s, "added_p99_ms": p99s, "direct_p50_ms": round(direct_p50, 3)}
    detail = f"direct p50 {direct_p50:.2f} ms; per-repeat {p50s}"
    report.add(
        f"{label}: added p50", p50, "ms", f"<= {p50_target}" if p50_target else "-", _ok(p50, p50_target), detail
    )
    if p99_target is not None or label.startswith("small"):
        report.add(
            f"{label}: added p99",
            p99,
            "ms",
            f"<= {p99_target}" if p99_target else "-",
            _ok(p99, p99_target),
            f"per-repeat {p99s}",
        )


def _ok(value: float, target: float | None) -> bool | None:
    return None if target is None else value <= target


def compressible_rows(report: Report, fake: FakeUpstream, proxy: str, payloads: int, repeats_each: int) -> None:
    """A 100 KB compressible tool result: first sight of each payload, then repeats of the same payload."""
    first: list[float] = []
    repeat: list[float] = []
    ratio = ""
    with httpx.Client(timeout=60) as a, httpx.Client(timeout=60) as b:
        for seed in range(payloads):
            body = tool_result_body(seed + 1000 * os.getpid())
            direct_ms = [timed_post(a, f"{fake.url}/v1/messages", body)[0] for _ in range(3)]
            base = statistics.median(direct_ms)
            elapsed, response = timed_post(b, f"{proxy}/v1/messages", body)
            first.append(elapsed - base)
            before = response.headers.get("x-headroom-tokens-before")
            after = response.headers.get("x-headroom-tokens-after")
            ratio = f"tokens {before} -> {after}"
            for _ in range(repeats_each):
                d = timed_post(a, f"{fake.url}/v1/messages", body)[0]
                p = timed_post(b, f"{proxy}/v1/messages", body)[0]
                repeat.append(p - d)
        fake.clear()
    report.raw["compressible_100k"] = {"first_added_ms": [round(x, 2) for x in first], "tokens": ratio}
    report.add("100 KB compressible tool result: first, added", statistics.median(first), "ms", "-", None, ratio)
    report.add(
        "100 KB compressible tool result: repeat, added",
        statistics.median(repeat),
        "ms",
        "-",
        None,
        f"{len(repeat)} repeats",
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput_rows(
    report: Report, fake: FakeUpstream, proxy: ProxyProcess, total: int, repeats: int, label: str
) -> None:
    """Requests/s at concurrency 32, direct and through the proxy, and the proxy's CPU time per request: on a
    shared machine the rate depends on what else runs, the CPU cost per request much less."""
    direct_rates: list[float] = []
    proxy_rates: list[float] = []
    cpu_us: list[float] = []
    pid = proxy.server.process.pid
    for _ in range(repeats):
        direct_rates.append(requests_per_second(fake.url, small_body, 32, total))
        fake.clear()
        before = cpu_seconds(pid)
        done, rate = load(proxy.url, small_body, 32, total, 60.0)
        cpu_us.append((cpu_seconds(pid) - before) / done * 1e6)
        proxy_rates.append(rate)
        fake.clear()
    direct, through = statistics.median(direct_rates), statistics.median(proxy_rates)
    report.raw[f"rps_{label}"] = {
        "direct": [round(x) for x in direct_rates],
        "proxy": [round(x) for x in proxy_rates],
        "proxy_cpu_us_per_request": [round(x) for x in cpu_us],
    }
    report.add(f"fake upstream direct, c=32 ({label})", direct, "req/s", "-", None, "client+fake on the same 2 cores")
    report.add(
        f"through proxy, c=32 ({label})",
        through,
        "req/s",
        ">= 1500",
        through >= 1500,
        f"{through / direct:.0%} of direct",
    )
    cpu = statistics.median(cpu_us)
    report.add(f"proxy CPU per request, c=32 ({label})", cpu, "us", "-", None, f"1 core allows {1e6 / cpu:.0f} req/s")


# The proxy writes its savings file every `savings_export_interval` seconds, reading up to 5,000 recent events each
# time: the first write after that many requests sets a high-water mark that later writes reuse. The RSS warm-up
# runs past the first write so that this one-off step is not read as growth.
RSS_SETTLE_S = float(Settings.model_fields["savings_export_interval"].default) + 5


@dataclass(frozen=True)
class RssPlan:
    warmup: int
    total: int
    step: int


def rss_rows(
    report: Report, fake: FakeUpstream, proxies: Proxies, label: str, args: tuple[str, ...], plan: RssPlan
) -> None:
    """RSS of a fresh proxy, sampled every `plan.step` requests: a warm-up of at least `plan.warmup` requests that
    also runs past the first savings-file write, then `plan.total` requests whose growth is the verdict. Every
    sample (requests sent, seconds since start, MB) is in the JSON, so a step can be told from a slope."""
    started = time.monotonic()
    proxy = proxies.start(f"rss-{label}", args)
    pid = proxy.server.process.pid
    time.sleep(1)
    idle = rss_mb(pid)
    samples: list[dict[str, float]] = []
    sent = 0
    deadline = started + RSS_SETTLE_S + 600

    def run_until(done: Callable[[], bool]) -> None:
        nonlocal sent
        while not done() and time.monotonic() < deadline:
            answered = load(proxy.url, small_body, 32, plan.step, 60)[0]
            fake.clear()
            sent += answered
            samples.append({"requests": sent, "s": round(time.monotonic() - started, 1), "mb": round(rss_mb(pid), 1)})
            if not answered:
                return

    run_until(lambda: sent >= plan.warmup and time.monotonic() - started >= RSS_SETTLE_S)
    warm = samples[-1]
    run_until(lambda: sent >= warm["requests"] + plan.total)
    measured = [sample["mb"] for sample in samples if sample["requests"] > warm["requests"]]
    growth = samples[-1]["mb"] - warm["mb"]
    proxy.stop()
    report.raw[f"rss_{label}"] = {"idle_mb": round(idle, 1), "warmup_requests": warm["requests"], "samples": samples}
    report.add(f"RSS idle after startup ({label})", idle, "MB", "<= 80", idle <= 80)
    report.add(
        f"RSS warm-up ({label})",
        warm["mb"] - idle,
        "MB",
        "-",
        None,
        f"{warm['requests']:.0f} requests in {warm['s']:.0f} s, past the first savings-file write",
    )
    report.add(
        f"RSS growth over the next {sent - warm['requests']:.0f} requests ({label})",
        growth,
        "MB",
        "<= 2",
        growth <= 2,
        f"from {warm['mb']:.1f} MB, every {plan.step}: {' '.join(f'{mb:.1f}' for mb in measured)}",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500, help="requests per latency run, each way")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of each measurement")
    parser.add_argument("--rps-requests", type=int, default=3000, help="requests per throughput run")
    parser.add_argument("--rss-requests", type=int, default=10_000, help="requests for the RSS growth check")
    parser.add_argument("--rss-warmup", type=int, default=10_000, help="requests before the RSS growth check")
    parser.add_argument("--rss-step", type=int, default=1000, help="requests between RSS samples")
    parser.add_argument("--starts", type=int, default=5, help="proxy starts for the readiness time")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        default=list(SECTIONS),
        help="run only these sections (the JSON then holds only their rows)",
    )
    parser.add_argument("--out", type=Path, default=_DEFAULT_OUT)
    args = parser.parse_args(argv)
    only = set(args.only)
    report = Report()
    report.raw["machine"] = {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}
    fake = FakeUpstream()
    proxies = Proxies(fake.url)
    n, reps = args.requests, args.repeats
    try:
        pure = proxies.start("pure", PURE)
        optimizing = proxies.start("optimizing", OPTIMIZING)
        defaults = proxies.start("defaults", ())
        time.sleep(1)
        if "latency" in only:
            print("latency (direct vs proxy, interleaved per request)", flush=True)
            latency_rows(report, fake, pure.url, "small, --no-optimize", small_body, (n, reps, 1.0, 3.0))
            latency_rows(report, fake, pure.url, "100 KB, --no-optimize", many_messages_body, (n, reps, None, None))
            latency_rows(report, fake, optimizing.url, "small, optimize on", small_body, (n, reps, None, None))
            latency_rows(
                report, fake, optimizing.url, "100 KB small msgs, optimize on", many_messages_body, (n, reps, 3.0, None)
            )
            latency_rows(report, fake, defaults.url, "small, defaults", small_body, (n, reps, None, None))
        if "compressible" in only:
            compressible_rows(report, fake, optimizing.url, payloads=10, repeats_each=10)
        if "ttfb" in only:
            print("streaming time to first byte", flush=True)
            runs = []
            for _ in range(reps):
                runs.append(interleaved_ttfb(fake.url, pure.url, max(100, n // 2)))
                fake.clear()
            value, values = added(runs, 50)
            report.raw["ttfb_added_p50_ms"] = values
            report.add("stream first byte: added p50", value, "ms", "<= 1", value <= 1.0, f"per-repeat {values}")
        if "throughput" in only:
            print("throughput (raw keep-alive HTTP/1.1 client on uvloop, 1 proxy worker)", flush=True)
            throughput_rows(report, fake, pure, args.rps_requests, reps, "pure")
            throughput_rows(report, fake, defaults, args.rps_requests, reps, "defaults")
        if "memory" in only:
            print("memory", flush=True)
            plan = RssPlan(args.rss_warmup, args.rss_requests, args.rss_step)
            rss_rows(report, fake, proxies, "pure", PURE, plan)
            rss_rows(report, fake, proxies, "defaults", (), plan)
    finally:
        proxies.close()
    try:
        if "startup" in only:
            print("startup", flush=True)
            starts = [time_to_ready(fake.url, ()) for _ in range(args.starts)]
            ready = statistics.median(starts)
            report.raw["ready_s"] = [round(x, 3) for x in starts]
            detail = f"starts {report.raw['ready_s']}"
            report.add("process start to /readyz 200 (median)", ready, "s", "<= 1.5", ready <= 1.5, detail)
    finally:
        fake.close()
    report.raw["machine"]["loadavg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": [asdict(r) for r in report.rows], "raw": report.raw}, indent=2) + "\n")
    failed = [r.name for r in report.rows if r.passed is False]
    print(f"\n{len(report.rows)} rows, {len(failed)} FAIL; wrote {args.out}")


if __name__ == "__main__":
    main()
