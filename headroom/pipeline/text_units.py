"""Cuts text into extractive units: lines, and long lines (minified JSON, agent traces) into passages at
escaped newlines, sentence ends or commas, so a compressor can keep some and drop others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_UNIT_CHARS = 400
_LINE = re.compile(r"[^\n]*\n|[^\n]+")
_SEPARATORS = ("\\n", ". ", ", ", " ")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Unit:
    """Characters `start`..`end` of the text; `line_end` when the unit ends its line."""

    start: int
    end: int
    line_end: bool


def _cut(text: str, cursor: int, limit: int) -> int:
    """Where to end a passage starting at `cursor`: after the last escaped newline, sentence end, comma or
    space in its window (in that order of preference), else at the hard limit."""
    low = cursor + MAX_UNIT_CHARS // 4
    for separator in _SEPARATORS:
        found = text.rfind(separator, low, limit)
        if found != -1:
            return found + len(separator)
    return limit


def _split_long(start: int, end: int, text: str, line_end: bool) -> list[Unit]:
    units: list[Unit] = []
    cursor = start
    while end - cursor > MAX_UNIT_CHARS:
        cut = _cut(text, cursor, cursor + MAX_UNIT_CHARS)
        units.append(Unit(cursor, cut, False))
        cursor = cut
    units.append(Unit(cursor, end, line_end))
    return units


def split_units(text: str) -> list[Unit]:
    """Units covering the whole text in order: one per line, long lines cut into passages."""
    units: list[Unit] = []
    for match in _LINE.finditer(text):
        start, end = match.span()
        if end - start <= MAX_UNIT_CHARS:
            units.append(Unit(start, end, True))
        else:
            units.extend(_split_long(start, end, text, True))
    return units


def shingles(text: str, size: int = 3) -> set[str]:
    """The lower-cased word `size`-grams of the text, numbers masked (all its words as one gram when it is
    shorter), so lines that differ only in a counter or a duration share their grams."""
    words = ["#" if word.isdigit() else word for word in _WORD.findall(text.lower())]
    if len(words) < size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}
