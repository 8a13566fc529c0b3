"""Compression benchmark over the evaluation corpus: tokens saved, needles kept, and time per payload.

Run from the repository root: `python -m bench.compression [--corpus PATH] [--out PATH] [--repeats N]`. Every
payload goes through `router.compress_block` as one tool result with the sidecar's question as the query.

The machine is shared, so one timing of one run says little. `compress_block` has no memo (the pipeline's is
bypassed), and every payload is compressed `--repeats` times; the figures are the medians of those runs: `ms` is
the compressing thread's CPU time, which time slices lost to other processes do not inflate, and `wall_ms` the
elapsed time. Every repeat must produce the same bytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from headroom.accounting.tokens import count_tokens
from headroom.pipeline.detect import detect_kind
from headroom.pipeline.json_compressor import JsonCompressor
from headroom.pipeline.router import compress_block, registry
from headroom.pipeline.types import Compressed, CompressionContext

_REPO = Path(__file__).resolve().parents[1]
_DEFAULT_CORPUS = _REPO.parent / "shared" / "corpus"
_DEFAULT_OUT = _REPO / "bench" / "results" / "compression.json"


@dataclass
class PayloadResult:
    id: str
    kind: str
    detected: str
    transform: str
    lossless: bool
    bytes: int
    tokens_before: int
    tokens_after: int
    needles: int
    needles_visible: int
    needles_recoverable: int
    ms: float
    wall_ms: float
    json_lossless_tokens: int | None


def _timed(text: str, ctx: CompressionContext, repeats: int) -> tuple[Compressed | None, float, float]:
    """The result and the median CPU and wall milliseconds of `repeats` compressions of the same block."""
    cpu: list[float] = []
    wall: list[float] = []
    outputs: set[str | None] = set()
    result: Compressed | None = None
    for _ in range(repeats):
        cpu_started, wall_started = time.thread_time(), time.perf_counter()
        result = compress_block(text, ctx)
        cpu.append((time.thread_time() - cpu_started) * 1000)
        wall.append((time.perf_counter() - wall_started) * 1000)
        outputs.add(None if result is None else result.text)
    if len(outputs) != 1:
        raise SystemExit(f"non-deterministic output over {repeats} runs")
    return result, statistics.median(cpu), statistics.median(wall)


def _run_payload(corpus: Path, meta_path: Path, repeats: int) -> PayloadResult:
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    text = (corpus / meta["kind"] / meta["payload_file"]).read_bytes().decode("utf-8")
    result, cpu_ms, wall_ms = _timed(text, CompressionContext(query=meta["question"]), repeats)
    out = text if result is None else result.text
    lossless = result is None or result.lossless
    visible = sum(1 for needle in meta["needles"] if needle in out)
    recoverable = sum(1 for needle in meta["needles"] if needle in out or (not lossless and needle in text))
    fold = JsonCompressor().fold(text) if meta["kind"] == "json_api" else None
    return PayloadResult(
        id=meta["id"],
        kind=meta["kind"],
        detected=detect_kind(text).value,
        transform="none" if result is None else result.transform,
        lossless=lossless,
        bytes=len(text.encode("utf-8")),
        tokens_before=count_tokens(text),
        tokens_after=count_tokens(out),
        needles=len(meta["needles"]),
        needles_visible=visible,
        needles_recoverable=recoverable,
        ms=cpu_ms,
        wall_ms=wall_ms,
        json_lossless_tokens=None if fold is None else count_tokens(fold.text),
    )


def _summary(rows: list[PayloadResult]) -> dict[str, float | int]:
    before = sum(r.tokens_before for r in rows)
    after = sum(r.tokens_after for r in rows)
    needles = sum(r.needles for r in rows)
    per_100kb = [r.ms * 100_000 / max(r.bytes, 1) for r in rows]
    wall_per_100kb = [r.wall_ms * 100_000 / max(r.bytes, 1) for r in rows]
    return {
        "payloads": len(rows),
        "tokens_before": before,
        "tokens_after": after,
        "reduction": 1 - after / before if before else 0.0,
        "needles": needles,
        "visible": sum(r.needles_visible for r in rows) / needles if needles else 1.0,
        "recoverable": sum(r.needles_recoverable for r in rows) / needles if needles else 1.0,
        "p50_ms_per_100kb": statistics.median(per_100kb) if per_100kb else 0.0,
        "max_ms": max((r.ms for r in rows), default=0.0),
        "wall_p50_ms_per_100kb": statistics.median(wall_per_100kb) if wall_per_100kb else 0.0,
        "wall_max_ms": max((r.wall_ms for r in rows), default=0.0),
    }


def _print_table(rows: list[PayloadResult], by_kind: dict[str, dict[str, float | int]]) -> None:
    print(
        f"{'payload':44} {'detected':11} {'transform':15} {'before':>7} {'after':>7} {'saved':>6} {'vis':>5} "
        f"{'ms':>6} {'wall':>6}"
    )
    for r in rows:
        saved = 1 - r.tokens_after / r.tokens_before if r.tokens_before else 0.0
        print(
            f"{r.id:44} {r.detected:11} {r.transform:15} {r.tokens_before:7} {r.tokens_after:7} {saved:6.1%} "
            f"{r.needles_visible}/{r.needles:<3} {r.ms:6.1f} {r.wall_ms:6.1f}"
        )
    print("\nms: median thread CPU time per payload; wall: median elapsed time")
    header = f"{'kind':14} {'n':>3} {'before':>8} {'after':>8} {'saved':>6} {'visible':>8} {'recover':>8}"
    print(header + f" {'p50 ms/100KB':>13} {'max ms':>7} {'wall p50':>9} {'wall max':>9}")
    for kind, s in by_kind.items():
        print(
            f"{kind:14} {s['payloads']:3} {s['tokens_before']:8} {s['tokens_after']:8} {s['reduction']:6.1%} "
            f"{s['visible']:8.1%} {s['recoverable']:8.1%} {s['p50_ms_per_100kb']:13.1f} {s['max_ms']:7.1f} "
            f"{s['wall_p50_ms_per_100kb']:9.1f} {s['wall_max_ms']:9.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=_DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=_DEFAULT_OUT)
    parser.add_argument("--repeats", type=int, default=5, help="compressions per payload; medians are reported")
    args = parser.parse_args()
    registry()
    count_tokens("warm up")
    rows = [_run_payload(args.corpus, meta, args.repeats) for meta in sorted(args.corpus.glob("*/*.meta.json"))]
    kinds = sorted({r.kind for r in rows})
    by_kind = {kind: _summary([r for r in rows if r.kind == kind]) for kind in kinds}
    by_kind["TOTAL"] = _summary(rows)
    folds = [r for r in rows if r.json_lossless_tokens is not None]
    json_lossless = {r.id: 1 - (r.json_lossless_tokens or 0) / r.tokens_before for r in folds if r.tokens_before}
    _print_table(rows, by_kind)
    print("\nJSON lossless fold (json_api): " + ", ".join(f"{k} {v:.0%}" for k, v in json_lossless.items()))
    print("compressors loaded: " + ", ".join(sorted(k.value for k in registry())))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "payloads": [asdict(r) for r in rows],
        "by_kind": by_kind,
        "json_lossless_reduction": json_lossless,
        "compressors": sorted(k.value for k in registry()),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
