"""Importance of each droppable unit: recency, BM25 relevance to the latest user turn (cosine similarity of
embeddings instead when Kompress is enabled and the ml extra is installed), TOIN-learned tool importance, error
indicators and forward references (content that later messages mention).

Scores are in [0, 1] and deterministic; the context manager drops the lowest first (ties: the older unit).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from headroom.context.units import Unit
from headroom.pipeline.relevance import bm25_scores
from headroom.providers.base import Message

_ERROR = re.compile(
    r"\b(error|exception|traceback|failed|failure|fatal|panic|denied|refused|not found|segfault)\b", re.IGNORECASE
)
# Identifiers worth following forward: paths, dotted names, long hex ids, snake/camel identifiers with digits.
_REFERENCE = re.compile(r"[\w./-]*[/.][\w./-]+|\b[0-9a-f]{8,}\b|\b[A-Za-z_]+\d+[\w]*\b")
_MAX_REFS = 64
_EMBED_CHARS = 256  # a unit's opening says what it is about; embedding costs grow with its length


@dataclass(frozen=True, slots=True)
class Weights:
    recency: float = 0.35
    relevance: float = 0.25
    learned: float = 0.15
    errors: float = 0.15
    references: float = 0.10


def position_scores(units: Sequence[Unit]) -> list[float]:
    """Position only: older units score lower."""
    count = max(1, len(units) - 1)
    return [index / count for index in range(len(units))]


def _unit_text(unit: Unit, messages: Sequence[Message]) -> str:
    return "\n".join(messages[i].text for i in unit.indices)


def _references(text: str) -> set[str]:
    found: set[str] = set()
    for match in _REFERENCE.finditer(text):
        token = match.group(0).strip("./-")
        if len(token) >= 6:
            found.add(token)
            if len(found) >= _MAX_REFS:
                break
    return found


def _forward_reference_scores(texts: Sequence[str]) -> list[float]:
    """Share of a unit's identifiers that some later unit mentions too."""
    scores = [0.0] * len(texts)
    later: set[str] = set()
    for position in range(len(texts) - 1, -1, -1):
        refs = _references(texts[position])
        if refs:
            scores[position] = len(refs & later) / len(refs)
        later |= refs
    return scores


def _relevance(texts: Sequence[str], query: str, embedding_model: Path | None) -> list[float]:
    """BM25, or the cosine similarity of embeddings (negatives as 0) when a model is given and loads."""
    if embedding_model is not None and query.strip():
        from headroom.pipeline.embeddings import EmbeddingsUnavailable, cosine_to, missing_reason

        if missing_reason(embedding_model) is None:
            try:
                heads = [text[:_EMBED_CHARS] for text in texts]
                return [max(0.0, score) for score in cosine_to(query[:_EMBED_CHARS], heads, embedding_model)]
            except EmbeddingsUnavailable:
                pass
    return bm25_scores(texts, query)


def importance_scores(
    units: Sequence[Unit],
    messages: Sequence[Message],
    query: str,
    learned: Mapping[int, float] | None = None,
    weights: Weights = Weights(),
    embedding_model: Path | None = None,
) -> list[float]:
    """Multi-factor importance per unit. `learned` maps a message index to a TOIN importance in [0, 1];
    `embedding_model` (the Kompress model folder) switches relevance from BM25 to embeddings."""
    if not units:
        return []
    texts = [_unit_text(unit, messages) for unit in units]
    recency = position_scores(units)
    relevance = _relevance(texts, query, embedding_model)
    top = max(relevance) or 1.0
    forward = _forward_reference_scores(texts)
    learned = learned or {}
    scores: list[float] = []
    for position, unit in enumerate(units):
        toin = max((learned.get(i, 0.0) for i in unit.indices), default=0.0)
        errors = 1.0 if _ERROR.search(texts[position]) else 0.0
        score = (
            weights.recency * recency[position]
            + weights.relevance * relevance[position] / top
            + weights.learned * min(1.0, toin)
            + weights.errors * errors
            + weights.references * forward[position]
        )
        scores.append(round(score, 9))
    return scores
