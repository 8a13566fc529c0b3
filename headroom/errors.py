"""One exception hierarchy for everything the proxy itself reports to a client.

    HeadroomError (status 500)
    ├── InvalidRequest (400)
    │   └── PayloadTooLarge (413)
    ├── Unauthorized (401)
    ├── NotFound (404)
    ├── RateLimited (429, retry_after)
    │   └── BudgetExceeded (429)
    ├── CompressionFailed (503; only /v1/compress reports it)
    ├── NotReady (503)
    └── UpstreamError (502)
        ├── UpstreamUnreachable (502)
        └── UpstreamTimeout (504)

`headroom.proxy.error_handler` maps each to the provider's error shape; nothing else writes error bodies.
Upstream HTTP errors are never raised: they are relayed unmodified.
"""

from __future__ import annotations


class HeadroomError(Exception):
    status = 500
    anthropic_type = "api_error"
    openai_type = "server_error"
    openai_code: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(HeadroomError):
    status = 400
    anthropic_type = "invalid_request_error"
    openai_type = "invalid_request_error"


class PayloadTooLarge(InvalidRequest):
    status = 413
    anthropic_type = "request_too_large"
    openai_code = "request_too_large"


class Unauthorized(HeadroomError):
    status = 401
    anthropic_type = "authentication_error"
    openai_type = "invalid_request_error"
    openai_code = "invalid_api_key"


class NotFound(HeadroomError):
    status = 404
    anthropic_type = "not_found_error"
    openai_type = "invalid_request_error"
    openai_code = "not_found"


class RateLimited(HeadroomError):
    status = 429
    anthropic_type = "rate_limit_error"
    openai_type = "rate_limit_exceeded"
    openai_code = "rate_limit_exceeded"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BudgetExceeded(RateLimited):
    openai_type = "insufficient_quota"
    openai_code = "budget_exceeded"


class CompressionFailed(HeadroomError):
    status = 503
    anthropic_type = "overloaded_error"
    openai_code = "compression_failed"


class NotReady(HeadroomError):
    status = 503
    anthropic_type = "overloaded_error"
    openai_code = "not_ready"


class UpstreamError(HeadroomError):
    status = 502
    openai_code = "bad_gateway"


class UpstreamUnreachable(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    status = 504
    anthropic_type = "timeout_error"
    openai_code = "gateway_timeout"
