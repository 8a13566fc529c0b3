"""Machine-readable test reports (go test -json, flutter --machine, JUnit XML) rendered as a short text report:
totals, then every failing test with its messages and output; passing tests appear only in the counts.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections import Counter
from typing import Any

from headroom.pipeline.types import omitted

_MAX_OUTPUT_LINES = 60


def json_events(text: str) -> list[dict[str, Any]] | None:
    """The objects of a JSON Lines text (blank lines skipped), or None when any line is not a JSON object."""
    events: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            return None
        if not isinstance(event, dict):
            return None
        events.append(event)
    return events or None


def _clip_lines(lines: list[str]) -> list[str]:
    if len(lines) <= _MAX_OUTPUT_LINES:
        return lines
    half = _MAX_OUTPUT_LINES // 2
    return [*lines[:half], "    " + omitted(len(lines) - 2 * half, "output lines"), *lines[-half:]]


def go_test_json(events: list[dict[str, Any]]) -> str | None:
    """go test -json events: failing tests and packages with their output, counts for the rest."""
    if not any("Action" in e for e in events):
        return None
    outputs: dict[tuple[str, str], list[str]] = {}
    results: dict[tuple[str, str], str] = {}
    order: list[tuple[str, str]] = []
    for event in events:
        key = (str(event.get("Package", "")), str(event.get("Test", "")))
        action = event.get("Action")
        if key not in outputs:
            outputs[key] = []
            order.append(key)
        if action == "output":
            outputs[key].append(str(event.get("Output", "")).rstrip("\n"))
        elif action in ("pass", "fail", "skip"):
            results[key] = str(action)
    tests = Counter(results[k] for k in order if k[1] and k in results)
    packages = Counter(results[k] for k in order if not k[1] and k in results)
    out = [
        f"go test: {tests['pass']} tests passed, {tests['fail']} failed, {tests['skip']} skipped; "
        f"{packages['pass']} packages ok, {packages['fail']} failed"
    ]
    for key in order:
        if results.get(key) != "fail":
            continue
        package, test = key
        out.append(f"--- FAIL: {test} ({package})" if test else f"FAIL package {package}")
        body = [line for line in outputs[key] if not line.lstrip().startswith(("=== RUN", "=== PAUSE", "=== CONT"))]
        out.extend(_clip_lines(body))
    return "\n".join(out)


def flutter_json(events: list[dict[str, Any]]) -> str | None:
    """flutter test --machine events: failing tests with their errors and printed messages."""
    if not any(e.get("type") == "testStart" for e in events):
        return None
    suites: dict[int, str] = {}
    names: dict[int, tuple[str, int]] = {}
    messages: dict[int, list[str]] = {}
    results: dict[int, str] = {}
    hidden: set[int] = set()
    for event in events:
        kind = event.get("type")
        if kind == "suite":
            suite = event.get("suite", {})
            suites[int(suite.get("id", -1))] = str(suite.get("path", ""))
        elif kind == "testStart":
            test = event.get("test", {})
            names[int(test.get("id", -1))] = (str(test.get("name", "")), int(test.get("suiteID", -1)))
        elif kind in ("print", "error"):
            parts = [str(event.get(field, "")) for field in ("message", "error", "stackTrace") if event.get(field)]
            messages.setdefault(int(event.get("testID", -1)), []).extend(parts)
        elif kind == "testDone":
            test_id = int(event.get("testID", -1))
            results[test_id] = "skipped" if event.get("skipped") else str(event.get("result", ""))
            if event.get("hidden"):
                hidden.add(test_id)
    counts = Counter(result for test_id, result in results.items() if test_id not in hidden)
    out = [f"flutter test: {len(suites)} suites; " + ", ".join(f"{n} {r}" for r, n in sorted(counts.items()))]
    for test_id, result in results.items():
        if result in ("success", "skipped"):
            continue
        name, suite_id = names.get(test_id, ("?", -1))
        out.append(f"{result.upper()}: {name} ({suites.get(suite_id, '?')})")
        for message in messages.get(test_id, []):
            out.extend(_clip_lines(["    " + line for line in message.splitlines()]))
    return "\n".join(out)


def junit_xml(text: str) -> str | None:
    """JUnit XML: failing and erroring test cases with message and text, per-suite counts for the rest."""
    if "<testsuite" not in text[:4096] and "<testcase" not in text[:4096]:
        return None
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return None
    counts: Counter[str] = Counter()
    failing: list[str] = []
    for suite in root.iter("testsuite"):
        suite_name = suite.get("name", "")
        for case in suite.findall("testcase"):
            problem = next((c for c in case if c.tag in ("failure", "error")), None)
            if problem is None:
                counts["skipped" if case.find("skipped") is not None else "passed"] += 1
                continue
            counts[problem.tag] += 1
            name = case.get("name", "")
            classname = case.get("classname", "")
            failing.append(f"{problem.tag.upper()}: {suite_name} › {classname + ' › ' if classname else ''}{name}")
            message = problem.get("message", "")
            if message:
                failing.append(f"    message: {message}")
            body = (problem.text or "").strip("\n").splitlines()
            failing.extend(_clip_lines(["    " + line.rstrip() for line in body if line.strip()]))
    total = sum(counts.values())
    summary = f"JUnit report: {total} tests; " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return "\n".join([summary, *failing])
