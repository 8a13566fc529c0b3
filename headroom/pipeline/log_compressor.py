"""Log compressor: keeps head, tail, errors, warnings, stack traces and the lines the query is about, and folds
every other repeated line into a template with its count and the distinct values of its most telling field.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from headroom.pipeline.log_lines import NORMAL, PROBLEM, WARNING, may_hold_traces, severity, trace_blocks
from headroom.pipeline.log_templates import (
    LineGroup,
    LineTokens,
    facet_position,
    facet_values,
    group_lines,
    render,
    template_keys,
    uniform_columns,
)
from headroom.pipeline.relevance import bm25_scores
from headroom.pipeline.term_hits import shortlist as shortlist_units
from headroom.pipeline.term_hits import term_hits
from headroom.pipeline.types import Compressed, CompressionContext, omitted

_MIN_LINES = 8
_MIN_GAIN = 0.10
_RELEVANT_PER_KEY = 1
_RERANKED = 100
_RELATIVE_SCORE = 0.2
_SHORTLIST_PER_KEY = 4
_MAX_TEMPLATE_CHARS = 400
_PATTERNS_HEADER = "Repeated line patterns ([count×] template; <N>, <IP>, <TS>, <*> mark fields that vary):"


@dataclass(frozen=True, slots=True)
class _Budget:
    head: int
    tail: int
    relevant: int
    verbatim_warnings: int
    verbatim_problems: int
    problem_values: int
    values: int
    patterns: int


_BUDGETS = {
    1: _Budget(
        head=5, tail=5, relevant=16, verbatim_warnings=10, verbatim_problems=3, problem_values=20, values=8, patterns=60
    ),
    2: _Budget(
        head=3, tail=3, relevant=5, verbatim_warnings=3, verbatim_problems=1, problem_values=8, values=3, patterns=25
    ),
}


def _compile(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    compiled: list[re.Pattern[str]] = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error:
            continue
    return compiled


def _clip(line: str) -> str:
    if len(line) <= _MAX_TEMPLATE_CHARS:
        return line
    return line[:_MAX_TEMPLATE_CHARS] + omitted(len(line) - _MAX_TEMPLATE_CHARS, "chars")


def _group_summary(tokens: LineTokens, group: LineGroup, max_values: int) -> list[str]:
    count = len(group.indices)
    columns = tokens.columns(group.indices)
    uniform = uniform_columns(columns)
    summary = [f"[{count}×] {_clip(render(tokens, group.indices, columns, uniform))}"]
    position = facet_position(tokens, columns, uniform) if max_values else None
    if position is None:
        return summary
    by_value = facet_values(group.indices, columns[position])
    for members in by_value[:max_values]:
        member_columns = tokens.columns(members)
        template = render(tokens, members, member_columns, uniform_columns(member_columns, uniform))
        summary.append(f"  [{len(members)}×] {_clip(template)}")
    if len(by_value) > max_values:
        rest = sum(len(members) for members in by_value[max_values:])
        summary.append("  " + omitted(len(by_value) - max_values, f"other values ({rest} lines)"))
    return summary


def _keep_traces(lines: Sequence[str], keys: Sequence[str], keep: set[int]) -> tuple[set[int], dict[int, str]]:
    """Keeps every stack trace whole, a repeat of an earlier one as its first line only; returns the lines in
    traces and the labels for the gaps left by repeats."""
    gap_labels: dict[int, str] = {}
    in_trace: set[int] = set()
    seen: set[str] = set()
    for block in trace_blocks(lines, keys):
        in_trace.update(range(block.start, block.end + 1))
        keep.add(block.start)
        if block.signature in seen:
            gap_labels[block.start + 1] = "stack-trace lines (same trace as above)"
            continue
        seen.add(block.signature)
        keep.update(range(block.start, block.end + 1))
    return in_trace, gap_labels


def _choose_groups(
    groups: Sequence[LineGroup], budget: _Budget, keep: set[int]
) -> tuple[list[tuple[LineGroup, int]], list[LineGroup]]:
    """Small groups of warnings and problems are kept verbatim; larger ones keep their first and last line and
    are summarised with up to `problem_values` facet values. Ordinary groups are summarised, the largest
    first, up to `patterns` of them. Returns (group, facet values to show) in line order, and the groups left
    out."""
    chosen: list[tuple[LineGroup, int]] = []
    ordinary: list[LineGroup] = []
    for group in groups:
        size = len(group.indices)
        if (group.severity >= WARNING and size <= budget.verbatim_warnings) or (
            group.severity == PROBLEM and size <= budget.verbatim_problems
        ):
            keep.update(group.indices)
        elif group.severity > NORMAL:
            keep.update((group.indices[0], group.indices[-1]))
            chosen.append((group, budget.problem_values))
        elif any(i not in keep for i in group.indices):
            ordinary.append(group)
    ordinary.sort(key=lambda g: (-len(g.indices), g.indices[0]))
    chosen.extend((group, budget.values if len(group.indices) > 1 else 0) for group in ordinary[: budget.patterns])
    chosen.sort(key=lambda item: item[0].indices[0])
    return chosen, ordinary[budget.patterns :]


class LogCompressor:
    """Compresses application and system logs (see the module docstring)."""

    name = "logs"

    def compress(self, text: str, ctx: CompressionContext) -> Compressed | None:
        lines = text.split("\n")
        joined = text
        if "\r" in text:
            lines = [line.rstrip("\r") for line in lines]
            joined = "\n".join(lines)
        if len(lines) < _MIN_LINES:
            return None
        budget = _BUDGETS[2 if ctx.depth >= 2 else 1]
        keys = template_keys(lines)
        keep: set[int] = set(range(min(budget.head, len(lines))))
        keep.update(range(max(0, len(lines) - budget.tail), len(lines)))
        in_trace, gap_labels = _keep_traces(lines, keys, keep) if may_hold_traces(text) else (set(), {})
        for pattern in _compile(ctx.keep_patterns):
            keep.update(i for i, line in enumerate(lines) if pattern.search(line))

        by_key: dict[str, int] = {}
        for key, line in zip(keys, lines, strict=True):
            if key not in by_key:
                by_key[key] = severity(line)
        severities = [by_key[key] for key in keys]
        candidates = [i for i, key in enumerate(keys) if key and i not in in_trace]
        groups = group_lines(keys, severities, candidates)
        self._keep_relevant(joined, lines, keys, ctx.query, budget, keep)

        chosen, dropped = _choose_groups(groups, budget, keep)
        out = self._body(lines, keep, gap_labels)
        if chosen or dropped:
            out.append(_PATTERNS_HEADER)
            tokens = LineTokens(lines)
            for group, max_values in chosen:
                out.extend(_group_summary(tokens, group, max_values))
            if dropped:
                rest = sum(len(group.indices) for group in dropped)
                out.append(omitted(len(dropped), f"rarer line patterns ({rest} lines)"))
        result = "\n".join(out)
        if len(result) > (1 - _MIN_GAIN) * len(text):
            return None
        return Compressed(text=result, lossless=False, transform="logs:templates")

    @staticmethod
    def _keep_relevant(
        text: str, lines: Sequence[str], keys: Sequence[str], query: str, budget: _Budget, keep: set[int]
    ) -> None:
        """Keeps the lines BM25 ranks best, at most _RELEVANT_PER_KEY of any one exact template. Lines holding
        a query term with a digit (a status code, an id, an address) come first: the query names that value.
        `text` is the lines joined by newlines."""
        starts = list(map(operator.add, itertools.accumulate(map(len, lines), initial=0), range(len(lines) + 1)))
        hits = term_hits(text, starts, query)
        taken: Counter[str] = Counter()
        valued = {term for term in set().union(*hits.values()) if any(c.isdigit() for c in term)}
        exact = [i for i in sorted(hits, reverse=True) if not valued.isdisjoint(hits[i])]
        for i in exact:
            if len(taken) >= budget.relevant // 2:
                break
            if not taken[keys[i]]:
                taken[keys[i]] += 1
                keep.add(i)
        shortlist = shortlist_units(
            hits, len(lines), _RERANKED, keys.__getitem__, _SHORTLIST_PER_KEY, latest_first=True
        )
        scores = bm25_scores([lines[i] for i in shortlist], query)
        best = max(scores, default=0.0)
        if best <= 0.0:
            return
        ranked = sorted(
            (k for k, s in enumerate(scores) if s >= _RELATIVE_SCORE * best), key=lambda k: (-scores[k], -k)
        )
        added = 0
        for k in ranked:
            if added >= budget.relevant:
                break
            i = shortlist[k]
            if taken[keys[i]] >= _RELEVANT_PER_KEY:
                continue
            taken[keys[i]] += 1
            keep.add(i)
            added += 1

    @staticmethod
    def _body(lines: Sequence[str], keep: set[int], gap_labels: dict[int, str]) -> list[str]:
        out: list[str] = []
        previous = -1
        for i in sorted(keep):
            if i > previous + 1:
                out.append(omitted(i - previous - 1, gap_labels.get(previous + 1, "log lines")))
            out.append(lines[i])
            previous = i
        if previous < len(lines) - 1:
            out.append(omitted(len(lines) - 1 - previous, "log lines"))
        return out
