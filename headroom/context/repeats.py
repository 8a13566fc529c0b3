"""Repeated outputs: a block whose exact content already appeared earlier in the same request (an agent re-reading
a file, re-running a command, an observation echoed twice) is sent as a short reference to the earlier copy; a block
that mostly repeats an earlier one (a file view after a one-line edit) is sent with its runs of repeated lines
collapsed. The original is kept in CCR either way.

Prefix-stable like the pipeline: a repeat is folded only when it is new (in the newest turn, after the last
assistant message), and the conversation remembers which occurrence (content hash and ordinal) it folded, so every
later turn sends that occurrence as the same reference and never changes one it sent in full.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from headroom.ccr import markers
from headroom.pipeline.memo import LruCache, lines_bytes, text_bytes
from headroom.pipeline.pipeline import OptimizeResult
from headroom.providers.base import JSONObject, Provider
from headroom.store.interfaces import Stores

REPEATS_FLAG = "folded_repeats"
# Each request with a new block reads the line sets of every earlier block of its conversation, so the memo must
# hold whole conversations: 16 MB is ~1,000 blocks of 6 KB (a long agent session, with a few at once). Collapsed
# forms are only the conversation's near repeats. Bounded in entries alone, the memos held 130+ MB.
LINE_SETS_BYTES = 16 << 20
COLLAPSED_BYTES = 4 << 20
TRANSFORM = "repeat"
# A near repeat is folded only when its collapsed form costs at most this share of its tokens:
# below what the compressors usually keep for such a block.
NEAR_REPEAT_SHARE = 0.25
# Shorter runs of repeated lines are kept verbatim (the collapsed line would cost about as much).
_MIN_RUN = 3
_LINE_NUMBER = re.compile(r"\s*\d+(?=[:→|\t])")
# Where a line occurs more often in the earlier block, only its first occurrences start a run.
_MAX_CANDIDATES = 8
# Longer blocks are not compared line by line (2,000 lines take ~10-20 ms on a loaded machine); exact repeats are
# folded at any size.
_MAX_LINES = 2000


@dataclass(slots=True)
class FoldedRepeats:
    """What folding did to one request, merged into the pipeline's result once it has run."""

    tokens_before: int = 0
    tokens_after: int = 0
    count: int = 0
    new_hashes: list[str] = field(default_factory=list)

    def merge_into(self, result: OptimizeResult) -> None:
        if not self.count:
            return
        result.changed = result.has_markers = True
        result.tokens_before += self.tokens_before
        result.tokens_after += self.tokens_after
        result.transforms.extend([TRANSFORM] * self.count)
        result.ccr_hashes.extend(self.new_hashes)


def reference(ccr_hash: str, tokens: int) -> str:
    return (
        f"[headroom: identical to an earlier output in this conversation ({tokens} tokens); "
        f"full original: call {markers.RETRIEVE_TOOL} hash={ccr_hash}]"
    )


def near_reference(ccr_hash: str, tokens: int, collapsed: str) -> str:
    return (
        f"[headroom: mostly repeats an earlier output in this conversation; full original ({tokens} tokens): "
        f"call {markers.RETRIEVE_TOOL} hash={ccr_hash}]\n{collapsed}"
    )


def line_key(line: str) -> str:
    """A line as runs are matched: without a leading line number (`12:`, `12→`, `12|`, `12<tab>` as file viewers
    print them), so a view whose numbers shifted after an edit still matches the earlier view."""
    number = _LINE_NUMBER.match(line)
    return line if number is None else "#" + line[number.end() :]


def collapse_repeated_runs(earlier: str, text: str) -> str:
    """`text` line by line, each run of at least `_MIN_RUN` lines that also appears, contiguous, anywhere in
    `earlier` replaced by one `[… lines a-b repeat an earlier output]` line (1-based numbers in `text`; with
    `, renumbered` when only their line numbers differ). Runs are matched greedily, longest first from each line,
    so moved and re-shown parts are found too."""
    old, new = earlier.splitlines(), text.splitlines()
    old_keys, new_keys = [line_key(line) for line in old], [line_key(line) for line in new]
    where: dict[str, list[int]] = {}
    for index, key in enumerate(old_keys):
        where.setdefault(key, []).append(index)
    runs: list[tuple[int, int, bool] | str] = []
    index = 0
    while index < len(new):
        length, position = _longest_run(old_keys, new_keys, index, where.get(new_keys[index], []))
        if length < _MIN_RUN:
            runs.append(new[index])
            index += 1
            continue
        renumbered = new[index : index + length] != old[position : position + length]
        last = runs[-1] if runs else None
        if isinstance(last, tuple) and last[2] == renumbered:
            runs[-1] = (last[0], index + length, renumbered)
        else:
            runs.append((index, index + length, renumbered))
        index += length
    return "\n".join(run if isinstance(run, str) else _collapsed_line(*run) for run in runs)


def _collapsed_line(start: int, end: int, renumbered: bool) -> str:
    return f"[… lines {start + 1}-{end} repeat an earlier output{', renumbered' if renumbered else ''}]"


def _longest_run(old: list[str], new: list[str], start: int, positions: list[int]) -> tuple[int, int]:
    """(length, position in `old`) of the longest run of `new` from `start` that appears in `old` from one of
    `positions` (the first `_MAX_CANDIDATES` of them, which bounds the work on very repetitive text)."""
    best = (0, 0)
    for position in positions[:_MAX_CANDIDATES]:
        length = 0
        while (
            start + length < len(new) and position + length < len(old) and new[start + length] == old[position + length]
        ):
            length += 1
        best = max(best, (length, -position))
        if start + length == len(new):
            break
    return best[0], -best[1]


class RepeatFolder:
    """Folds repeats into references before the pipeline runs (so the pipeline never compresses, or remembers a
    form for, an occurrence that is sent as a reference); state lives in the conversation store."""

    def __init__(self, stores: Stores, min_chars: int, ttl_seconds: float, tokens: Callable[[str], int]) -> None:
        self._stores = stores
        self._min_chars = min_chars
        self._ttl = ttl_seconds
        self._tokens = tokens
        self._line_sets: LruCache[str, frozenset[str]] = LruCache(4096, LINE_SETS_BYTES, lines_bytes)
        self._collapsed: LruCache[tuple[str, str], str] = LruCache(4096, COLLAPSED_BYTES, text_bytes)

    def fold(self, provider: Provider, body: JSONObject, *, tenant: str, conversation: str) -> FoldedRepeats:
        """Replace, in place, each block that repeats an earlier one (wholly, or mostly: then its repeated runs
        are collapsed) and is new (newest turn) or was folded before; the originals go to CCR."""
        folded = FoldedRepeats()
        blocks = [block for block in provider.blocks(body) if len(block.text) >= self._min_chars]
        if len(blocks) < 2:
            return folded
        now = time.time()
        raw = self._stores.conversations.get_flag(conversation, REPEATS_FLAG, now)
        remembered: set[str] = set(json.loads(raw)) if raw else set()
        newest_after = max((m.index for m in provider.messages(body) if m.role == "assistant"), default=-1)
        seen: dict[str, int] = {}
        earlier: list[tuple[str, str]] = []
        new_keys: set[str] = set()
        for block in blocks:
            original, ccr_hash = block.text, markers.content_hash(block.text)
            seen[ccr_hash] = seen.get(ccr_hash, 0) + 1
            key = f"{ccr_hash}:{seen[ccr_hash]}"
            form = None
            if key in remembered or block.message_index > newest_after:
                form = self._form(original, ccr_hash, seen[ccr_hash] > 1, earlier)
            earlier.append((ccr_hash, original))
            if form is None:
                continue
            folded.tokens_before += self._tokens(original)
            folded.tokens_after += self._tokens(form)
            folded.count += 1
            if key not in remembered:
                new_keys.add(key)
                folded.new_hashes.append(ccr_hash)
                self._stores.blobs.put_blob(
                    tenant, ccr_hash, original.encode("utf-8", "surrogatepass"), now + self._ttl
                )
            block.set_text(form)
        if new_keys:
            value = json.dumps(sorted(remembered | new_keys))
            self._stores.conversations.set_flag(conversation, REPEATS_FLAG, value, now + self._ttl)
        return folded

    def _form(self, text: str, ccr_hash: str, repeat: bool, earlier: list[tuple[str, str]]) -> str | None:
        tokens = self._tokens(text)
        if repeat:
            return reference(ccr_hash, tokens)
        collapsed = self._collapsed_against_closest(text, ccr_hash, earlier)
        if collapsed is None:
            return None
        form = near_reference(ccr_hash, tokens, collapsed)
        return form if self._tokens(form) <= NEAR_REPEAT_SHARE * tokens else None

    def _collapsed_against_closest(self, text: str, ccr_hash: str, earlier: list[tuple[str, str]]) -> str | None:
        """This block collapsed against the earlier block sharing most of its lines (the latest on a tie), when
        that block shares at least half of them."""
        lines = self._lines(ccr_hash, text)
        if not lines or text.count("\n") > _MAX_LINES:
            return None
        best: tuple[str, str] | None = None
        best_shared = 0
        for candidate in earlier:
            if candidate[1].count("\n") > _MAX_LINES:
                continue
            shared = len(lines & self._lines(*candidate))
            if shared and shared >= best_shared:
                best, best_shared = candidate, shared
        if best is None or 2 * best_shared < len(lines):
            return None
        collapsed = self._collapsed.get((best[0], ccr_hash))
        if collapsed is None:
            collapsed = collapse_repeated_runs(best[1], text)
            self._collapsed.put((best[0], ccr_hash), collapsed)
        return collapsed

    def _lines(self, ccr_hash: str, text: str) -> frozenset[str]:
        """The distinct non-blank line keys of a block (memoized by content hash)."""
        lines = self._line_sets.get(ccr_hash)
        if lines is None:
            lines = frozenset(line_key(line) for line in text.splitlines() if line.strip())
            self._line_sets.put(ccr_hash, lines)
        return lines
