"""What OpenAI's two APIs share in the fake upstream: error bodies, the model list, text extraction, token counts."""

from __future__ import annotations

from typing import Any

from tests.fakes.replies import Reply, json_reply
from tests.fakes.scenario import Scenario

MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-5", "gpt-5-codex"]
CREATED = 1_715_367_049
_ERRORS = {
    "error_429": (429, "requests", "rate_limit_exceeded", "Rate limit reached for requests"),
    "error_529": (529, "server_error", "overloaded", "The engine is currently overloaded, please try again later"),
    "error_500": (500, "server_error", None, "The server had an error while processing your request"),
}


def text_of(content: Any) -> str:
    """Text of a message content: a string, or a list of parts with a `text` field (input_text, output_text…)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict) and "text" in part)
    return ""


def error_body(message: str, error_type: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def error_reply(scenario: Scenario) -> Reply:
    status, error_type, code, message = _ERRORS[scenario.name]
    headers = [("x-request-id", "req_fake_error")]
    if status == 429:
        headers.append(("retry-after", scenario.retry_after))
    return json_reply(status, error_body(message, error_type, code), headers)


def invalid_request(status: int, message: str) -> Reply:
    return json_reply(status, error_body(message, "invalid_request_error", "not_found" if status == 404 else None))


def models_reply(model_id: str | None = None) -> Reply:
    models = [{"id": mid, "object": "model", "created": CREATED, "owned_by": "openai"} for mid in MODELS]
    if model_id is not None:
        found = [model for model in models if model["id"] == model_id]
        return json_reply(200, found[0]) if found else invalid_request(404, f"The model '{model_id}' does not exist")
    return json_reply(200, {"object": "list", "data": models})
