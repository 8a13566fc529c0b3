"""Repeated outputs: a block whose exact content already appeared earlier in the same request (an agent re-reading
a file, re-running a command, an observation echoed twice) is sent as a short reference to the earlier copy, with
the original kept in CCR.

Prefix-stable like the pipeline: a repeat is folded only when it is new (in the newest turn, after the last
assistant message), and the conversation remembers which occurrence (content hash and ordinal) it folded, so every
later turn sends that occurrence as the same reference and never changes one it sent in full.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from headroom.ccr import markers
from headroom.pipeline.pipeline import OptimizeResult
from headroom.providers.base import Block, JSONObject, Provider
from headroom.store.interfaces import Stores

REPEATS_FLAG = "folded_repeats"
TRANSFORM = "repeat"


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


class RepeatFolder:
    """Folds repeats into references before the pipeline runs (so the pipeline never compresses, or remembers a
    form for, an occurrence that is sent as a reference); state lives in the conversation store."""

    def __init__(self, stores: Stores, min_chars: int, ttl_seconds: float, tokens: Callable[[str], int]) -> None:
        self._stores = stores
        self._min_chars = min_chars
        self._ttl = ttl_seconds
        self._tokens = tokens

    def fold(self, provider: Provider, body: JSONObject, *, tenant: str, conversation: str) -> FoldedRepeats:
        """Replace, in place, each later occurrence of a block content seen earlier in the request that is new
        (newest turn) or was folded before; the originals go to CCR."""
        folded = FoldedRepeats()
        seen: dict[str, int] = {}
        repeats: list[tuple[Block, str, str]] = []
        for block in provider.blocks(body):
            if len(block.text) < self._min_chars:
                continue
            ccr_hash = markers.content_hash(block.text)
            seen[ccr_hash] = seen.get(ccr_hash, 0) + 1
            if seen[ccr_hash] > 1:
                repeats.append((block, ccr_hash, f"{ccr_hash}:{seen[ccr_hash]}"))
        if not repeats:
            return folded
        now = time.time()
        raw = self._stores.conversations.get_flag(conversation, REPEATS_FLAG, now)
        remembered: set[str] = set(json.loads(raw)) if raw else set()
        newest_after = max((m.index for m in provider.messages(body) if m.role == "assistant"), default=-1)
        new_keys: set[str] = set()
        for block, ccr_hash, key in repeats:
            if key not in remembered and block.message_index <= newest_after:
                continue
            before = self._tokens(block.text)
            text = reference(ccr_hash, before)
            folded.tokens_before += before
            folded.tokens_after += self._tokens(text)
            folded.count += 1
            if key not in remembered:
                new_keys.add(key)
                folded.new_hashes.append(ccr_hash)
                self._stores.blobs.put_blob(
                    tenant, ccr_hash, block.text.encode("utf-8", "surrogatepass"), now + self._ttl
                )
            block.set_text(text)
        if new_keys:
            value = json.dumps(sorted(remembered | new_keys))
            self._stores.conversations.set_flag(conversation, REPEATS_FLAG, value, now + self._ttl)
        return folded
