"""TOIN (tool-output intelligence): per tool name and output shape, counts what was compressed and what the model
later retrieved through CCR, and learns keep-rules (JSON field names, line classes) for later compressions.

Only patterns are kept, never content, and they are aggregated across tenants. A conversation sees the rule set
that was current at its first request, frozen, so its compressions stay deterministic.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping

from headroom.pipeline.detect import detect_kind, split_preamble
from headroom.pipeline.relevance import terms
from headroom.pipeline.types import ContentKind
from headroom.providers.base import Block, JSONObject, Provider
from headroom.store.interfaces import Stores, ToinPattern

RULES_FLAG = "toin_rules"
PATTERN_KEY_PREFIX = "toin:"
MIN_FIELD_RETRIEVALS = 2
# Line classes a retrieval query may ask for; the class name is stored, never the query.
LINE_CLASSES: dict[str, str] = {
    "error": r"(?i)\b(error|exception|traceback|fatal|panic)\b",
    "warning": r"(?i)\bwarn(ing)?\b",
    "failure": r"(?i)\b(fail(ed|ure)?|assert)\b",
    "status": r"(?i)\bstatus\b",
}
_JSON_KEY = re.compile(r'"([A-Za-z_][\w.-]{0,63})"\s*:')


def shape_signature(text: str) -> str:
    """A coarse shape: the content kind, plus a hash of the JSON key set or a log2 bucket of the line count."""
    _, body = split_preamble(text)
    kind = detect_kind(body)
    if kind is ContentKind.JSON:
        keys = sorted(set(_JSON_KEY.findall(body[:20_000])))[:32]
        digest = hashlib.sha256("\x1f".join(keys).encode()).hexdigest()[:8]
        return f"{kind.value}:{digest}"
    lines = body.count("\n") + 1
    return f"{kind.value}:l{lines.bit_length()}"


def pattern_of(tool_name: str, text: str) -> str:
    return f"{tool_name or '-'}|{shape_signature(text)}"


def keep_rules(pattern: ToinPattern) -> tuple[str, ...]:
    """Regexes for the fields and line classes retrieved at least MIN_FIELD_RETRIEVALS times, sorted."""
    rules: list[str] = []
    for name, count in sorted(pattern.fields.items()):
        if count < MIN_FIELD_RETRIEVALS:
            continue
        if name.startswith("line:"):
            regex = LINE_CLASSES.get(name[5:])
            if regex:
                rules.append(regex)
        elif name.startswith("field:"):
            rules.append(f'"{re.escape(name[6:])}"\\s*:')
    return tuple(rules)


def _asked_fields(original: str, query: str) -> tuple[str, ...]:
    """What a retrieval query asked for, as structure only: JSON keys of the original that the query names,
    and the line classes it matches."""
    wanted = set(terms(query))
    keys = {key for key in _JSON_KEY.findall(original[:200_000]) if key.lower() in wanted}
    classes = {name for name, regex in LINE_CLASSES.items() if re.search(regex, query)}
    return tuple(sorted({f"field:{k}" for k in keys} | {f"line:{c}" for c in classes}))


class Toin:
    """The learning loop over the TOIN store; CCR blobs remember which pattern each compressed original had."""

    def __init__(self, stores: Stores, ttl_seconds: int) -> None:
        self._stores = stores
        self._ttl = ttl_seconds

    def observe_compressions(self, tenant: str, compressed: Mapping[str, Block]) -> None:
        """Count one compression per CCR hash (hash -> the original block) and remember its pattern."""
        expires = time.time() + self._ttl
        for ccr_hash, block in compressed.items():
            pattern = pattern_of(block.tool_name, block.text)
            self._stores.toin.record(pattern, compressions=1)
            self._stores.blobs.put_blob(tenant, PATTERN_KEY_PREFIX + ccr_hash, pattern.encode(), expires)

    def observe_retrieval(self, tenant: str, ccr_hash: str, query: str, original: str | None) -> None:
        """Count a retrieval of the pattern behind `ccr_hash` (if known), with the fields the query asked for."""
        raw = self._stores.blobs.get_blob(tenant, PATTERN_KEY_PREFIX + ccr_hash, time.time())
        if raw is None:
            return
        fields = _asked_fields(original, query) if original and query.strip() else ()
        self._stores.toin.record(raw.decode(), retrievals=1, fields=fields)

    def current_rules(self) -> dict[str, list[str]]:
        """Keep-rules per tool name, over every pattern of that tool."""
        by_tool: dict[str, set[str]] = {}
        for pattern in self._stores.toin.all():
            rules = keep_rules(pattern)
            if rules:
                by_tool.setdefault(pattern.pattern.split("|", 1)[0], set()).update(rules)
        return {tool: sorted(rules) for tool, rules in sorted(by_tool.items())}

    def rules_for(self, conversation: str) -> dict[str, tuple[str, ...]]:
        """The rule set this conversation saw first (frozen in its memory), per tool name."""
        now = time.time()
        conversations = self._stores.conversations
        raw = conversations.get_flag(conversation, RULES_FLAG, now)
        if raw is None:
            raw = json.dumps(self.current_rules(), sort_keys=True)
            conversations.set_flag(conversation, RULES_FLAG, raw, now + self._ttl)
        return {tool: tuple(rules) for tool, rules in json.loads(raw).items()}

    def learned_importance(self, provider: Provider, body: JSONObject) -> dict[int, float]:
        """Per message index, the retrieval rate of its tool outputs' patterns (how often the model needed
        such output back after it was compressed)."""
        known = {p.pattern: p for p in self._stores.toin.all() if p.retrievals}
        if not known:
            return {}
        out: dict[int, float] = {}
        for block in provider.blocks(body):
            found = known.get(pattern_of(block.tool_name, block.text))
            if found is not None:
                rate = found.retrievals / max(1, found.compressions)
                out[block.message_index] = max(out.get(block.message_index, 0.0), min(1.0, rate))
        return out

    def stats(self) -> JSONObject:
        patterns = self._stores.toin.all()
        return {
            "patterns": len(patterns),
            "compressions": sum(p.compressions for p in patterns),
            "retrievals": sum(p.retrievals for p in patterns),
            "rules": self.current_rules(),
            "top": [
                {"pattern": p.pattern, "compressions": p.compressions, "retrievals": p.retrievals, "fields": p.fields}
                for p in sorted(patterns, key=lambda p: (-p.retrievals, -p.compressions, p.pattern))[:50]
            ],
        }
