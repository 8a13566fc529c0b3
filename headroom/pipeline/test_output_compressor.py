"""Test-runner output compressor: keeps failures, their tracebacks and messages, and the summary; folds passing
tests into counts. Handles pytest, unittest, go test (-v and -json), jest, JUnit XML and flutter --machine JSON.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from headroom.pipeline.relevance import bm25_scores
from headroom.pipeline.test_reports import flutter_json, go_test_json, json_events, junit_xml
from headroom.pipeline.types import Compressed, CompressionContext, omitted

_MIN_GAIN = 0.10
# Leading whitespace is taken possessively where what follows cannot start with a space (a failing indented line
# is then given up in one pass); the `... ok` form, which can, is its own alternative.
_PASS_LINE = re.compile(
    r"^(?:\s*+(?:=== (?:RUN|PAUSE|CONT|NAME)\s|--- (?:PASS|SKIP): |\S+::\S+ PASSED\b|[✓✔√] |PASS \S+\.(?:test|spec)\.)|"
    r".* \.\.\. (?:ok|skipped.*)$)"
)
_GO_RUN = re.compile(r"^\s*+=== (?:RUN|CONT)\s+(\S+)")
_GO_FAIL = re.compile(r"^\s*+--- FAIL: (\S+)")
_GO_FAIL_TEXT = "--- FAIL: "
_SECTION_HEADER = re.compile(r"^\s*+_{3,} (.+?) _{3,}\s*$")
_SECTION_END = re.compile(r"^\s*+={3,}")
_ERROR_LINE = re.compile(r"^\s*E\s+\S|^\s*(?:[\w.]+(?:Error|Exception)|AssertionError)\b")
_LOCATION_LINE = re.compile(r"^\s*\S+:\d+: \w+")
_RELEVANT_SECTIONS = {1: 3, 2: 1}
_ERROR_LINES_PER_SECTION = {1: 1, 2: 1}


def _go_failing_roots(lines: Sequence[str]) -> set[str]:
    return {match.group(1).split("/")[0] for line in lines if _GO_FAIL_TEXT in line and (match := _GO_FAIL.match(line))}


def _fold_passes(lines: Sequence[str]) -> list[int]:
    """Indices of the lines to keep: everything except pass markers and output of go tests that passed. The go
    patterns only see lines holding their literal text (`in` runs in C)."""
    failing = _go_failing_roots(lines)
    current = ""
    keep: list[int] = []
    for i, line in enumerate(lines):
        run = _GO_RUN.match(line) if "=== " in line else None
        if run:
            current = run.group(1).split("/")[0]
            continue
        failed = _GO_FAIL_TEXT in line and _GO_FAIL.match(line) is not None
        if failed or not _PASS_LINE.match(line):
            if current and current not in failing and line.startswith((" ", "\t")) and not failed:
                continue
            keep.append(i)
        if line.startswith(("--- PASS", "--- SKIP", "--- FAIL", "PASS", "FAIL", "ok ")):
            current = ""
    return keep


def _sections(lines: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) of each pytest failure section: a `____ name ____` header up to the next one or `====`."""
    sections: list[tuple[int, int]] = []
    start = -1
    for i, line in enumerate(lines):
        header = "___" in line and _SECTION_HEADER.match(line) is not None
        if header or (start >= 0 and "===" in line and _SECTION_END.match(line)):
            if start >= 0:
                sections.append((start, i))
            start = i if header else -1
    if start >= 0:
        sections.append((start, len(lines)))
    return sections


def _abbreviate_sections(lines: Sequence[str], keep: list[int], ctx: CompressionContext) -> list[int]:
    """Keeps the failure sections most relevant to the query whole; of the others only the header, the first
    error lines (`E ...`) and the last `file:line: Error` location."""
    sections = _sections(lines)
    if len(sections) < 2:
        return keep
    depth = 2 if ctx.depth >= 2 else 1
    scores = bm25_scores(["\n".join(lines[s:e]) for s, e in sections], ctx.query)
    header_scores = bm25_scores([lines[s] for s, _ in sections], ctx.query)
    ranked = sorted(range(len(sections)), key=lambda k: (-(header_scores[k] * 4 + scores[k]), k))
    whole = {k for k in ranked[: _RELEVANT_SECTIONS[depth]] if scores[k] > 0}
    dropped: set[int] = set()
    for k, (start, end) in enumerate(sections):
        if k in whole:
            continue
        errors = [i for i in range(start + 1, end) if _ERROR_LINE.match(lines[i])]
        locations = [i for i in range(start + 1, end) if _LOCATION_LINE.match(lines[i])]
        shown = set(errors[: _ERROR_LINES_PER_SECTION[depth]] + locations[-1:])
        dropped.update(i for i in range(start + 1, end) if i not in shown)
    return [i for i in keep if i not in dropped]


def _report(text: str) -> str | None:
    """A machine-readable report (go test -json, flutter --machine events, JUnit XML) as a short text report;
    JSON Lines are parsed once for both event formats."""
    events = json_events(text) if text.startswith("{") else None
    if events is not None:
        for report in (go_test_json, flutter_json):
            rendered = report(events)
            if rendered is not None:
                return rendered
    return junit_xml(text)


def _render(lines: Sequence[str], keep: Sequence[int]) -> str:
    out: list[str] = []
    previous = -1
    for i in keep:
        if i == previous + 2:
            out.append(lines[i - 1])
        elif i > previous + 2:
            out.append(omitted(i - previous - 1, "lines"))
        out.append(lines[i])
        previous = i
    if previous < len(lines) - 1:
        out.append(omitted(len(lines) - 1 - previous, "lines"))
    return "\n".join(out)


class TestOutputCompressor:
    """Compresses test-runner output (see the module docstring)."""

    __test__ = False
    name = "test_output"

    def compress(self, text: str, ctx: CompressionContext) -> Compressed | None:
        if not text.strip():
            return None
        result: str | None = None
        transform = "test_output:report"
        stripped = text.lstrip()
        if stripped.startswith(("{", "<")):
            result = _report(stripped)
        if result is None:
            lines = text.split("\n")
            if "\r" in text:
                lines = [line.rstrip("\r") for line in lines]
            keep = _abbreviate_sections(lines, _fold_passes(lines), ctx)
            if not keep:
                return None
            result = _render(lines, keep)
            transform = "test_output:fold"
        if len(result) > (1 - _MIN_GAIN) * len(text):
            return None
        return Compressed(text=result, lossless=False, transform=transform)
