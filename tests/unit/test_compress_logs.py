"""Log compressor on the corpus logs and the grep-filtered log search, plus errors, traces and edge cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from headroom.accounting.tokens import count_tokens
from headroom.pipeline.detect import split_preamble
from headroom.pipeline.log_compressor import LogCompressor
from headroom.pipeline.types import CompressionContext

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
LOG_IDS = {"holmes_log_search_query_failed"}


def _payloads() -> list[dict[str, Any]]:
    out = []
    for kind in ("logs", "search_results"):
        for meta_path in sorted((CORPUS / kind).glob("*.meta.json")):
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if kind == "logs" or meta["id"] in LOG_IDS:
                meta["text"] = (CORPUS / kind / meta["payload_file"]).read_bytes().decode("utf-8")
                out.append(meta)
    return out


PAYLOADS = _payloads()
IDS = [p["id"] for p in PAYLOADS]


def _compress(text: str, depth: int = 1, query: str = "", **extra: Any) -> str:
    preamble, body = split_preamble(text)
    result = LogCompressor().compress(body, CompressionContext(query=query, depth=depth, **extra))
    return preamble + (body if result is None else result.text)


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("meta", PAYLOADS, ids=IDS)
def test_needles_visible_and_tokens_saved(meta: dict[str, Any], depth: int) -> None:
    out = _compress(meta["text"], depth, meta["question"])
    assert [n for n in meta["needles"] if n not in out] == []
    assert count_tokens(out) < 0.35 * count_tokens(meta["text"])


def test_corpus_wide_reduction_beats_target() -> None:
    before = sum(count_tokens(p["text"]) for p in PAYLOADS)
    after = sum(count_tokens(_compress(p["text"], 1, p["question"])) for p in PAYLOADS)
    assert after < 0.2 * before


@pytest.mark.parametrize("meta", PAYLOADS, ids=IDS)
def test_deterministic(meta: dict[str, Any]) -> None:
    ctx = CompressionContext(query=meta["question"])
    assert LogCompressor().compress(meta["text"], ctx) == LogCompressor().compress(meta["text"], ctx)


def _service_log(errors: list[str]) -> str:
    lines = [
        f"2024-05-01 10:00:{i % 60:02d},{i:03d} INFO worker-{i % 3} handled request id={1000 + i} in {i}ms"
        for i in range(400)
    ]
    for offset, error in enumerate(errors):
        lines.insert(100 + offset * 50, error)
    return "\n".join(lines)


def test_every_error_line_and_stack_trace_kept_verbatim() -> None:
    java = [
        "2024-05-01 10:00:07,100 ERROR [main] OrderService - Failed to place order 42",
        "java.lang.IllegalStateException: inventory unavailable",
        "\tat com.shop.OrderService.place(OrderService.java:88)",
        "\tat com.shop.Api.handle(Api.java:12)",
        "Caused by: java.net.SocketTimeoutException: Read timed out",
        "\tat java.base/java.net.SocketInputStream.read(SocketInputStream.java:140)",
        "\t... 12 more",
    ]
    python = [
        "Traceback (most recent call last):",
        '  File "/app/jobs.py", line 17, in run',
        "    result = compute(payload)",
        "ZeroDivisionError: division by zero",
    ]
    text = _service_log(["2024-05-01 10:00:05,050 WARN cache miss ratio 0.93 above threshold"])
    lines = text.split("\n")
    lines[200:200] = java
    lines[300:300] = python
    out = _compress("\n".join(lines))
    for line in [*java, *python, "2024-05-01 10:00:05,050 WARN cache miss ratio 0.93 above threshold"]:
        assert line in out.split("\n")
    assert count_tokens(out) < 0.3 * count_tokens(text)


def test_repeated_stack_trace_is_kept_once() -> None:
    trace = [
        "2024-05-01 10:00:07,100 ERROR [main] Api - request failed",
        "java.lang.NullPointerException: null",
        "\tat com.shop.Api.handle(Api.java:12)",
        "\tat com.shop.Server.dispatch(Server.java:40)",
    ]
    lines = _service_log([]).split("\n")
    lines[100:100] = trace
    lines[300:300] = trace
    out = _compress("\n".join(lines))
    assert out.count("\tat com.shop.Server.dispatch(Server.java:40)") == 1
    assert "same trace as above" in out


def test_many_warnings_of_one_template_list_each_distinct_value() -> None:
    hosts = [f"10.0.0.{n}" for n in range(1, 7)]
    warnings = [
        f"2024-05-01 10:01:{i % 60:02d} WARN DataXceiver: {hosts[i % 6]}:50010:Got exception while serving "
        f"blk_{9000 + i} to /10.9.9.{i}:"
        for i in range(120)
    ]
    out = _compress(_service_log([]) + "\n" + "\n".join(warnings))
    for host in hosts:
        assert f"{host}:50010:Got exception while serving" in out
    assert "[120×]" in out
    assert sum(1 for line in out.split("\n") if "WARN" in line) < 20


def test_keep_patterns_and_query_lines_survive() -> None:
    text = _service_log([])
    out = _compress(text, query="what happened to request id=1234", keep_patterns=(r"id=1077\b",))
    assert "id=1234" in out
    assert "id=1077 " in out


def test_depth_two_is_smaller() -> None:
    meta = next(p for p in PAYLOADS if p["id"] == "loghub_bgl_2k")
    assert count_tokens(_compress(meta["text"], 2, meta["question"])) < count_tokens(
        _compress(meta["text"], 1, meta["question"])
    )


def test_crlf_lines_fold_like_lf_lines() -> None:
    text = _service_log(["2024-05-01 10:00:05,050 ERROR db down"])
    crlf = _compress(text.replace("\n", "\r\n"))
    assert "\r" not in crlf
    assert crlf == _compress(text)


@pytest.mark.parametrize("text", ["", "one line only", "x" * 200_000, "é" * 10 + "\n" + "日本語のログ 行"])
def test_edge_cases_return_none_or_smaller(text: str) -> None:
    result = LogCompressor().compress(text, CompressionContext(query="error"))
    assert result is None or len(result.text) < len(text)


def test_unicode_log_never_reduced_to_nothing() -> None:
    text = "\n".join(f"2024-05-01 10:00:{i % 60:02d} INFO ユーザー {i} がログインしました ✓" for i in range(300))
    result = LogCompressor().compress(text, CompressionContext())
    assert result is not None
    assert "ユーザー" in result.text
    assert text.split("\n")[0] in result.text and text.split("\n")[-1] in result.text


def test_a_field_padded_differently_is_still_one_value() -> None:
    lines = [f"2024-05-01 10:00:{i % 60:02d} INFO worker{' ' * (1 + i % 2)}ready queue=jobs" for i in range(200)]
    out = _compress("\n".join(lines))
    assert "[200×] 2024-05-01 <TS> INFO worker ready queue=jobs" in out
    assert out.count("[200×]") == 1, "a facet listing one value repeats the template"
