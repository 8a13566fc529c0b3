"""Content detection on every corpus payload and on small hand-made shapes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from headroom.pipeline.detect import detect_kind, detect_language, split_preamble
from headroom.pipeline.types import ContentKind

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
EXPECTED = {
    "json_api": {ContentKind.JSON},
    "diffs": {ContentKind.DIFF},
    "code": {ContentKind.CODE},
    "test_output": {ContentKind.TEST_OUTPUT},
    "cli_output": {ContentKind.TABLE},
    "logs": {ContentKind.LOGS, ContentKind.TEXT},
    "search_results": {ContentKind.JSON, ContentKind.LOGS, ContentKind.SEARCH},
}


def _payloads() -> list[tuple[str, str, str]]:
    out = []
    for meta_path in sorted(CORPUS.glob("*/*.meta.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        text = (CORPUS / meta["kind"] / meta["payload_file"]).read_text(encoding="utf-8")
        out.append((meta["id"], meta["kind"], text))
    return out


PAYLOADS = _payloads()


@pytest.mark.parametrize(("payload_id", "kind", "text"), PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_corpus_payload_kind(payload_id: str, kind: str, text: str) -> None:
    if kind in EXPECTED:
        assert detect_kind(text) in EXPECTED[kind], payload_id


def test_most_logs_are_logs() -> None:
    logs = [text for _, kind, text in PAYLOADS if kind == "logs"]
    assert sum(detect_kind(text) is ContentKind.LOGS for text in logs) >= len(logs) - 1


@pytest.mark.parametrize(
    ("suffix", "language"),
    [(".py", "python"), (".go", "go"), (".rs", "rust"), (".ts", "typescript")],
)
def test_code_language(suffix: str, language: str) -> None:
    texts = [p.read_text(encoding="utf-8") for p in (CORPUS / "code").glob(f"*{suffix}")]
    assert texts
    assert all(detect_language(text) == language for text in texts)


def test_language_from_tool_name() -> None:
    assert detect_language("x = 1\n", "Read src/app.tsx") == "typescript"


def test_holmes_preamble_is_split_and_body_detected() -> None:
    text = (CORPUS / "json_api" / "holmes_prometheus_rules.txt").read_text(encoding="utf-8")
    preamble, body = split_preamble(text)
    assert preamble.count("\n") == 2
    assert preamble + body == text
    assert body.lstrip().startswith("{")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", ContentKind.TEXT),
        ("hello world, this is prose.\nNothing special here.", ContentKind.TEXT),
        ("src/a.py:12:def f():\nsrc/a.py:40:    return f()\nsrc/b.py:3:import a\n", ContentKind.SEARCH),
        ("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n+b\n", ContentKind.DIFF),
        ('{"a": [1, 2, 3]}', ContentKind.JSON),
        ("=== RUN   TestA\n--- FAIL: TestA (0.00s)\nFAIL\tpkg/a\t0.01s\n", ContentKind.TEST_OUTPUT),
        (
            "NAME   READY   STATUS    RESTARTS   AGE\n" + "pod-a   1/1     Running   0          1d\n" * 5,
            ContentKind.TABLE,
        ),
        ("2024-01-01 10:00:00 INFO start\n2024-01-01 10:00:01 ERROR boom\n", ContentKind.LOGS),
        ("ünïcödé ✓ text\n" * 3, ContentKind.TEXT),
    ],
)
def test_small_shapes(text: str, kind: ContentKind) -> None:
    assert detect_kind(text) is kind


def test_detection_is_fast_on_large_input() -> None:
    text = (CORPUS / "logs" / "loghub_openstack_2k.log").read_text(encoding="utf-8")
    started = time.perf_counter()
    for _ in range(20):
        detect_kind(text)
    assert (time.perf_counter() - started) / 20 < 0.01


def test_huge_single_line_is_handled() -> None:
    assert detect_kind("x" * 500_000) is ContentKind.TEXT


@pytest.mark.parametrize("separator", ["→", "\t"])
def test_line_numbered_code_is_code(separator: str) -> None:
    source = "\n".join(f"def handler_{i}(event):\n    if event is None:\n        return None\n" for i in range(20))
    text = "\n".join(f"{i + 1:>6}{separator}{line}" for i, line in enumerate(source.split("\n")))
    assert detect_kind(text) is ContentKind.CODE
    assert detect_language(text) == "python"
    prose = "\n".join(f"{i + 1:>6}→This line is plain prose about the weather and the sea." for i in range(40))
    assert detect_kind(prose) is ContentKind.TEXT
