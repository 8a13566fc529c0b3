"""The fake upstream's prompt-cache simulation follows Anthropic's documented rules."""

from __future__ import annotations

from typing import Any

from tests.fakes.prompt_cache import PromptCache

EPHEMERAL = {"type": "ephemeral"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def request(*user_texts: str, breakpoint_at: int | None = -1, system: str = "system prompt " * 50) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for index, text in enumerate(user_texts):
        block: dict[str, Any] = {"type": "text", "text": text}
        if breakpoint_at is not None and index == breakpoint_at % len(user_texts):
            block["cache_control"] = EPHEMERAL
        messages.append({"role": "user" if index % 2 == 0 else "assistant", "content": [block]})
    tools = [{"name": "Bash", "description": "run a command " * 20, "input_schema": {"type": "object"}}]
    return {"model": "claude-sonnet-4-20250514", "tools": tools, "system": system, "messages": messages}


def test_no_breakpoint_means_no_caching() -> None:
    cache = PromptCache(min_cacheable_tokens=0)
    usage = cache.account(request("hello", breakpoint_at=None))
    assert usage.cache_creation_input_tokens == usage.cache_read_input_tokens == 0
    assert usage.input_tokens > 0


def test_first_request_writes_and_the_repeat_reads_the_whole_prefix() -> None:
    cache = PromptCache(min_cacheable_tokens=0, clock=Clock())
    first = cache.account(request("hello"))
    second = cache.account(request("hello"))
    assert first.cache_read_input_tokens == 0 and first.cache_creation_input_tokens > 0
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0
    assert second.input_tokens == first.input_tokens


def test_a_growing_conversation_reads_the_earlier_breakpoint_and_writes_the_rest() -> None:
    cache = PromptCache(min_cacheable_tokens=0, clock=Clock())
    turn_one = cache.account(request("question one"))
    turn_two = cache.account(request("question one", "answer one", "question two"))
    assert turn_two.cache_read_input_tokens == turn_one.cache_creation_input_tokens
    assert turn_two.cache_creation_input_tokens > 0


def test_a_changed_byte_before_the_breakpoint_misses() -> None:
    cache = PromptCache(min_cacheable_tokens=0, clock=Clock())
    cache.account(request("hello"))
    changed = cache.account(request("hello", system="system prompt " * 49 + "system prompt!"))
    assert changed.cache_read_input_tokens == 0 and changed.cache_creation_input_tokens > 0


def test_content_after_the_last_breakpoint_is_plain_input() -> None:
    cache = PromptCache(min_cacheable_tokens=0, clock=Clock())
    cache.account(request("hello", "reply", "next", breakpoint_at=0))
    again = cache.account(request("hello", "other reply", "other next", breakpoint_at=0))
    assert again.cache_read_input_tokens > 0 and again.cache_creation_input_tokens == 0
    assert again.input_tokens > 0


def test_entries_expire_after_five_minutes_and_reads_refresh_them() -> None:
    clock = Clock()
    cache = PromptCache(min_cacheable_tokens=0, clock=clock)
    cache.account(request("hello"))
    clock.now += 299
    assert cache.account(request("hello")).cache_read_input_tokens > 0
    clock.now += 299
    assert cache.account(request("hello")).cache_read_input_tokens > 0
    clock.now += 301
    assert cache.account(request("hello")).cache_read_input_tokens == 0


def test_one_hour_ttl() -> None:
    clock = Clock()
    cache = PromptCache(min_cacheable_tokens=0, clock=clock)
    body = request("hello")
    body["messages"][0]["content"][0]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
    cache.account(body)
    clock.now += 3000
    assert cache.account(body).cache_read_input_tokens > 0


def test_prefixes_below_the_minimum_are_not_cached() -> None:
    cache = PromptCache(min_cacheable_tokens=100_000, clock=Clock())
    first = cache.account(request("hello"))
    second = cache.account(request("hello"))
    assert first.cache_creation_input_tokens == second.cache_read_input_tokens == 0


def test_moving_the_marker_does_not_change_the_cached_bytes() -> None:
    cache = PromptCache(min_cacheable_tokens=0, clock=Clock())
    first = cache.account(request("hello", "reply", "next", breakpoint_at=0))
    moved = cache.account(request("hello", "reply", "next", breakpoint_at=2))
    assert moved.cache_read_input_tokens == first.cache_creation_input_tokens


def test_the_model_is_part_of_the_key() -> None:
    cache = PromptCache(min_cacheable_tokens=0, clock=Clock())
    cache.account(request("hello"))
    other = request("hello")
    other["model"] = "claude-3-5-haiku-20241022"
    assert cache.account(other).cache_read_input_tokens == 0


def test_totals_add_up() -> None:
    cache = PromptCache(min_cacheable_tokens=0, clock=Clock())
    body = request("hello", "reply", "next", breakpoint_at=0)
    first = cache.account(body)
    second = cache.account(body)
    total_first = first.input_tokens + first.cache_creation_input_tokens + first.cache_read_input_tokens
    total_second = second.input_tokens + second.cache_creation_input_tokens + second.cache_read_input_tokens
    assert total_first == total_second > 0
