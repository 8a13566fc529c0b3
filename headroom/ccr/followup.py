"""Per provider format: find `headroom_retrieve` calls in a response, build the follow-up request that answers
them, strip them from what the client sees, and sum usage across rounds."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Protocol

from headroom.ccr.markers import RETRIEVE_TOOL
from headroom.providers.base import JSONObject


@dataclass(frozen=True, slots=True)
class RetrievalCall:
    call_id: str
    ccr_hash: str
    query: str


def retrieval_call(call_id: str, arguments: Any) -> RetrievalCall:
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except ValueError:
            arguments = {}
    if not isinstance(arguments, dict):
        arguments = {}
    return RetrievalCall(call_id, str(arguments.get("hash", "")), str(arguments.get("query", "") or ""))


def _sum_usage(first: JSONObject, second: JSONObject) -> JSONObject:
    total = dict(first)
    for key, value in second.items():
        if isinstance(value, int) and not isinstance(value, bool):
            previous = total.get(key)
            total[key] = (previous if isinstance(previous, int) else 0) + value
        elif isinstance(value, dict) and isinstance(total.get(key), dict):
            total[key] = _sum_usage(total[key], value)
        elif key not in total:
            total[key] = value
    return total


class FollowupFormat(Protocol):
    def calls(self, response: JSONObject) -> list[RetrievalCall]: ...

    def has_client_tools(self, response: JSONObject) -> bool: ...

    def followup(self, request: JSONObject, response: JSONObject, answers: dict[str, str]) -> JSONObject: ...

    def strip(self, response: JSONObject) -> JSONObject: ...

    def merge(self, final: JSONObject, earlier: JSONObject) -> JSONObject: ...


class AnthropicFollowup:
    def _blocks(self, response: JSONObject) -> list[Any]:
        content = response.get("content")
        return content if isinstance(content, list) else []

    def calls(self, response: JSONObject) -> list[RetrievalCall]:
        return [
            retrieval_call(str(b.get("id", "")), b.get("input"))
            for b in self._blocks(response)
            if isinstance(b, dict) and b.get("type") == "tool_use" and b.get("name") == RETRIEVE_TOOL
        ]

    def has_client_tools(self, response: JSONObject) -> bool:
        return any(
            isinstance(b, dict) and b.get("type") == "tool_use" and b.get("name") != RETRIEVE_TOOL
            for b in self._blocks(response)
        )

    def followup(self, request: JSONObject, response: JSONObject, answers: dict[str, str]) -> JSONObject:
        body = copy.copy(request)
        results = [{"type": "tool_result", "tool_use_id": cid, "content": text} for cid, text in answers.items()]
        body["messages"] = [
            *request["messages"],
            {"role": "assistant", "content": self._blocks(response)},
            {"role": "user", "content": results},
        ]
        return body

    def strip(self, response: JSONObject) -> JSONObject:
        kept = [
            b
            for b in self._blocks(response)
            if not (isinstance(b, dict) and b.get("type") == "tool_use" and b.get("name") == RETRIEVE_TOOL)
        ]
        return {**response, "content": kept}

    def merge(self, final: JSONObject, earlier: JSONObject) -> JSONObject:
        earlier_text = [b for b in self._blocks(earlier) if isinstance(b, dict) and b.get("type") != "tool_use"]
        return {
            **final,
            "content": [*earlier_text, *self._blocks(final)],
            "usage": _sum_usage(earlier.get("usage") or {}, final.get("usage") or {}),
        }


class OpenAIChatFollowup:
    def _message(self, response: JSONObject) -> JSONObject:
        choices = response.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message")
            if isinstance(message, dict):
                return message
        return {}

    def _tool_calls(self, response: JSONObject) -> list[Any]:
        calls = self._message(response).get("tool_calls")
        return calls if isinstance(calls, list) else []

    @staticmethod
    def _is_retrieval(call: Any) -> bool:
        return isinstance(call, dict) and (call.get("function") or {}).get("name") == RETRIEVE_TOOL

    def calls(self, response: JSONObject) -> list[RetrievalCall]:
        return [
            retrieval_call(str(c.get("id", "")), (c.get("function") or {}).get("arguments"))
            for c in self._tool_calls(response)
            if self._is_retrieval(c)
        ]

    def has_client_tools(self, response: JSONObject) -> bool:
        return any(not self._is_retrieval(c) for c in self._tool_calls(response))

    def followup(self, request: JSONObject, response: JSONObject, answers: dict[str, str]) -> JSONObject:
        body = copy.copy(request)
        tool_messages = [{"role": "tool", "tool_call_id": cid, "content": text} for cid, text in answers.items()]
        body["messages"] = [*request["messages"], self._message(response), *tool_messages]
        return body

    def strip(self, response: JSONObject) -> JSONObject:
        stripped = copy.deepcopy(response)
        message = self._message(stripped)
        kept = [c for c in self._tool_calls(stripped) if not self._is_retrieval(c)]
        if kept:
            message["tool_calls"] = kept
        else:
            message.pop("tool_calls", None)
        return stripped

    def merge(self, final: JSONObject, earlier: JSONObject) -> JSONObject:
        return {**final, "usage": _sum_usage(earlier.get("usage") or {}, final.get("usage") or {})}


class ResponsesFollowup:
    def _output(self, response: JSONObject) -> list[Any]:
        output = response.get("output")
        return output if isinstance(output, list) else []

    @staticmethod
    def _is_retrieval(item: Any) -> bool:
        return isinstance(item, dict) and item.get("type") == "function_call" and item.get("name") == RETRIEVE_TOOL

    def calls(self, response: JSONObject) -> list[RetrievalCall]:
        return [
            retrieval_call(str(i.get("call_id", "")), i.get("arguments"))
            for i in self._output(response)
            if self._is_retrieval(i)
        ]

    def has_client_tools(self, response: JSONObject) -> bool:
        return any(
            isinstance(i, dict) and i.get("type") in ("function_call", "custom_tool_call") and not self._is_retrieval(i)
            for i in self._output(response)
        )

    def followup(self, request: JSONObject, response: JSONObject, answers: dict[str, str]) -> JSONObject:
        body = copy.copy(request)
        prior = request.get("input")
        items = [{"role": "user", "content": prior}] if isinstance(prior, str) else list(prior or [])
        outputs = [{"type": "function_call_output", "call_id": cid, "output": text} for cid, text in answers.items()]
        body["input"] = [*items, *self._output(response), *outputs]
        return body

    def strip(self, response: JSONObject) -> JSONObject:
        return {**response, "output": [i for i in self._output(response) if not self._is_retrieval(i)]}

    def merge(self, final: JSONObject, earlier: JSONObject) -> JSONObject:
        return {**final, "usage": _sum_usage(earlier.get("usage") or {}, final.get("usage") or {})}


FORMATS: dict[str, FollowupFormat] = {
    "anthropic": AnthropicFollowup(),
    "openai": OpenAIChatFollowup(),
    "openai_responses": ResponsesFollowup(),
}
