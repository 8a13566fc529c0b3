"""Unified diffs and `git format-patch` output split into verbatim lines (message, file headers, signature)
and hunks, each hunk knowing its file and its changed lines."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_FILE_HEADER = re.compile(r"^(?:\+\+\+ b/|diff --git a/\S+ b/)(\S+)")
_FILE_HEADER_STARTS = ("+++ b/", "diff --git a/")


@dataclass(slots=True)
class Hunk:
    """One `@@` hunk: its header, its changed lines (`+`, `-`, `\\`), how many of them add and remove a line, and
    how many context lines it had."""

    path: str
    header: str
    changed: list[str] = field(default_factory=list)
    context: int = 0
    added: int = 0
    removed: int = 0

    def text(self) -> str:
        return "\n".join([self.header, *self.changed])

    def size(self) -> int:
        return len(self.header) + sum(map(len, self.changed)) + len(self.changed)


Segment = str | Hunk


def _hunk_sizes(header: str) -> tuple[int, int] | None:
    """Old and new line counts of a `@@ -a,b +c,d @@` header."""
    match = _HUNK.match(header)
    if match is None:
        return None
    old, new = match.group(1), match.group(2)
    return (1 if old is None else int(old)), (1 if new is None else int(new))


def parse_diff(text: str) -> list[Segment] | None:
    """Verbatim lines and hunks in order; None when the text holds no hunk."""
    segments: list[Segment] = []
    path = ""
    hunk: Hunk | None = None
    old_left = new_left = 0
    for line in text.split("\n"):
        if hunk is not None and (old_left > 0 or new_left > 0):
            # The first character alone says what a hunk line is; comparing it is cheaper than `startswith`.
            first = line[:1]
            if first == "-":
                old_left -= 1
                hunk.removed += 1
            elif first == "+":
                new_left -= 1
                hunk.added += 1
            elif first != "\\":
                old_left -= 1
                new_left -= 1
                hunk.context += 1
                continue
            hunk.changed.append(line)
            continue
        sizes = _hunk_sizes(line) if line.startswith("@@ ") else None
        if sizes is not None:
            hunk = Hunk(path=path, header=line)
            segments.append(hunk)
            old_left, new_left = sizes
            continue
        hunk = None
        named = _FILE_HEADER.match(line) if line.startswith(_FILE_HEADER_STARTS) else None
        if named:
            path = named.group(1)
        segments.append(line)
    if not any(isinstance(segment, Hunk) for segment in segments):
        return None
    return segments
