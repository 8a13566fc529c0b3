"""Cache accounting: usage split by cache treatment for every format, and proxy-caused bust detection."""

from __future__ import annotations

import copy
from typing import Any

from headroom.context.cache_accounting import CacheTracker, cache_usage, prefix_print
from headroom.store.memory import memory_stores


def test_anthropic_usage_split_by_ttl() -> None:
    usage = {
        "input_tokens": 10,
        "cache_read_input_tokens": 900,
        "cache_creation_input_tokens": 300,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
    }
    split = cache_usage(usage)
    assert (split.uncached, split.cache_read, split.cache_write_5m, split.cache_write_1h) == (10, 900, 100, 200)
    assert split.total_input == 1210
    assert round(split.hit_rate, 4) == round(900 / 1210, 4)


def test_anthropic_usage_without_ttl_split_is_all_5m() -> None:
    split = cache_usage({"input_tokens": 5, "cache_creation_input_tokens": 40, "cache_read_input_tokens": 0})
    assert (split.cache_write_5m, split.cache_write_1h, split.hit_rate) == (40, 0, 0.0)


def test_openai_cached_tokens_are_reads() -> None:
    chat = cache_usage({"prompt_tokens": 1000, "prompt_tokens_details": {"cached_tokens": 768}})
    responses = cache_usage({"input_tokens": 50, "input_tokens_details": {"cached_tokens": 0}})
    assert (chat.uncached, chat.cache_read) == (232, 768)
    assert (responses.uncached, responses.cache_read) == (50, 0)
    assert cache_usage({}).total_input == 0


def _body(turns: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for turn in range(turns):
        messages.append({"role": "user", "content": [{"type": "text", "text": f"question {turn}"}]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"answer {turn}"}]})
    messages.append(
        {"role": "user", "content": [{"type": "text", "text": "next", "cache_control": {"type": "ephemeral"}}]}
    )
    return {"system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}], "messages": messages}


def test_breakpoint_moves_do_not_count_as_changes() -> None:
    first, second = prefix_print(_body(1)), prefix_print(_body(2))
    assert first.cached_end == len(first.blocks)
    assert second.blocks[: first.cached_end - 1] == first.blocks[: first.cached_end - 1]


def test_tracker_blames_the_proxy_only_when_the_client_kept_its_prefix() -> None:
    tracker = CacheTracker(memory_stores().conversations, 3600)
    first = _body(1)
    assert tracker.observe("c", first, first) is None
    client = _body(1)
    client["messages"][-1]["content"][0].pop("cache_control")
    client["messages"][-1]["content"].append({"type": "text", "text": "more", "cache_control": {"type": "ephemeral"}})
    stable = tracker.observe("c", client, copy.deepcopy(client))
    assert stable is not None and not stable.proxy_caused_bust and stable.client_kept_prefix

    later = copy.deepcopy(client)
    later["messages"].append({"role": "assistant", "content": "ok"})
    sent = copy.deepcopy(later)
    sent["messages"][0]["content"][0]["text"] = "question 0 (rewritten)"
    busted = tracker.observe("c", later, sent)
    assert busted is not None and busted.proxy_caused_bust

    edited = copy.deepcopy(later)
    edited["system"][0]["text"] = "new system"
    client_bust = tracker.observe("c", edited, edited)
    assert client_bust is not None and not client_bust.client_kept_prefix and not client_bust.proxy_caused_bust
