"""The memo LRU: bounded in entries and, with a weight, in approximate bytes; the least recently used go first."""

from __future__ import annotations

from headroom.pipeline.memo import LruCache, lines_bytes, text_bytes


def test_entries_beyond_the_count_evict_the_least_recently_used() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2


def test_weighted_entries_beyond_the_bytes_evict_the_least_recently_used() -> None:
    cache: LruCache[str, str] = LruCache(100, max_bytes=3 * text_bytes("x" * 1000), weigh=text_bytes)
    for key in "abc":
        cache.put(key, key * 1000)
    assert cache.get("a") == "a" * 1000
    cache.put("d", "d" * 1500)
    assert [key for key in "abcd" if cache.get(key) is not None] == ["a", "d"]
    assert cache.bytes == text_bytes("a" * 1000) + text_bytes("d" * 1500) <= 3 * text_bytes("x" * 1000)


def test_a_value_heavier_than_the_budget_is_not_kept_and_drops_the_old_value() -> None:
    cache: LruCache[str, frozenset[str]] = LruCache(100, max_bytes=10_000, weigh=lines_bytes)
    small = frozenset({"one line", "another line"})
    cache.put("k", small)
    cache.put("other", small)
    cache.put("k", frozenset(f"line {n}" for n in range(1000)))
    assert cache.get("k") is None
    assert cache.get("other") == small
    assert cache.bytes == lines_bytes(small)


def test_replacing_a_value_counts_only_the_new_one() -> None:
    cache: LruCache[str, str] = LruCache(10, max_bytes=10_000, weigh=text_bytes)
    cache.put("k", "x" * 5000)
    cache.put("k", "y" * 10)
    assert cache.bytes == text_bytes("y" * 10)
    assert len(cache) == 1
