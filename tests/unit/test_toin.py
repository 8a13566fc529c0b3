"""TOIN: patterns hold shape not content, retrievals teach keep-rules, a conversation's rules stay frozen, and
the rules reach the compressors through the pipeline."""

from __future__ import annotations

import json

from headroom.config import Settings
from headroom.context.cache_aligner import volatile_spans
from headroom.learning.toin import Toin, keep_rules, pattern_of
from headroom.pipeline.pipeline import Pipeline
from headroom.pipeline.types import Compressed, CompressionContext
from headroom.providers.anthropic import AnthropicProvider
from headroom.providers.base import Block
from headroom.store.interfaces import ToinPattern
from headroom.store.memory import memory_stores

ROWS = json.dumps([{"id": i, "status": "ok" if i % 7 else "failed", "owner": f"user{i}"} for i in range(60)])


def _block(text: str) -> Block:
    return Block(text, 2, "list_jobs", "user", lambda _: None)


def test_pattern_is_shape_not_content() -> None:
    other_values = ROWS.replace("user", "someone")
    assert pattern_of("list_jobs", ROWS) == pattern_of("list_jobs", other_values)
    assert pattern_of("list_jobs", ROWS).startswith("list_jobs|json:")
    assert "user1" not in pattern_of("list_jobs", ROWS)
    assert pattern_of("list_jobs", ROWS) != pattern_of("list_jobs", json.dumps([{"name": "x"}] * 60))


def test_retrievals_teach_field_and_line_rules() -> None:
    stores = memory_stores()
    toin = Toin(stores, 3600)
    for n in range(2):
        toin.observe_compressions("t1", {f"hash{n}": _block(ROWS)})
        toin.observe_retrieval("t1", f"hash{n}", "which jobs have status failed? show the error", ROWS)
    toin.observe_retrieval("t2", "hash0", "status", ROWS)
    [learned] = stores.toin.all()
    assert (learned.compressions, learned.retrievals) == (2, 2)
    assert learned.fields == {"field:status": 2, "line:error": 2, "line:failure": 2, "line:status": 2}
    rules = toin.current_rules()["list_jobs"]
    assert '"status"\\s*:' in rules
    assert any("traceback" in rule for rule in rules)
    assert all("failed?" not in rule for rule in rules)


def test_single_retrieval_teaches_nothing_yet() -> None:
    assert keep_rules(ToinPattern("p", 1, 1, {"field:status": 1})) == ()


def test_conversation_rules_are_frozen() -> None:
    stores = memory_stores()
    toin = Toin(stores, 3600)
    assert toin.rules_for("conv-1") == {}
    for n in range(2):
        toin.observe_compressions("t", {f"h{n}": _block(ROWS)})
        toin.observe_retrieval("t", f"h{n}", "owner", ROWS)
    assert toin.rules_for("conv-1") == {}
    assert toin.rules_for("conv-2") == {"list_jobs": ('"owner"\\s*:',)}


def test_pipeline_hands_rules_to_the_compressor() -> None:
    seen: list[tuple[str, ...]] = []

    def compress(text: str, ctx: CompressionContext) -> Compressed | None:
        seen.append(ctx.keep_patterns)
        return None

    settings = Settings(min_compress_tokens=10)
    pipeline = Pipeline(settings, memory_stores(), compress=compress)
    messages = [
        {"role": "user", "content": "list"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "list_jobs", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": ROWS}]},
    ]
    body = {"model": "claude-sonnet-4-6", "messages": messages}
    pipeline.optimize(AnthropicProvider(), body, tenant="t", conversation="c", keep_patterns={"list_jobs": ("x",)})
    pipeline.close()
    assert seen == [("x",)]


def test_cache_aligner_counts_volatile_prefix_content_and_skips_thinking() -> None:
    body = {
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.0.1; cc_entrypoint=cli"},
            {"type": "text", "text": "Session 3f2a9c1e-1111-4222-8333-444455556666 started 2026-11-27T00:31:05Z"},
        ],
        "messages": [
            {"role": "user", "content": "hello"},
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "2026-01-01T00:00:00Z", "signature": "s"}],
            },
        ],
    }
    kinds = sorted(span.kind for span in volatile_spans(body))
    assert kinds == ["session_line", "timestamp", "uuid"]
    assert volatile_spans({"system": "You are helpful.", "messages": [{"role": "user", "content": "hi"}]}) == []
