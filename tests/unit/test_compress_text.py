"""Text compressor: agent traces taken as plain text, prose, near-duplicate removal and edge cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from headroom.accounting.tokens import count_tokens
from headroom.pipeline.term_hits import term_hits
from headroom.pipeline.text_compressor import TextCompressor
from headroom.pipeline.types import CompressionContext

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def _payloads(kind: str) -> list[dict[str, Any]]:
    out = []
    for meta_path in sorted((CORPUS / kind).glob("*.meta.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["text"] = (CORPUS / kind / meta["payload_file"]).read_bytes().decode("utf-8")
        out.append(meta)
    return out


TRACES = _payloads("agent_traces")
IDS = [p["id"] for p in TRACES]


def _compress(text: str, query: str = "", depth: int = 1) -> str:
    result = TextCompressor().compress(text, CompressionContext(query=query, depth=depth))
    return text if result is None else result.text


@pytest.mark.parametrize("meta", TRACES, ids=IDS)
def test_agent_traces_shrink_and_keep_most_needles(meta: dict[str, Any]) -> None:
    out = _compress(meta["text"], meta["question"])
    kept = [n for n in meta["needles"] if n in out]
    assert len(kept) >= len(meta["needles"]) - 1
    assert count_tokens(out) < 0.3 * count_tokens(meta["text"])


def test_agent_traces_keep_nearly_all_needles_overall() -> None:
    needles = kept = 0
    for meta in TRACES:
        out = _compress(meta["text"], meta["question"])
        needles += len(meta["needles"])
        kept += sum(1 for n in meta["needles"] if n in out)
    assert kept >= 0.85 * needles


@pytest.mark.parametrize("meta", TRACES, ids=IDS)
def test_deterministic(meta: dict[str, Any]) -> None:
    ctx = CompressionContext(query=meta["question"])
    assert TextCompressor().compress(meta["text"], ctx) == TextCompressor().compress(meta["text"], ctx)


def _prose() -> str:
    filler = [
        f"Section {n} covers routine operations of the service. Teams review dashboards, rotate on-call duties "
        f"and file weekly reports about capacity number {n}. Nothing unusual was observed during this period."
        for n in range(40)
    ]
    key = (
        "The outage on March 3 was caused by an expired TLS certificate on the payments gateway; renewing it "
        "restored traffic within 14 minutes."
    )
    paragraphs = ["# Operations review 2024", "This report summarises the quarter for the platform team."]
    paragraphs += [*filler[:25], "## Incidents", key, *filler[25:], "## Next steps", "Automate renewals."]
    return "\n\n".join(paragraphs)


def test_prose_keeps_relevant_paragraph_headings_and_opening() -> None:
    text = _prose()
    out = _compress(text, "What caused the outage on the payments gateway?")
    assert "expired TLS certificate on the payments gateway" in out
    assert "# Operations review 2024" in out
    assert "## Incidents" in out
    assert "This report summarises the quarter" in out
    assert count_tokens(out) < 0.5 * count_tokens(text)
    assert "omitted]" in out


def test_near_duplicates_are_dropped() -> None:
    paragraph = "The deployment of release {n} failed because the database migration timed out after 30 seconds."
    text = "\n".join(["Deployment log summary"] + [paragraph.format(n=n) for n in range(60)] + ["End of summary."])
    out = _compress(text, "why did the deployment fail? migration timed out")
    kept = sum(1 for line in out.split("\n") if "migration timed out" in line)
    assert 1 <= kept <= 8
    assert len(out) < 0.3 * len(text)


def test_single_huge_line_is_cut_into_passages() -> None:
    parts = [f"step {i}: ran the linter and it reported nothing of interest." for i in range(2000)]
    parts[1500] = "step 1500: pytest raised ImportError: cannot import name 'Widget' from 'shop.models'."
    text = " ".join(parts)
    out = _compress(text, "which import failed?")
    assert "ImportError: cannot import name 'Widget' from 'shop.models'" in out
    assert len(out) < 0.25 * len(text)


def test_unicode_and_crlf_text() -> None:
    lines = [f"第{i}章：日常の運用についての説明です。特に問題はありません。" for i in range(100)]
    lines[60] = "第60章：決済ゲートウェイで証明書の期限切れによる障害が発生しました。"
    text = "\r\n".join(lines)
    out = _compress(text, "証明書 障害")
    assert lines[0] in out
    assert len(out) < len(text)


@pytest.mark.parametrize("text", ["", "one line", "a\nb\nc", "x" * 300])
def test_small_inputs_are_left_alone(text: str) -> None:
    assert TextCompressor().compress(text, CompressionContext(query="x")) is None


def _editor_view(first: int, count: int) -> str:
    """An editor tool's file view (SWE-agent style): a header, `N:code` lines, a footer."""
    body = []
    for k in range(count):
        number = first + k
        if k % 6 == 0:
            body.append(f"{number}:    def handler_{k}(self, value):")
        elif k % 6 == 1:
            body.append(f"{number}:        try:")
        elif k % 6 == 2:
            body.append(f"{number}:            checked_{k} = self.make_error('invalid') if value is None else value")
        elif k % 6 == 3:
            body.append(f"{number}:        except (TypeError, ValueError) as error:")
        elif k % 6 == 4:
            body.append(f"{number}:            raise self.make_error('invalid', code={k}) from error_{k}")
        else:
            body.append(f"{number}:        return checked_{k - 5} * {k}")
    return "\n".join(
        [
            "[File: src/pkg/fields.py (2000 lines total)]",
            f"({first - 1} more lines above)",
            *body,
            "(9 more lines below)",
        ]
    )


def test_source_lines_keep_the_lines_after_a_relevant_one_and_no_error_bonus() -> None:
    text = _editor_view(1000, 180).replace("def handler_60(", "def serialize_duration(")
    ctx = CompressionContext(query="why does serialize_duration round down?", language_hint="python")
    result = TextCompressor().compress(text, ctx)
    assert result is not None
    lines = result.text.split("\n")
    at = next(k for k, line in enumerate(lines) if "def serialize_duration(" in line)
    assert lines[at + 1] == "1061:        try:"
    assert lines[at + 2].startswith("1062:            checked_62 = ")
    # Without the language hint, the error bonus pulls in error-handling lines (the edges keep a few either way).
    prose = TextCompressor().compress(text, CompressionContext(query=ctx.query))
    assert prose is not None
    assert result.text.count("raise self.make_error") < prose.text.count("raise self.make_error")


def test_blank_lines_between_kept_lines_stay_instead_of_a_marker() -> None:
    opening = ["Title line kept as the opening", *[f"filler sentence number {k} about nothing" for k in range(60)]]
    closing = [f"more filler {k} without content" for k in range(60)]
    text = "\n".join([*opening, "needle alpha here", "", "needle beta here", *closing])
    out = _compress(text, "needle alpha beta")
    assert "needle alpha here\n\nneedle beta here" in out


def test_source_lines_far_less_relevant_than_the_best_are_left_out() -> None:
    text = _editor_view(1000, 180).replace("def handler_60(", "def serialize_duration_rounding(")
    query = "serialize_duration_rounding rounds down; which value is wrong?"
    result = TextCompressor().compress(text, CompressionContext(query=query, language_hint="python"))
    assert result is not None
    assert "def serialize_duration_rounding(" in result.text
    # Many lines mention `value` (a weak query term): those far below the best match stay out, edges aside.
    assert result.text.count("checked_") <= 4


@pytest.mark.parametrize(
    ("text", "query", "expected"),
    [
        ("Timeout here\nno timeouts\nxtimeout\n(timeout)", "timeout", {0: {"timeout"}, 3: {"timeout"}}),
        ("v1.1.1 up\n1.1.1\n", "1.1", {1: {"1.1"}}),
        ("x1.1.1\n1.1 ok\n", "1.1", {1: {"1.1"}}),
        ("a_b a_b\nab\n", "a_b", {0: {"a_b"}}),
    ],
)
def test_term_hits_find_whole_words_only(text: str, query: str, expected: dict[int, set[str]]) -> None:
    starts = [0]
    for line in text.split("\n")[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    assert term_hits(text, starts, query) == expected
