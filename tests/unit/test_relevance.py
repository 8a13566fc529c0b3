"""BM25 relevance shared by the compressors: what counts as an occurrence of a query term in a unit."""

from __future__ import annotations

import math

from headroom.pipeline.relevance import bm25_scores


def _bm25(tf: int, df: int, n: int, length: int, avg_len: float) -> float:
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / avg_len))


def test_whole_words_and_camel_case_parts_count_per_unit() -> None:
    units = ["KubePodCrashLooping fired", "crash, crash!", "crashes crashed", "crash-loop backoff"]
    plain = bm25_scores(units, "crash")
    camel = bm25_scores(units, "crash", split_camel=True)
    lengths = [max(1, len(unit) // 6) for unit in units]
    avg = sum(lengths) / len(lengths)
    assert plain == [0.0, _bm25(2, 2, 4, lengths[1], avg), 0.0, _bm25(1, 2, 4, lengths[3], avg)]
    assert camel == [
        _bm25(1, 3, 4, lengths[0], avg),
        _bm25(2, 3, 4, lengths[1], avg),
        0.0,
        _bm25(1, 3, 4, lengths[3], avg),
    ]


def test_a_unit_whose_lower_case_is_longer_scores_like_any_other() -> None:
    """`İ` lower-cases to two characters; positions in the other units must not shift."""
    ascii_units = ["Xstanbul timeout", "db timeout timeout", "nothing", "TimeoutError raised"]
    dotted = ["İstanbul timeout", *ascii_units[1:]]
    assert bm25_scores(dotted, "timeout", split_camel=True) == bm25_scores(ascii_units, "timeout", split_camel=True)
    assert bm25_scores(dotted, "timeout")[1] > bm25_scores(dotted, "timeout")[0] > 0.0
