"""Line-numbered source as agents send it (Claude Code's Read tool: `    12→code`; `cat -n`: `    12<TAB>code`):
split into number prefixes and bare code, and number a compressed rendering of that code again, so every line
that starts in kept code carries its own original number and marker lines carry none.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

# `cat -n` pads numbers to six columns; an arrow is unambiguous at any width; editor tools (SWE-agent's) write
# `1457:code`, never followed by a digit (which would be a clock time).
_NUMBERED = re.compile(r"^(?: *\d+→| {0,5}\d+(?<=^.{6})\t| *\d{6,}\t| *\d+:(?!\d))")
_DIGIT = re.compile(r"\d")
_NEWLINE = re.compile(b"\n")
_MIN_LINES = 3
# Header lines an editor view may open with (`[File: path (N lines total)]`, `(N more lines above)`).
_MAX_HEADER_LINES = 2
_DETECT_SHARE = 0.9

# A piece of the rendered code: its bytes and where they start in the bare code, or None for a marker.
Segment = tuple[bytes, int | None]


@dataclass(frozen=True, slots=True)
class NumberedCode:
    """`prefixes[i]` numbered line i of `code`; `tail` is whatever followed the numbered lines, verbatim."""

    prefixes: list[str]
    code: str
    tail: str


def split_numbered(text: str) -> NumberedCode | None:
    """The numbered lines at the head of `text` (at least three, numbered consecutively), or None."""
    lines = text.split("\n")
    prefixes: list[str] = []
    bodies: list[str] = []
    for line in lines:
        match = _NUMBERED.match(line)
        if match is None:
            break
        number = int(match.group(0)[:-1])
        if prefixes and number != int(prefixes[-1][:-1]) + 1:
            return None
        prefixes.append(match.group(0))
        bodies.append(line[match.end() :])
    if len(prefixes) < _MIN_LINES:
        return None
    rest = lines[len(prefixes) :]
    return NumberedCode(prefixes, "\n".join(bodies) + ("\n" if rest else ""), "\n".join(rest))


def strip_numbers(lines: Sequence[str]) -> list[str] | None:
    """Sampled lines without their number prefixes when nearly all of them are numbered (after at most a short
    header), else None."""
    if sum(1 for line in lines[: _MIN_LINES + _MAX_HEADER_LINES] if _NUMBERED.match(line)) < _MIN_LINES - 1:
        return None
    stripped = [_NUMBERED.sub("", line, count=1) for line in lines]
    numbered = sum(1 for line, bare in zip(lines, stripped, strict=True) if len(bare) < len(line))
    if numbered < _MIN_LINES or numbered < _DETECT_SHARE * len(lines):
        return None
    return stripped


def renumber(numbered: NumberedCode, segments: Sequence[Segment]) -> str:
    """The rendered code with number prefixes: a line starting in kept code gets the number of the code line it
    starts on; a line starting inside a marker gets a blank prefix as wide as the line before's."""
    starts = [0, *(match.end() for match in _NEWLINE.finditer(numbered.code.encode("utf-8")))]
    out = bytearray()
    origins: list[int | None] = [None]
    for chunk, start in segments:
        if origins[-1] is None and start is not None and (not out or out[-1] == 10):
            origins[-1] = start
        if start is None:
            origins.extend([None] * chunk.count(b"\n"))
        else:
            origins.extend(start + match.end() for match in _NEWLINE.finditer(chunk))
        out += chunk
    lines = bytes(out).split(b"\n")
    if numbered.code.endswith("\n"):
        lines.pop()
    rendered: list[str] = []
    prefix = numbered.prefixes[0]
    for line, origin in zip(lines, origins[: len(lines)], strict=True):
        if origin is None:
            prefix = _DIGIT.sub(" ", prefix)
        else:
            prefix = numbered.prefixes[min(bisect.bisect_right(starts, origin) - 1, len(numbered.prefixes) - 1)]
        rendered.append(prefix + line.decode("utf-8"))
    text = "\n".join(rendered)
    return text + "\n" + numbered.tail if numbered.code.endswith("\n") else text
