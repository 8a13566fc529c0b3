"""Kompress (opt-in ML text compression): the bundled embedding model, the compressor on corpus payloads, the
router's choice, semantic relevance in the context manager, and the fallback to BM25."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from headroom.config import Settings
from headroom.context.scoring import importance_scores
from headroom.context.units import Unit
from headroom.pipeline.embeddings import DEFAULT_MODEL_DIR, embed, missing_reason
from headroom.pipeline.kompress import kompress_for
from headroom.pipeline.router import compress_block
from headroom.pipeline.types import CompressionContext
from headroom.providers.base import Message

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
MODEL_MISSING = missing_reason(DEFAULT_MODEL_DIR)
needs_model = pytest.mark.skipif(MODEL_MISSING is not None, reason=f"Kompress unavailable: {MODEL_MISSING}")


def _payload(kind: str, name: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((CORPUS / kind / f"{name}.meta.json").read_text(encoding="utf-8"))
    meta["text"] = (CORPUS / kind / meta["payload_file"]).read_text(encoding="utf-8")
    return meta


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@needs_model
def test_embeddings_are_unit_length_384d_and_deterministic() -> None:
    texts = ["The build failed on the linker step.", "Rotate the API keys every ninety days."]
    first = embed(texts)
    assert first == embed(texts)
    assert first[1] == embed([texts[1]])[0]  # a text's vector does not depend on its neighbours
    assert [len(v) for v in first] == [384, 384]
    assert all(abs(_cosine(v, v) - 1.0) < 1e-5 for v in first)


@needs_model
def test_a_paraphrase_scores_higher_than_an_unrelated_sentence() -> None:
    query, paraphrase, unrelated = embed(
        [
            "How do I reset my password?",
            "Steps to change a forgotten login password",
            "The stock market fell sharply on Tuesday.",
        ]
    )
    assert _cosine(query, paraphrase) > 0.5
    assert _cosine(query, paraphrase) > _cosine(query, unrelated) + 0.3


@needs_model
@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("agent_traces", "openhands_codeact_prompt_log"),
        ("agent_traces", "holmes_conversation_compaction_001"),
        ("cli_output", "kubectl_describe_node"),
    ],
)
def test_kompress_keeps_needles_with_the_meta_question(kind: str, name: str) -> None:
    meta = _payload(kind, name)
    compressor = kompress_for(DEFAULT_MODEL_DIR)
    assert compressor is not None
    ctx = CompressionContext(query=meta["question"])
    result = compressor.compress(meta["text"], ctx)
    assert result is not None
    assert result.transform == "text:kompress" and not result.lossless
    assert "omitted]" in result.text
    assert len(result.text) < 0.3 * len(meta["text"])
    assert [n for n in meta["needles"] if n not in result.text] == []
    assert compressor.compress(meta["text"], ctx) == result


@needs_model
def test_router_sends_text_blocks_to_kompress_when_enabled() -> None:
    meta = _payload("agent_traces", "openhands_codeact_prompt_log")
    model = Settings(kompress_enabled=True).kompress_model
    assert model == DEFAULT_MODEL_DIR
    enabled = compress_block(meta["text"], CompressionContext(query=meta["question"], embedding_model=model))
    plain = compress_block(meta["text"], CompressionContext(query=meta["question"]))
    assert enabled is not None and enabled.transform == "text:kompress"
    assert plain is not None and plain.transform == "text:extract"


def test_kompress_is_off_by_default() -> None:
    assert Settings().kompress_model is None


def test_missing_model_falls_back_to_bm25_and_logs_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    meta = _payload("agent_traces", "openhands_codeact_prompt_log")
    model = Settings(kompress_enabled=True, kompress_model_dir=tmp_path / "no-model").kompress_model
    assert model == tmp_path / "no-model"
    ctx = CompressionContext(query=meta["question"], embedding_model=model)
    with caplog.at_level(logging.WARNING, logger="headroom.pipeline.kompress"):
        first = compress_block(meta["text"], ctx)
        second = compress_block(meta["text"], ctx)
    assert first is not None and first.transform == "text:extract"
    assert first == second == compress_block(meta["text"], CompressionContext(query=meta["question"]))
    warnings = [r.getMessage() for r in caplog.records if "kompress disabled" in r.getMessage()]
    assert len(warnings) == 1 and "no-model" in warnings[0]


def _units(messages: list[Message]) -> list[Unit]:
    return [Unit(start=i, end=i, protected=False) for i in range(len(messages))]


@needs_model
def test_semantic_relevance_ranks_a_paraphrase_that_bm25_misses() -> None:
    # Same position and no shared informative word with the query: only embeddings can tell them apart.
    messages = [
        Message(index=0, role="user", text="Our quarterly revenue grew thanks to new customers in Europe."),
        Message(index=1, role="user", text="Rotating credentials is done with the vault CLI every 90 days."),
    ]
    query = "how often should secrets be changed"
    units = _units(messages)
    lexical = importance_scores(units, messages, query)
    semantic = importance_scores(units, messages, query, embedding_model=DEFAULT_MODEL_DIR)
    assert lexical[1] - lexical[0] == pytest.approx(0.35)  # recency only: BM25 finds no query term
    assert semantic[1] - semantic[0] > 0.35 + 0.1


def test_semantic_relevance_falls_back_to_bm25_without_the_model(tmp_path: Path) -> None:
    messages = [
        Message(index=0, role="user", text="The linker failed on libfoo."),
        Message(index=1, role="user", text="Lunch is at noon."),
    ]
    units = _units(messages)
    query = "why did the linker fail"
    assert importance_scores(units, messages, query, embedding_model=tmp_path / "none") == importance_scores(
        units, messages, query
    )
