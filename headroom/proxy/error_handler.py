"""The one place Headroom errors become HTTP responses, in the error shape of the provider the path belongs to."""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any

import falcon
import falcon.asgi

from headroom.errors import HeadroomError, InvalidRequest, RateLimited

if TYPE_CHECKING:
    from headroom.providers.base import JSONObject

log = logging.getLogger("headroom.errors")
MAX_RETRY_AFTER = 86_400.0


def error_body_for_path(path: str, error: HeadroomError) -> JSONObject:
    """Anthropic's shape on Anthropic paths (and Headroom's own), OpenAI's on OpenAI paths. The providers are
    imported at the first error, not with the app (a Lambda cold start needs neither)."""
    from headroom.providers.anthropic import AnthropicProvider
    from headroom.providers.openai_chat import openai_error_body

    if path.startswith(("/v1/chat", "/v1/responses", "/v1/completions", "/v1/embeddings", "/openai")):
        return openai_error_body(error)
    return AnthropicProvider().error_body(error)


def write_error(resp: falcon.asgi.Response, path: str, error: HeadroomError) -> None:
    resp.status = error.status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = json.dumps(error_body_for_path(path, error)).encode()
    if isinstance(error, RateLimited):
        resp.set_header("retry-after", str(max(1, math.ceil(min(error.retry_after, MAX_RETRY_AFTER)))))


async def handle_headroom_error(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, error: HeadroomError, params: dict[str, Any]
) -> None:
    write_error(resp, req.path, error)


async def handle_falcon_error(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, error: falcon.HTTPError, params: dict[str, Any]
) -> None:
    """Falcon's own 4xx (unknown route method, bad header) in the provider's shape."""
    wrapped = HeadroomError(str(error.title or "error") + (f": {error.description}" if error.description else ""))
    wrapped.status = error.status_code
    wrapped.anthropic_type = InvalidRequest.anthropic_type if error.status_code < 500 else "api_error"
    wrapped.openai_type = InvalidRequest.openai_type if error.status_code < 500 else "server_error"
    write_error(resp, req.path, wrapped)


async def handle_unexpected(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, error: Exception, params: dict[str, Any]
) -> None:
    """Anything else: logged with its type (never the request body or keys), answered without a stack trace."""
    log.error("unhandled error on %s %s: %s", req.method, req.path, type(error).__name__, exc_info=error)
    write_error(resp, req.path, HeadroomError("internal proxy error"))


def register(app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response]) -> None:
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(falcon.HTTPError, handle_falcon_error)
    app.add_error_handler(HeadroomError, handle_headroom_error)
