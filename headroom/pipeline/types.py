"""The compressor contract shared by every content compressor and the router.

A compressor is a pure, deterministic function of (text, context): the same block with the same
context always yields the same bytes, so a block compressed in turn N is sent identically in turn N+1.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class ContentKind(enum.StrEnum):
    JSON = "json"
    LOGS = "logs"
    SEARCH = "search"
    TEST_OUTPUT = "test_output"
    TABLE = "table"
    DIFF = "diff"
    CODE = "code"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class CompressionContext:
    """What a compressor may use besides the text itself.

    `query` is the latest user text plus the tool call's name and arguments. `depth` is 1 for the normal
    pass and 2 for the deeper compress-first pass of the context manager. `keep_patterns` are regular
    expressions learned by TOIN: lines or JSON fields that match must stay visible. `embedding_model` is the
    model folder when Kompress (ML text compression) is enabled, else None.
    """

    query: str = ""
    tool_name: str = ""
    depth: int = 1
    keep_patterns: tuple[str, ...] = ()
    code_aware: bool = True
    language_hint: str = ""
    embedding_model: Path | None = None


@dataclass(frozen=True, slots=True)
class Compressed:
    """A compressor's output. `lossless` means every fact of the original is still in `text`."""

    text: str
    lossless: bool
    transform: str


class Compressor(Protocol):
    """One content kind. Returns None when it cannot make the text smaller."""

    name: str

    def compress(self, text: str, ctx: CompressionContext) -> Compressed | None: ...


def omitted(count: int, what: str) -> str:
    """The one inline marker compressors leave where they removed something."""
    return f"[… {count} {what} omitted]"
