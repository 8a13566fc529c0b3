"""Cold-start benchmark of the Lambda API handler: in fresh processes, importing the handler, building the app
(`LambdaApp`, on the AWS store as deployed, or `--store memory`) and answering the first and second `/livez`
event, then a first proxy route (`/metrics`, which pays for what the cold start deferred but calls no AWS service
and loads no tokenizer). Reports medians of several runs on the wall clock and in process CPU time, the same
phases of a floor (the bare library stack: asyncio, Falcon, httpx, pydantic-settings and Mangum serving an empty
app) measured interleaved in the same run, so that what Headroom itself adds is readable on a loaded machine, and
`-X importtime` of the cold start (the heaviest packages and Headroom's own modules).

Run from the repository root: `python -m bench.cold_start [--runs 5] [--store aws|memory] [--baseline DIR]
[--python PY] [--path DIR ...]`, `--baseline` naming another checkout timed interleaved with this one. With
`--python python3.12 --path layers/build/function --path layers/build/deps/python` it measures the built Lambda
artefacts (byte-compiled, no dev packages) instead of the development environment.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parents[1]
_DEFAULT_OUT = _REPO / "bench" / "results" / "cold_start.json"
TARGET_MS = 300.0

# Runs in a fresh interpreter: every import is paid here, as in a new execution environment. The two probes differ
# only in what they import and build; the floor is the bare stack (the libraries the app cannot start without, an
# empty Falcon app under Mangum), measured interleaved with Headroom so that both see the same machine load. Each
# phase is timed on the wall clock and in process CPU time (steadier on a shared machine). Headroom's probe then
# sends a first proxy route (when `proxy` is passed): what the cold start deferred is paid there. The AWS store's
# endpoint is a closed loopback port that nothing here contacts.
_HEADROOM_IMPORT = "import handlers.api"
_HEADROOM_BUILD = """
from headroom.config import Settings
store = {"store": sys.argv[2], "aws_endpoint_url": "http://127.0.0.1:9", "aws_region": "us-east-1"}
app = handlers.api.LambdaApp(Settings(_env_file=None, workspace_dir=sys.argv[1], telemetry=False, **store))
"""
_FLOOR_IMPORT = "import asyncio, falcon.asgi, httpx, pydantic_settings"
_FLOOR_BUILD = """
from mangum import Mangum
class Live:
    async def on_get(self, req, resp):
        resp.media = {"status": "ok"}
bare = falcon.asgi.App()
bare.add_route("/livez", Live())
asyncio.set_event_loop(asyncio.new_event_loop())
app = Mangum(bare, lifespan="off")
app.close = lambda: None
"""
_PROBE = """
import json, sys, time
marks = [(time.perf_counter(), time.process_time())]
{imports}
marks.append((time.perf_counter(), time.process_time()))
{build}
marks.append((time.perf_counter(), time.process_time()))
def event(method, path, body=None):
    return {{"version": "2.0", "rawPath": path, "rawQueryString": "", "body": body, "isBase64Encoded": False,
            "headers": {{"content-type": "application/json"}},
            "requestContext": {{"http": {{"method": method, "path": path, "sourceIp": "127.0.0.1"}}}}}}
status = app(event("GET", "/livez"), None)["statusCode"]
marks.append((time.perf_counter(), time.process_time()))
app(event("GET", "/livez"), None)
marks.append((time.perf_counter(), time.process_time()))
proxy_status = None
if "proxy" in sys.argv[3:]:
    proxy_status = app(event("GET", "/metrics"), None)["statusCode"]
    marks.append((time.perf_counter(), time.process_time()))
app.close()
ml = sorted(name for name in ("onnxruntime", "numpy", "tokenizers", "hnswlib", "torch") if name in sys.modules)
phases = ("import", "build", "first_event", "warm_event", "first_proxy_event")
result = {{"status": status, "proxy_status": proxy_status, "ml_modules": ml}}
for phase, start, end in zip(phases, marks, marks[1:]):
    result[phase + "_ms"] = (end[0] - start[0]) * 1e3
    result[phase + "_cpu_ms"] = (end[1] - start[1]) * 1e3
print(json.dumps(result))
"""
PROBES = {
    "headroom": _PROBE.format(imports=_HEADROOM_IMPORT, build=_HEADROOM_BUILD),
    "floor": _PROBE.format(imports=_FLOOR_IMPORT, build=_FLOOR_BUILD),
}
COLD_PHASES = ("import", "build", "first_event")


def _env(paths: list[Path]) -> dict[str, str]:
    """The probe's environment: no Headroom or Python settings of the caller's, and dummy AWS credentials with the
    instance metadata lookup off, so that creating a boto3 client never leaves the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEADROOM_", "PYTHON", "AWS_"))}
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true")
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths) if paths else str(_REPO)
    return env


OWN = ("headroom", "handlers")


@dataclass
class ImportProfile:
    """`-X importtime` of Headroom's probe up to its first answered event: the handler's cumulative import time,
    the top-level packages by self time, and Headroom's own modules by self time."""

    handler_ms: float = 0.0
    packages: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    own: dict[str, float] = field(default_factory=dict)

    def heaviest(self, table: dict[str, float], count: int = 12) -> list[tuple[str, float]]:
        return sorted(table.items(), key=lambda item: item[1], reverse=True)[:count]


def import_profile(python: str, paths: list[Path], store: str) -> ImportProfile:
    with tempfile.TemporaryDirectory(prefix="headroom-cold-") as workspace:
        found = subprocess.run(
            [python, "-X", "importtime", "-c", PROBES["headroom"], workspace, store],
            env=_env(paths),
            cwd=workspace,
            capture_output=True,
            text=True,
            check=True,
        )
    profile = ImportProfile()
    for line in found.stderr.splitlines():
        parts = [part.strip() for part in line.removeprefix("import time:").split("|")]
        if not line.startswith("import time:") or len(parts) != 3 or not parts[0].isdigit():
            continue
        self_ms, name = int(parts[0]) / 1e3, parts[2]
        profile.packages[name.split(".")[0]] += self_ms
        if name.startswith(OWN):
            profile.own[name] = self_ms
        if name == "handlers.api":
            profile.handler_ms = int(parts[1]) / 1e3
    return profile


def cold_starts(
    python: str, paths: list[Path], runs: int, store: str, baseline: list[Path] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """`runs` fresh processes of each probe, alternating (with `baseline`, Headroom's probe also runs on that
    PYTHONPATH, another checkout to compare with). They run outside the repository (`python -c` puts its working
    directory first on sys.path), so the PYTHONPATH decides which code is measured."""
    probes = [(name, probe, paths) for name, probe in PROBES.items()]
    if baseline is not None:
        probes.append(("baseline", PROBES["headroom"], baseline))
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in probes}
    with tempfile.TemporaryDirectory(prefix="headroom-cold-") as workspace:
        for _ in range(runs):
            for name, probe, pythonpath in probes:
                command = [python, "-c", probe, workspace, store, *([] if name == "floor" else ["proxy"])]
                found = subprocess.run(command, env=_env(pythonpath), cwd=workspace, capture_output=True, text=True)
                if found.returncode != 0:
                    raise RuntimeError(f"cold-start probe {name} failed:\n{found.stderr}")
                result = json.loads(found.stdout.strip().splitlines()[-1])
                if result["status"] != 200 or result["proxy_status"] not in (None, 200):
                    raise RuntimeError(f"cold-start probe {name} answered {result['status']}, {result['proxy_status']}")
                results[name].append(result)
    return results


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0] if key.endswith("_ms")}


def cold(median: dict[str, float], unit: str) -> float:
    """Import + build + first event, in `_ms` (wall) or `_cpu_ms` (process CPU)."""
    return sum(median[phase + unit] for phase in COLD_PHASES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh processes to time")
    parser.add_argument("--python", default=sys.executable, help="interpreter to measure with")
    parser.add_argument("--path", type=Path, action="append", default=[], help="PYTHONPATH entry (repeatable)")
    parser.add_argument("--out", type=Path, default=_DEFAULT_OUT, help="JSON results file")
    parser.add_argument("--store", choices=("aws", "memory"), default="aws", help="state backend (Lambda: aws)")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout to time interleaved (e.g. `git archive <commit>` extracted)"
    )
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.path]
    baseline = [args.baseline.resolve()] if args.baseline else None
    profile = import_profile(args.python, paths, args.store)
    all_runs = cold_starts(args.python, paths, args.runs, args.store, baseline)
    runs, floor_runs = all_runs["headroom"], all_runs["floor"]
    median, floor = medians(runs), medians(floor_runs)
    wall, floor_wall = cold(median, "_ms"), cold(floor, "_ms")
    cpu, floor_cpu = cold(median, "_cpu_ms"), cold(floor, "_cpu_ms")
    print(f"{'phase (median of ' + str(args.runs) + ')':<34}{'wall ms':>9}{'floor':>9}{'cpu ms':>9}{'floor':>9}")
    for phase in (*COLD_PHASES, "warm_event"):
        ms, cpu_ms = phase + "_ms", phase + "_cpu_ms"
        label = phase.replace("_", " ")
        print(f"{label:<34}{median[ms]:>9.1f}{floor[ms]:>9.1f}{median[cpu_ms]:>9.1f}{floor[cpu_ms]:>9.1f}")
    print(f"{'cold start (import+build+first)':<34}{wall:>9.1f}{floor_wall:>9.1f}{cpu:>9.1f}{floor_cpu:>9.1f}")
    print(f"{'HEADROOM OVER THE FLOOR':<34}{wall - floor_wall:>9.1f}{'':>9}{cpu - floor_cpu:>9.1f}")
    print(f"{'target':<34}{TARGET_MS:>9.0f}  x floor: wall {wall / floor_wall:.2f}, cpu {cpu / floor_cpu:.2f}")
    print(
        f"{'then a first /metrics':<34}{median['first_proxy_event_ms']:>9.1f}{'':>9}"
        f"{median['first_proxy_event_cpu_ms']:>9.1f}  (builds what the cold start deferred)"
    )
    before: dict[str, float] = {}
    if "baseline" in all_runs:
        before = medians(all_runs["baseline"])
        before_wall, before_cpu = cold(before, "_ms") - floor_wall, cold(before, "_cpu_ms") - floor_cpu
        print(f"{'baseline over the floor':<34}{before_wall:>9.1f}{'':>9}{before_cpu:>9.1f}")
        print(
            f"{'baseline first /metrics':<34}{before['first_proxy_event_ms']:>9.1f}{'':>9}"
            f"{before['first_proxy_event_cpu_ms']:>9.1f}"
        )
    print()
    print(f"{'-X importtime to the first event':<34}")
    print(f"  {'handlers.api (cumulative)':<32}{profile.handler_ms:>9.1f}")
    print(f"  {'headroom + handlers (self)':<32}{sum(profile.own.values()):>9.1f}  {len(profile.own)} modules")
    for name, ms in profile.heaviest(profile.own, 8):
        print(f"    {name:<30}{ms:>9.1f}")
    print(f"{'heaviest packages (self time)':<34}")
    for name, ms in profile.heaviest(profile.packages):
        print(f"  {name:<32}{ms:>9.1f}")
    result = {
        "python": subprocess.run([args.python, "-V"], capture_output=True, text=True).stdout.strip(),
        "pythonpath": [str(p.relative_to(_REPO)) if p.is_relative_to(_REPO) else str(p) for p in paths],
        "store": args.store,
        "loadavg": os.getloadavg(),
        "runs": runs,
        "median_ms": median,
        "cold_start_ms": wall,
        "cold_start_cpu_ms": cpu,
        "target_ms": TARGET_MS,
        "within_target": wall <= TARGET_MS,
        "floor_runs": floor_runs,
        "floor_median_ms": floor,
        "floor_cold_start_ms": floor_wall,
        "floor_cold_start_cpu_ms": floor_cpu,
        "over_floor_ms": wall - floor_wall,
        "over_floor_cpu_ms": cpu - floor_cpu,
        "importtime_handler_ms": profile.handler_ms,
        "importtime_own_modules_ms": profile.own,
        "heaviest_imports_ms": dict(profile.heaviest(profile.packages)),
        "ml_modules_loaded": runs[0]["ml_modules"],
        "baseline": {"pythonpath": str(args.baseline), "median_ms": before, "runs": all_runs.get("baseline", [])},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
