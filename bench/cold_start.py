"""Cold-start benchmark of the Lambda API handler: `python -X importtime -c "import handlers.api"` and, in fresh
processes, importing the handler, building the app (`LambdaApp`) and answering the first and second `/livez`
event; reports the median of several runs, the heaviest imports, and the same phases of a floor (the bare library
stack: asyncio, Falcon, httpx, pydantic-settings and Mangum serving an empty app) measured interleaved in the same
run, so that what Headroom itself adds is readable on a loaded machine.

Run from the repository root: `python -m bench.cold_start [--runs 5] [--python PY] [--path DIR ...]`. With
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
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parents[1]
_DEFAULT_OUT = _REPO / "bench" / "results" / "cold_start.json"
TARGET_MS = 300.0

# Runs in a fresh interpreter: every import is paid here, as in a new execution environment. The two probes differ
# only in what they import and build; the floor is the bare stack (the libraries the app cannot start without, an
# empty Falcon app under Mangum), measured interleaved with Headroom so that both see the same machine load.
_HEADROOM = """
import handlers.api
t1 = time.perf_counter()
from headroom.config import Settings
app = handlers.api.LambdaApp(Settings(_env_file=None, store="memory", workspace_dir=sys.argv[1], telemetry=False))
"""
_FLOOR = """
import asyncio, falcon.asgi, httpx, pydantic_settings
t1 = time.perf_counter()
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
t0 = time.perf_counter()
{setup}
t2 = time.perf_counter()
event = {{"version": "2.0", "rawPath": "/livez", "rawQueryString": "", "headers": {{}},
         "requestContext": {{"http": {{"method": "GET", "path": "/livez", "sourceIp": "127.0.0.1"}}}}}}
status = app(event, None)["statusCode"]
t3 = time.perf_counter()
app(event, None)
t4 = time.perf_counter()
app.close()
ml = sorted(name for name in ("onnxruntime", "numpy", "tokenizers", "hnswlib", "torch") if name in sys.modules)
print(json.dumps({{"import_ms": (t1 - t0) * 1e3, "build_ms": (t2 - t1) * 1e3, "first_event_ms": (t3 - t2) * 1e3,
                  "warm_event_ms": (t4 - t3) * 1e3, "status": status, "ml_modules": ml}}))
"""
PROBES = {"headroom": _PROBE.format(setup=_HEADROOM), "floor": _PROBE.format(setup=_FLOOR)}


def _env(paths: list[Path]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEADROOM_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths) if paths else str(_REPO)
    return env


PROFILED = ("handlers.api", "headroom.app")


def import_profile(python: str, paths: list[Path]) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """`-X importtime` of the handler and then of what building the app imports: each one's cumulative ms, and
    the top-level packages by self time."""
    with tempfile.TemporaryDirectory(prefix="headroom-cold-") as elsewhere:
        found = subprocess.run(
            [python, "-X", "importtime", "-c", "; ".join(f"import {name}" for name in PROFILED)],
            env=_env(paths),
            cwd=elsewhere,
            capture_output=True,
            text=True,
            check=True,
        )
    by_package: dict[str, float] = defaultdict(float)
    cumulative: dict[str, float] = {}
    for line in found.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [part.strip() for part in line.removeprefix("import time:").split("|")]
        if not parts[0].isdigit():
            continue
        self_us, cumulative_us, name = int(parts[0]), int(parts[1]), parts[2]
        by_package[name.strip().split(".")[0]] += self_us / 1e3
        if name.strip() in PROFILED:
            cumulative[name.strip()] = cumulative_us / 1e3
    heaviest = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:12]
    return cumulative, heaviest


def cold_starts(python: str, paths: list[Path], runs: int) -> dict[str, list[dict[str, Any]]]:
    """`runs` fresh processes of each probe, alternating. They run outside the repository (`python -c` puts its
    working directory first on sys.path), so `--path` decides which code is measured."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in PROBES}
    with tempfile.TemporaryDirectory(prefix="headroom-cold-") as workspace:
        for _ in range(runs):
            for name, probe in PROBES.items():
                found = subprocess.run(
                    [python, "-c", probe, workspace], env=_env(paths), cwd=workspace, capture_output=True, text=True
                )
                if found.returncode != 0:
                    raise RuntimeError(f"cold-start probe {name} failed:\n{found.stderr}")
                results[name].append(json.loads(found.stdout.strip().splitlines()[-1]))
    return results


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0] if key.endswith("_ms")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh processes to time")
    parser.add_argument("--python", default=sys.executable, help="interpreter to measure with")
    parser.add_argument("--path", type=Path, action="append", default=[], help="PYTHONPATH entry (repeatable)")
    parser.add_argument("--out", type=Path, default=_DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.path]
    imports_ms, heaviest = import_profile(args.python, paths)
    all_runs = cold_starts(args.python, paths, args.runs)
    runs, floor_runs = all_runs["headroom"], all_runs["floor"]
    median, floor = medians(runs), medians(floor_runs)
    cold_ms = median["import_ms"] + median["build_ms"] + median["first_event_ms"]
    floor_ms = floor["import_ms"] + floor["build_ms"] + floor["first_event_ms"]
    print(f"{'phase (median of ' + str(args.runs) + ')':<34}{'ms':>9}{'floor':>9}")
    for key, value in median.items():
        print(f"{key.removesuffix('_ms').replace('_', ' '):<34}{value:>9.1f}{floor[key]:>9.1f}")
    print(f"{'cold start (import+build+first)':<34}{cold_ms:>9.1f}{floor_ms:>9.1f}  target {TARGET_MS:.0f}")
    print(f"{'headroom over the floor':<34}{cold_ms - floor_ms:>9.1f}  ratio {cold_ms / floor_ms:.2f}\n")
    for name, ms in imports_ms.items():
        print(f"{'-X importtime: ' + name:<34}{ms:>9.1f}")
    print(f"{'heaviest packages (self time)':<34}")
    for name, ms in heaviest:
        print(f"  {name:<32}{ms:>9.1f}")
    result = {
        "python": subprocess.run([args.python, "-V"], capture_output=True, text=True).stdout.strip(),
        "pythonpath": [str(p.relative_to(_REPO)) if p.is_relative_to(_REPO) else str(p) for p in paths],
        "loadavg": os.getloadavg(),
        "runs": runs,
        "median_ms": median,
        "cold_start_ms": cold_ms,
        "target_ms": TARGET_MS,
        "within_target": cold_ms <= TARGET_MS,
        "floor_runs": floor_runs,
        "floor_median_ms": floor,
        "floor_cold_start_ms": floor_ms,
        "over_floor_ms": cold_ms - floor_ms,
        "importtime_cumulative_ms": imports_ms,
        "heaviest_imports_ms": dict(heaviest),
        "ml_modules_loaded": runs[0]["ml_modules"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
