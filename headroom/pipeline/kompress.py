"""Kompress, the opt-in ML text compressor: the text compressor's extractive selection (opening and ending,
headings, error lines, near-duplicates removed, omitted() markers) ranked by embedding similarity to the query
as well as by BM25, so passages that answer the query in other words are kept too.

Needs the `ml` extra and the bundled model; `kompress_for` returns None (and logs once why) without them, and
the router keeps the BM25 text compressor.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

from headroom.pipeline.embeddings import EmbeddingsUnavailable, cosine_to, missing_reason
from headroom.pipeline.text_compressor import TextCompressor, lexical_priority
from headroom.pipeline.text_units import Unit

logger = logging.getLogger(__name__)

# Embedding costs grow with the characters embedded, so a long block is embedded as at most _PASSAGES
# passages of adjacent units, each read up to _PASSAGE_CHARS (~64 tokens; ~0.7 ms a token on one core).
_PASSAGES = 24
_PASSAGE_CHARS = 256
_SEMANTIC_WEIGHT = 0.5


def _passages(units: Sequence[Unit], size: int) -> list[tuple[int, int]]:
    """Runs of adjacent units [first, last) of about `size` characters each, covering all units."""
    runs: list[tuple[int, int]] = []
    first = 0
    used = 0
    for i, unit in enumerate(units):
        used += unit.end - unit.start
        if used >= size:
            runs.append((first, i + 1))
            first, used = i + 1, 0
    if first < len(units):
        runs.append((first, len(units)))
    return runs


def semantic_priority(
    model_dir: Path, text: str, units: Sequence[Unit], texts: Sequence[str], query: str
) -> dict[int, float]:
    """The unit's normalised lexical priority (BM25 and the error bonus, so exact identifiers the embedding
    blurs still count) plus half the cosine of its passage to the query (a passage is coarse: it lifts its
    units, it does not outrank a unit that names what the query asks)."""
    lexical = lexical_priority(text, units, texts, query)
    if not query.strip():
        return lexical
    top = max(lexical.values(), default=0.0) or 1.0
    runs = _passages(units, max(1, len(text) // _PASSAGES))
    passages = ["".join(texts[first:last])[:_PASSAGE_CHARS] for first, last in runs]
    similarity = cosine_to(query, passages, model_dir)
    priority: dict[int, float] = {}
    for (first, last), score in zip(runs, similarity, strict=True):
        for i in range(first, last):
            priority[i] = _SEMANTIC_WEIGHT * max(0.0, score) + lexical.get(i, 0.0) / top
    return priority


class _SemanticPriority:
    """The semantic priority bound to one model folder; falls back to BM25 if the model fails to load."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir

    def __call__(self, text: str, units: Sequence[Unit], texts: Sequence[str], query: str) -> dict[int, float]:
        try:
            return semantic_priority(self.model_dir, text, units, texts, query)
        except EmbeddingsUnavailable as exc:
            _warn_once(str(exc))
            return lexical_priority(text, units, texts, query)


@functools.cache
def _warn_once(reason: str) -> None:
    logger.warning("kompress disabled, using the BM25 text compressor: %s", reason)


@functools.cache
def kompress_for(model_dir: Path) -> TextCompressor | None:
    """The Kompress compressor for this model folder, or None (logged once) when the ml extra or the model is
    missing."""
    reason = missing_reason(model_dir)
    if reason is not None:
        _warn_once(reason)
        return None
    return TextCompressor(priority=_SemanticPriority(model_dir), transform="text:kompress")
