"""Line templates for logs: tokens holding digits (timestamps, IPs, ids, counters) are treated as variable so
repeated lines fold into one template with a count, and the values of the field that varies least are listed.
"""

from __future__ import annotations

import math
import operator
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

# (pattern, placeholder, a string every match holds: tokens without it skip the pattern)
_MASKS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"\d{4}-\d\d-\d\d(?:T\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?"), "<TS>", "-"),
    (re.compile(r"\b\d\d:\d\d:\d\d(?:[.,]\d+)?"), "<TS>", ":"),
    (re.compile(r"^(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)$"), "<TS>", ""),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<UUID>", "-"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"), "<IP>", "."),
    (re.compile(r"0x[0-9a-fA-F]+|\b(?=\d*[a-fA-F])(?=[a-fA-F]*\d)[0-9a-fA-F]{10,}\b"), "<HEX>", ""),
    (re.compile(r"(?:(?<=[_=(\s])-|^-)?\d+(?:[.,]\d+)*"), "<N>", ""),
)
_TOKEN = re.compile(r"\s*\S+")
_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_NONZERO_TO_ONE = bytes.maketrans(b"23456789", b"1" * 8)
_DIGITS_TO_ONE = bytes.maketrans(b"0123456789", b"1" * 10)
VARIABLE = "#"
WILDCARD = "<*>"
_MERGE_SIMILARITY = 0.7
_MASK_SAMPLE = 4
_MAX_DISTINCT_SHARE = 0.8
_DOMINANT_SHARE = 0.9
_MAX_CLUSTERS_PER_BUCKET = 48
# Below four tokens a 0.7 similarity needs every token equal, which exact grouping already did.
_MIN_MERGE_TOKENS = 4


def mask(token: str) -> str:
    """The token with each variable-looking field replaced by its type placeholder (<TS>, <IP>, <N>, ...)."""
    if token.isdecimal():
        return "<N>"  # a plain number: of the patterns only <N> matches it
    for pattern, placeholder, hint in _MASKS:
        if hint in token:
            token = pattern.sub(placeholder, token)
    return token


def template_keys(lines: Sequence[str]) -> list[str]:
    """Each line's words with every token that holds a digit replaced by one variable marker. Lines that differ
    only in their digits share a key, which is worked out once for all of them."""
    zeroed = "\n".join(lines).encode("utf-8", "surrogatepass").translate(_DIGITS_TO_ZERO)
    shapes = zeroed.decode("utf-8", "surrogatepass").split("\n")
    by_shape = {shape: " ".join([VARIABLE if "0" in word else word for word in shape.split()]) for shape in set(shapes)}
    return list(map(by_shape.__getitem__, shapes))


@dataclass(slots=True)
class LineGroup:
    """Lines sharing one template: `indices` are line numbers in order; `severity` is the class they share."""

    tokens: list[str]
    severity: int
    indices: list[int] = field(default_factory=list)


def _similar(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether at least _MERGE_SIMILARITY of the positions (of equally long token lists) hold equal tokens."""
    allowed = len(a) - math.ceil(_MERGE_SIMILARITY * len(a))
    misses: int = sum(map(operator.ne, a, b))
    return misses <= allowed


def group_lines(keys: Sequence[str], severities: Sequence[int], indices: Sequence[int]) -> list[LineGroup]:
    """Groups lines with equal keys, then merges groups of the same length and severity whose tokens mostly
    agree (a word that varies, such as a user or host name, does not split a template). Ordered by first line."""
    exact: dict[tuple[int, str], LineGroup] = {}
    for i in indices:
        key = (severities[i], keys[i])
        group = exact.get(key)
        if group is None:
            group = LineGroup(tokens=keys[i].split(" "), severity=severities[i])
            exact[key] = group
        group.indices.append(i)
    buckets: dict[tuple[int, int], list[LineGroup]] = {}
    for group in sorted(exact.values(), key=lambda g: -len(g.indices)):
        bucket = buckets.setdefault((group.severity, len(group.tokens)), [])
        target = None
        if len(group.tokens) >= _MIN_MERGE_TOKENS and len(bucket) <= _MAX_CLUSTERS_PER_BUCKET:
            target = next((c for c in bucket if _similar(c.tokens, group.tokens)), None)
        if target is None:
            bucket.append(group)
            continue
        target.tokens = [t if t == u else WILDCARD for t, u in zip(target.tokens, group.tokens, strict=True)]
        target.indices.extend(group.indices)
    merged = [group for bucket in buckets.values() for group in bucket]
    for group in merged:
        group.indices.sort()
    merged.sort(key=lambda g: g.indices[0])
    return merged


class LineTokens:
    """The words of each line (split at whitespace, computed once for every line), and per-token masks."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = lines
        self.words = [line.split() for line in lines]
        self._masks: dict[str, str] = {}
        self._shapes: dict[bytes, str] = {}

    def mask(self, token: str) -> str:
        """`mask(token)`, remembered for the tokens of this text and worked out once per digit shape: the masks
        tell digits only from other characters (and `0` from other digits in `0x`), and leave no digit behind, so
        tokens that differ only in which digits they hold (timestamps, counters, ids) mask alike."""
        masked = self._masks.get(token)
        if masked is None:
            encoded = token.encode("utf-8", "surrogatepass")
            shape = encoded.translate(_NONZERO_TO_ONE if b"x" in encoded else _DIGITS_TO_ONE)
            masked = self._shapes.get(shape)
            if masked is None:
                masked = self._shapes[shape] = mask(shape.decode("utf-8", "surrogatepass"))
            self._masks[token] = masked
        return masked

    def columns(self, indices: Sequence[int]) -> list[tuple[str, ...]]:
        """The words of the given lines (of equal word count), position by position."""
        words = self.words
        return list(zip(*[words[i] for i in indices], strict=True))


def uniform_columns(columns: Sequence[tuple[str, ...]], within: Sequence[bool] | None = None) -> list[bool]:
    """Which columns hold one value in every line. `within`: the flags of a superset of these lines, whose
    uniform columns are uniform here too without a look."""
    if within is None:
        return [column.count(column[0]) == len(column) for column in columns]
    return [same or column.count(column[0]) == len(column) for same, column in zip(within, columns, strict=True)]


def render(tokens: LineTokens, indices: Sequence[int], columns: Sequence[tuple[str, ...]], uniform: list[bool]) -> str:
    """One template for the given lines (of equal word count; `columns` are their words position by position,
    `uniform` says which hold one value): fields equal in all lines are shown as they are, others by their type
    placeholder (or <*> when the placeholders differ too). Fields are compared without the whitespace before
    them, so a value padded differently in some lines is still one value."""
    if all(uniform):
        return tokens.lines[indices[0]]
    out: list[str] = []
    for token, column, same in zip(_TOKEN.findall(tokens.lines[indices[0]]), columns, uniform, strict=True):
        if same:
            out.append(token)
            continue
        space = token[: len(token) - len(token.lstrip())]
        masks = {tokens.mask(value) for value in _first_distinct(column, _MASK_SAMPLE)}
        out.append(space + (masks.pop() if len(masks) == 1 else WILDCARD))
    return "".join(out).strip()


def _first_distinct(column: tuple[str, ...], count: int) -> list[str]:
    """The first `count` distinct values of a column, in order; a short head of the column usually has them."""
    head = list(dict.fromkeys(column[: count * 16]))
    if len(head) < count:
        head = list(dict.fromkeys(column))
    return head[:count]


def facet_position(tokens: LineTokens, columns: Sequence[tuple[str, ...]], uniform: list[bool]) -> int | None:
    """The varying field (of `columns`, a group's words position by position; `uniform` says which hold one
    value) with the fewest distinct values that still repeat, or None. Fields naming things (hosts, ids, words)
    win over bare numbers; timestamps and fields where one value dominates never qualify."""
    rows = len(columns[0]) if columns else 0
    if rows < 2:
        return None
    best: tuple[bool, int, int] | None = None
    for position, column in enumerate(columns):
        if uniform[position]:
            continue
        distinct = len(set(column))
        if distinct < 2 or distinct > _MAX_DISTINCT_SHARE * rows:
            continue
        if Counter(column).most_common(1)[0][1] >= _DOMINANT_SHARE * rows:
            continue
        masked = tokens.mask(column[0])
        if "<TS>" in masked:
            continue
        candidate = (masked == "<N>", distinct, position)
        if best is None or candidate < best:
            best = candidate
    return None if best is None else best[2]


def facet_values(indices: Sequence[int], column: Sequence[str]) -> list[list[int]]:
    """The group's lines (`indices`) split by their value in `column` (one value per line), most frequent value
    first (ties: first seen)."""
    by_value: dict[str, list[int]] = {}
    for i, value in zip(indices, column, strict=True):
        by_value.setdefault(value, []).append(i)
    return sorted(by_value.values(), key=lambda members: (-len(members), members[0]))
