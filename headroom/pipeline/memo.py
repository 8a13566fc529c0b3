"""A small thread-safe LRU for per-process memoization of compression results and token counts, bounded in entries
and, for entries whose size follows the content (texts, line sets), in bytes."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


def text_bytes(text: str) -> int:
    """Memory of a str (O(1): its size follows its length and widest character)."""
    return sys.getsizeof(text)


def lines_bytes(lines: AbstractSet[str]) -> int:
    """Memory of a set of strings: its hash table and each string."""
    return sys.getsizeof(lines) + sum(map(sys.getsizeof, lines))


class LruCache(Generic[K, V]):
    """The most recently used entries: at most `max_entries` and, when `weigh` is given, at most `max_bytes` of
    weigh(value) in all (a value heavier than that on its own is not kept). Counting entries alone let a cache of
    compressed forms or line sets hold hundreds of MB once a session's blocks were large."""

    def __init__(self, max_entries: int, max_bytes: int = 0, weigh: Callable[[V], int] | None = None) -> None:
        self._max = max_entries
        self._max_bytes = max_bytes
        self._weigh = weigh
        self._bytes = 0
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            self._data.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V) -> None:
        size = 0 if self._weigh is None else self._weigh(value)
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if self._weigh is not None and size > self._max_bytes:
                return
            self._data[key] = (value, size)
            self._bytes += size
            while len(self._data) > self._max or (self._weigh is not None and self._bytes > self._max_bytes):
                self._bytes -= self._data.popitem(last=False)[1][1]

    @property
    def bytes(self) -> int:
        """The approximate bytes held (0 without `weigh`)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)
