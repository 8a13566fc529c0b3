"""Diff compressor for unified diffs and `git format-patch` output: keep the message, file headers, hunk
headers and every changed line; unchanged context lines go, and each hunk header says how many it lost."""

from __future__ import annotations

import re

from headroom.pipeline.types import Compressed, CompressionContext, omitted

_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_MIN_GAIN = 0.10


def _hunk_sizes(header: str) -> tuple[int, int] | None:
    """Old and new line counts of a `@@ -a,b +c,d @@` header."""
    match = _HUNK.match(header)
    if match is None:
        return None
    old, new = match.group(1), match.group(2)
    return (1 if old is None else int(old)), (1 if new is None else int(new))


class DiffCompressor:
    """Unified diffs without their unchanged context lines; each hunk header counts what it lost."""

    name = "diff"

    def compress(self, text: str, ctx: CompressionContext) -> Compressed | None:
        out: list[str] = []
        old_left = new_left = 0
        header_at = -1
        dropped = 0
        hunks = 0
        for line in text.split("\n"):
            if old_left > 0 or new_left > 0:
                if line.startswith("-"):
                    old_left -= 1
                elif line.startswith("+"):
                    new_left -= 1
                elif not line.startswith("\\"):
                    old_left -= 1
                    new_left -= 1
                    dropped += 1
                    continue
                out.append(line)
                continue
            if dropped:
                out[header_at] += " " + omitted(dropped, "unchanged lines")
                dropped = 0
            sizes = _hunk_sizes(line) if line.startswith("@@ ") else None
            if sizes is not None:
                hunks += 1
                old_left, new_left = sizes
                header_at = len(out)
            out.append(line)
        if dropped:
            out[header_at] += " " + omitted(dropped, "unchanged lines")
        if hunks == 0:
            return None
        result = "\n".join(out)
        if len(result) > (1 - _MIN_GAIN) * len(text):
            return None
        return Compressed(text=result, lossless=False, transform="diff_context")
