"""Per-line facts a log compressor needs: how severe a line is, and which lines form stack traces.

Stack traces (Python tracebacks, Java/JVM `at ...` frames with `Caused by:` chains) are returned as blocks
so they can be kept whole; a trace repeated later is recognised by its masked text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

ERROR = 3
WARNING = 2
PROBLEM = 1
NORMAL = 0

_ERROR = re.compile(
    r"\b(?:FATAL|CRITICAL|SEVERE|ERROR|EMERG|PANIC)\b|\b[A-Z]\w*(?:Error|Exception)\b(?::|$)|^\s*panic: "
    r"|Traceback \(most recent call last\)"
)
_WARNING = re.compile(r"\b(?:WARN|WARNING)\b")
_PROBLEM = re.compile(
    r"\b(?:[Ee]rrors?|[Ff]ail(?:s|ed|ure)?|FAIL(?:ED)?|[Ee]xception|[Dd]enied|[Rr]efused|[Tt]imed out|[Tt]imeout"
    r"|[Uu]nable|[Cc]annot|can't|[Aa]bort(?:ed)?|[Kk]illed|[Uu]nreachable|[Ii]nvalid)\b"
)
# Every match of _ERROR (of _PROBLEM) holds one of these words, lower-cased: lines without any skip the regex.
_ERROR_HINTS = ("error", "exception", "fatal", "critical", "severe", "emerg", "panic", "traceback")
_PROBLEM_HINTS = (
    *"error fail exception denied refused timeout unable cannot can't abort killed unreachable invalid".split(),
    "timed out",
)
_FRAME = re.compile(
    r"^\s*at [\w$.<>/\[\]-]+\(|^\s*\.\.\. \d+ (?:more|common frames omitted)|^\s*(?:Caused by|Suppressed): "
)
_PY_TRACE_START = re.compile(r"^\s*Traceback \(most recent call last\):")
_PY_TRACE_HEADER = "Traceback (most recent call last):"
# Somewhere in the text a JVM frame could open a trace (whether at a line's start is left to `trace_blocks`).
_FRAME_ANYWHERE = re.compile(r"at [\w$.<>/\[\]-]+\(")
_PY_CHAIN = re.compile(r"^(?:During handling of the above exception|The above exception was the direct cause)")


def severity(line: str) -> int:
    """ERROR, WARNING, PROBLEM (an error word in an ordinary line) or NORMAL."""
    lowered = line.lower()
    if any(hint in lowered for hint in _ERROR_HINTS) and _ERROR.search(line):
        return ERROR
    if "warn" in lowered and _WARNING.search(line):
        return WARNING
    if any(hint in lowered for hint in _PROBLEM_HINTS) and _PROBLEM.search(line):
        return PROBLEM
    return NORMAL


@dataclass(frozen=True, slots=True)
class TraceBlock:
    """Lines `start`..`end` (inclusive) form one stack trace; `signature` identifies repeats of it."""

    start: int
    end: int
    signature: str


def _python_trace_end(lines: Sequence[str], start: int) -> int:
    end = start
    i = start + 1
    while i < len(lines):
        line = lines[i]
        if line[:1] in (" ", "\t"):
            end = i
        elif line.strip() and not _PY_TRACE_START.match(line):
            end = i
            following = i + 1
            while following < len(lines) and not lines[following].strip():
                following += 1
            if following < len(lines) and _PY_CHAIN.match(lines[following]):
                i = following + 1
                continue
            break
        elif not line.strip():
            i += 1
            continue
        else:
            break
        i += 1
    return end


def may_hold_traces(text: str) -> bool:
    """False when `text` holds no stack trace for certain (one search in C each for how traces open), so a log
    without any skips `trace_blocks`' walk over its lines."""
    return _PY_TRACE_HEADER in text or _FRAME_ANYWHERE.search(text) is not None


def trace_blocks(lines: Sequence[str], masked: Sequence[str]) -> list[TraceBlock]:
    """Every stack trace in the log, in order."""
    blocks: list[TraceBlock] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _PY_TRACE_START.match(line):
            end = _python_trace_end(lines, i)
        elif _FRAME.match(line) and i > 0 and line.lstrip().startswith("at "):
            start = i - 1 if not _FRAME.match(lines[i - 1]) and lines[i - 1].strip() else i
            if blocks and blocks[-1].end >= start:
                start = i
            end = i
            while end + 1 < len(lines) and _FRAME.match(lines[end + 1]):
                end += 1
            blocks.append(TraceBlock(start, end, "\n".join(masked[start + 1 : end + 1])))
            i = end + 1
            continue
        else:
            i += 1
            continue
        blocks.append(TraceBlock(i, end, "\n".join(masked[i + 1 : end + 1])))
        i = end + 1
    return blocks
