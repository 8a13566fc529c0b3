"""Diff compressor for unified diffs and `git format-patch` output: keep the message, file headers, hunk
headers and every changed line; trim runs of unchanged context to one line on each side, with a count."""

from __future__ import annotations

import re

from headroom.pipeline.types import Compressed, CompressionContext, omitted

_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_CONTEXT_KEPT = 1
_MIN_GAIN = 0.10


def _trim_context(run: list[str], before_change: bool, after_change: bool) -> list[str]:
    """A run of unchanged lines inside a hunk, cut to the lines next to a change."""
    head = _CONTEXT_KEPT if after_change else 0
    tail = _CONTEXT_KEPT if before_change else 0
    if len(run) <= head + tail + 1:
        return run
    kept_tail = run[len(run) - tail :] if tail else []
    return [*run[:head], omitted(len(run) - head - tail, "unchanged lines"), *kept_tail]


def _hunk_sizes(header: str) -> tuple[int, int] | None:
    """Old and new line counts of a `@@ -a,b +c,d @@` header."""
    match = _HUNK.match(header)
    if match is None:
        return None
    old, new = match.group(1), match.group(2)
    return (1 if old is None else int(old)), (1 if new is None else int(new))


class DiffCompressor:
    """Unified diffs with their context trimmed."""

    name = "diff"

    def compress(self, text: str, ctx: CompressionContext) -> Compressed | None:
        out: list[str] = []
        run: list[str] = []
        old_left = new_left = 0
        hunks = 0
        last_was_change = False
        for line in text.split("\n"):
            if old_left > 0 or new_left > 0:
                if line.startswith("-"):
                    old_left -= 1
                elif line.startswith("+"):
                    new_left -= 1
                elif line.startswith("\\"):
                    out.append(line)
                    continue
                else:
                    old_left -= 1
                    new_left -= 1
                    run.append(line)
                    continue
                if run:
                    out.extend(_trim_context(run, True, last_was_change))
                    run = []
                last_was_change = True
                out.append(line)
                continue
            if run:
                out.extend(_trim_context(run, False, last_was_change))
                run = []
            last_was_change = False
            sizes = _hunk_sizes(line) if line.startswith("@@ ") else None
            if sizes is not None:
                hunks += 1
                old_left, new_left = sizes
            out.append(line)
        if run:
            out.extend(_trim_context(run, False, last_was_change))
        if hunks == 0:
            return None
        result = "\n".join(out)
        if len(result) > (1 - _MIN_GAIN) * len(text):
            return None
        return Compressed(text=result, lossless=False, transform="diff_context")
