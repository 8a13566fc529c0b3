"""Traffic for the state tests: provider requests built as exact bytes (so their budget estimate is known), sent
concurrently with asyncio + httpx, polling with a deadline, and checks of Headroom's 429s in each provider's shape."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from headroom.accounting.cost import estimate_max_cost

T = TypeVar("T")
MODEL = "claude-sonnet-4-6"
CHAT_MODEL = "gpt-4o"
# The fake answers "Say hello number N" with ~27 output tokens; a cap just above keeps the reservation close to
# the actual cost, so a budget enforced per process instead of globally would visibly overshoot.
MAX_TOKENS = 40


@dataclass(frozen=True)
class Call:
    """One provider request, as the bytes the proxy will receive."""

    path: str
    body: bytes
    headers: dict[str, str]
    model: str
    max_tokens: int

    @property
    def estimate_usd(self) -> float:
        """The proxy's reservation for this request: the body's bytes / 4 as input tokens plus the output cap."""
        return estimate_max_cost(self.model, len(self.body) // 4, self.max_tokens)


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def anthropic_call(number: int, api_key: str, *, stream: bool = False, **headers: str) -> Call:
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": f"Say hello number {number}"}],
    }
    if stream:
        body["stream"] = True
    wire_headers = {"x-api-key": api_key, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    return Call("/v1/messages", _encode(body), {**wire_headers, **headers}, MODEL, MAX_TOKENS)


def chat_call(number: int, api_key: str) -> Call:
    body = {
        "model": CHAT_MODEL,
        "max_completion_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": f"Say hello number {number}"}],
    }
    headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
    return Call("/v1/chat/completions", _encode(body), headers, CHAT_MODEL, MAX_TOKENS)


def send(url: str, call: Call) -> httpx.Response:
    return httpx.post(f"{url}{call.path}", content=call.body, headers=call.headers, timeout=30)


async def _send_all(targets: Sequence[tuple[str, Call]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(targets), max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return list(
            await asyncio.gather(
                *(client.post(f"{url}{call.path}", content=call.body, headers=call.headers) for url, call in targets)
            )
        )


def send_concurrently(targets: Sequence[tuple[str, Call]]) -> list[httpx.Response]:
    """Send every (proxy URL, call) at once, each on its own connection; responses in the same order."""
    return asyncio.run(_send_all(targets))


def eventually(probe: Callable[[], T], done: Callable[[T], bool], what: str, timeout: float = 30) -> T:
    """Call `probe` until `done` holds for its result; fail with the last result at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {result!r} after {timeout} s")
        time.sleep(0.05)


def get_json(url: str) -> Any:
    response = httpx.get(url, timeout=30)
    response.raise_for_status()
    return response.json()


def recorded_requests(url: str) -> int:
    """Lifetime requests in the proxy's durable savings history."""
    return int(get_json(f"{url}/stats-history")["lifetime"]["requests"])


def settled_stats(url: str, admitted: int) -> dict[str, Any]:
    """/stats once every admitted request has been recorded (settling the budget comes first, in the same job)."""
    stats: dict[str, Any] = eventually(
        lambda: get_json(f"{url}/stats"),
        lambda s: s["persistent_savings"]["lifetime"]["requests"] == admitted,
        f"{admitted} requests recorded",
    )
    return stats


RPM_10_REFILL_S = 6.0


def refused_unless_refilled(
    response: httpx.Response, drained_at: float, check: Callable[[httpx.Response], None]
) -> int:
    """A request to an `--rpm 10` bucket emptied at `drained_at` must be refused (`check` verifies the 429),
    unless a slow machine let the bucket refill one request first. Returns 1 if it went upstream, else 0."""
    if response.status_code == 200:
        assert time.monotonic() - drained_at >= RPM_10_REFILL_S, "admitted before the bucket could refill"
        return 1
    check(response)
    return 0


def retry_after(response: httpx.Response) -> int:
    value = int(response.headers["retry-after"])
    assert value >= 1
    return value


def assert_anthropic_429(response: httpx.Response, words: str) -> None:
    """Headroom's 429 in Anthropic's error shape, with retry-after, its message naming `words`."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "rate_limit_error"
    assert words in body["error"]["message"]
    retry_after(response)


def assert_openai_429(response: httpx.Response, words: str, error_type: str) -> None:
    """Headroom's 429 in OpenAI's error shape, with retry-after, its message naming `words`."""
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["type"] == error_type
    assert words in error["message"]
    retry_after(response)
