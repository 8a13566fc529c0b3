"""Test-output compressor: failures, messages and summaries survive for every runner format; passes fold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from headroom.accounting.tokens import count_tokens
from headroom.pipeline.test_output_compressor import TestOutputCompressor
from headroom.pipeline.types import CompressionContext

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def _payloads() -> list[dict[str, Any]]:
    out = []
    for meta_path in sorted((CORPUS / "test_output").glob("*.meta.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["text"] = (CORPUS / "test_output" / meta["payload_file"]).read_bytes().decode("utf-8")
        out.append(meta)
    return out


PAYLOADS = _payloads()
IDS = [p["id"] for p in PAYLOADS]


def _compress(text: str, query: str = "", depth: int = 1) -> str:
    result = TestOutputCompressor().compress(text, CompressionContext(query=query, depth=depth))
    return text if result is None else result.text


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("meta", PAYLOADS, ids=IDS)
def test_needles_visible_and_tokens_saved(meta: dict[str, Any], depth: int) -> None:
    out = _compress(meta["text"], meta["question"], depth)
    assert [n for n in meta["needles"] if n not in out] == []
    assert count_tokens(out) < 0.5 * count_tokens(meta["text"])


@pytest.mark.parametrize("meta", PAYLOADS, ids=IDS)
def test_deterministic(meta: dict[str, Any]) -> None:
    ctx = CompressionContext(query=meta["question"])
    assert TestOutputCompressor().compress(meta["text"], ctx) == TestOutputCompressor().compress(meta["text"], ctx)


def test_pytest_console_keeps_failure_and_summary_folds_passes() -> None:
    passes = [f"tests/test_api.py::test_case_{i} PASSED                       [{i}%]" for i in range(80)]
    failure = [
        "=================================== FAILURES ===================================",
        "_________________________________ test_total _________________________________",
        "",
        "    def test_total():",
        ">       assert total([1, 2]) == 4",
        "E       assert 3 == 4",
        "",
        "tests/test_api.py:12: AssertionError",
        "=========================== short test summary info ============================",
        "FAILED tests/test_api.py::test_total - assert 3 == 4",
        "========================= 1 failed, 80 passed in 0.52s =========================",
    ]
    text = "\n".join([*passes, "tests/test_api.py::test_total FAILED", *failure])
    out = _compress(text)
    for line in [*failure[1:], "tests/test_api.py::test_total FAILED"]:
        if line:
            assert line in out
    assert "test_case_7 PASSED" not in out
    assert "80 lines omitted" in out


def test_unittest_output_keeps_failure_block() -> None:
    oks = [f"test_item_{i} (shop.tests.ItemTests.test_item_{i}) ... ok" for i in range(60)]
    failure = [
        "======================================================================",
        "FAIL: test_price (shop.tests.PriceTests.test_price)",
        "----------------------------------------------------------------------",
        "Traceback (most recent call last):",
        '  File "/src/shop/tests.py", line 30, in test_price',
        "    self.assertEqual(price(3), 9)",
        "AssertionError: 6 != 9",
        "",
        "Ran 61 tests in 0.010s",
        "",
        "FAILED (failures=1)",
    ]
    out = _compress("\n".join([*oks, "test_price (shop.tests.PriceTests.test_price) ... FAIL", *failure]))
    for line in failure:
        if line:
            assert line in out
    assert "... ok" not in out


def test_jest_console_folds_passing_tests() -> None:
    lines = ["PASS src/cart.test.js", *[f"  ✓ adds item {i} (3 ms)" for i in range(50)], "FAIL src/price.test.js"]
    lines += ["  ✕ applies discount (5 ms)", "  ● applies discount", "    expect(received).toBe(expected)"]
    lines += ["    Expected: 90", "    Received: 100", "Tests:       1 failed, 50 passed, 51 total"]
    out = _compress("\n".join(lines))
    for line in lines[-6:]:
        assert line in out
    assert "adds item 3" not in out


def test_junit_error_with_message_is_reported() -> None:
    cases = "".join(f'<testcase classname="a.B" name="ok{i}" time="0.1"/>' for i in range(100))
    xml = (
        '<?xml version="1.0"?><testsuite name="a.B" tests="101" failures="0" errors="1">'
        f'{cases}<testcase classname="a.B" name="boom"><error message="NullPointerException at B.java:9">'
        "java.lang.NullPointerException\n\tat a.B.boom(B.java:9)</error></testcase></testsuite>"
    )
    out = _compress(xml)
    assert "ERROR: a.B › a.B › boom" in out
    assert "NullPointerException at B.java:9" in out
    assert "at a.B.boom(B.java:9)" in out
    assert "100 passed" in out


@pytest.mark.parametrize("text", ["", "PASS", "{not json", "<testsuite", "ok  \tpkg\t0.1s\n" * 3])
def test_edge_cases_do_not_crash(text: str) -> None:
    result = TestOutputCompressor().compress(text, CompressionContext())
    assert result is None or len(result.text) < len(text)
