"""The shipped tiktoken encodings count and round-trip text after loading (the Python copy of their ranks is
dropped once the Rust core is built)."""

from __future__ import annotations

import pytest

from headroom.accounting.tokens import count_tokens, encoding


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_an_encoding_counts_and_round_trips_without_its_python_ranks(name: str) -> None:
    loaded = encoding(name)
    text = "def héllo_wörld(x):\n    return x + 1  # <|endoftext|> is ordinary text here\n"
    tokens = loaded.encode(text, disallowed_special=())
    assert loaded.decode(tokens) == text
    assert count_tokens(text, name) == len(tokens) > 10
    assert count_tokens("hello world", name) == 2
    assert loaded._mergeable_ranks == {}
