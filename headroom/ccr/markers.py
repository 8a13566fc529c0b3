"""The CCR marker left in compressed text, and the `headroom_retrieve` tool definitions per provider format."""

from __future__ import annotations

import hashlib
import re

from headroom.providers.base import JSONObject

RETRIEVE_TOOL = "headroom_retrieve"
_MARKER = re.compile(r"headroom_retrieve hash=([0-9a-f]{16})")
_DESCRIPTION = (
    "Retrieve the original, uncompressed content that Headroom replaced with a compressed form. Call it with "
    "the hash from a '[headroom: ...]' marker when the omitted details are needed; pass `query` to get only "
    "the matching lines or items."
)
_SCHEMA: JSONObject = {
    "type": "object",
    "properties": {
        "hash": {"type": "string", "description": "The hash from the marker."},
        "query": {"type": "string", "description": "Optional: keep only lines or items matching this."},
    },
    "required": ["hash"],
}


def content_hash(text: str) -> str:
    """The CCR key of an original: 16 hex chars of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def marker(ccr_hash: str, kind: str, tokens_before: int, tokens_after: int) -> str:
    return (
        f"\n[headroom: {kind} compressed {tokens_before}->{tokens_after} tokens; "
        f"full original: call {RETRIEVE_TOOL} hash={ccr_hash}]"
    )


def hashes_in(text: str) -> list[str]:
    return _MARKER.findall(text)


def tool_definition(provider: str) -> JSONObject:
    """The retrieval tool in the request format of `provider` (anthropic, openai, openai_responses)."""
    if provider == "anthropic":
        return {"name": RETRIEVE_TOOL, "description": _DESCRIPTION, "input_schema": _SCHEMA}
    if provider == "openai":
        return {
            "type": "function",
            "function": {"name": RETRIEVE_TOOL, "description": _DESCRIPTION, "parameters": _SCHEMA},
        }
    return {"type": "function", "name": RETRIEVE_TOOL, "description": _DESCRIPTION, "parameters": _SCHEMA}


def has_tool(tools: list[object]) -> bool:
    for tool in tools:
        if isinstance(tool, dict):
            function = tool.get("function")
            name = function.get("name") if isinstance(function, dict) else tool.get("name")
            if name == RETRIEVE_TOOL:
                return True
    return False


def ensure_tool(provider: str, body: JSONObject) -> bool:
    """Append the retrieval tool to the request's tools (at the end, so the existing prefix is kept); True if added."""
    tools = body.get("tools")
    if tools is None:
        tools = body["tools"] = []
    if not isinstance(tools, list) or has_tool(tools):
        return False
    tools.append(tool_definition(provider))
    return True
