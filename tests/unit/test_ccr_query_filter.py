"""`filter_original`: what a retrieval with a query returns — matching JSON items, or matching lines with context."""

from __future__ import annotations

import json
from pathlib import Path

from headroom.ccr.query_filter import filter_original
from headroom.pipeline.detect import split_preamble

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def test_json_array_returns_only_matching_items_as_json() -> None:
    items = [{"id": i, "status": "ok", "name": f"job-{i}"} for i in range(50)]
    items[17]["status"] = "failure"
    items[33]["status"] = "Failure"
    out = filter_original(json.dumps(items), "which job had a failure?")
    assert json.loads(out) == [items[17], items[33]]


def test_text_returns_matching_lines_with_context() -> None:
    lines = [f"line {i}: all good" for i in range(100)]
    lines[40] = "line 40: TimeoutError talking to payments"
    out = filter_original("\n".join(lines), "payments timeout")
    assert out.split("\n") == [
        "[… 39 lines omitted]",
        "line 39: all good",
        "line 40: TimeoutError talking to payments",
        "line 41: all good",
        "[… 58 lines omitted]",
    ]


def test_no_match_or_empty_query_returns_whole_original() -> None:
    text = "alpha\nbeta\ngamma"
    assert filter_original(text, "zeta") == text
    assert filter_original(text, "") == text
    assert filter_original("[1, 2, 3]", "zeta") == "[1, 2, 3]"
    assert filter_original("", "alpha") == ""


def test_terms_match_whole_words_only() -> None:
    text = "\n".join(["errors=0 in batch", "a", "b", "an error occurred", "c", "d", "terror movie", "e", "f"])
    out = filter_original(text, "error")
    assert "an error occurred" in out
    assert "terror" not in out
    assert "errors=0" not in out


def test_invalid_json_array_falls_back_to_lines() -> None:
    text = "[not json\nsecond line mentions redis\nthird"
    assert "second line mentions redis" in filter_original(text, "redis")


def test_corpus_log_search_narrows_to_the_query() -> None:
    meta = json.loads((CORPUS / "search_results" / "holmes_log_search_query_failed.meta.json").read_text())
    text = (CORPUS / "search_results" / meta["payload_file"]).read_text(encoding="utf-8")
    out = filter_original(text, "SELCT syntax error")
    assert 'syntax error at or near "SELCT"' in out
    assert len(out) < 0.8 * len(text)


def test_corpus_json_array_items_match() -> None:
    text = (CORPUS / "json_api" / "holmes_tempo_trace.json").read_text(encoding="utf-8")
    body = split_preamble(text)[1]
    out = filter_original(body, "check_for_fraud")
    assert "check_for_fraud" in out
    assert len(out) <= len(body)


def test_unicode_and_crlf() -> None:
    text = "première ligne\r\nle paiement a échoué\r\ndernière ligne"
    out = filter_original(text, "échoué")
    assert "le paiement a échoué" in out
