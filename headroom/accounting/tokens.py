"""Offline token counting with tiktoken: the BPE files ship inside the package and are loaded on first use.

An encoding costs ~55 MB and a few hundred ms to load, so nothing loads it at startup and callers decide what they
can from byte length first (a BPE token is at least one UTF-8 byte: a text of N bytes has at most N tokens)."""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

_PATTERNS = {
    "o200k_base": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
    "cl100k_base": "|".join(
        [
            r"""'(?i:[sdmt]|ll|ve|re)""",
            r"""[^\r\n\p{L}\p{N}]?+\p{L}++""",
            r"""\p{N}{1,3}+""",
            r""" ?[^\s\p{L}\p{N}]++[\r\n]*+""",
            r"""\s++$""",
            r"""\s*[\r\n]""",
            r"""\s+(?!\S)""",
            r"""\s""",
        ]
    ),
}
_SPECIAL = {
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
}
_EXPECTED_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}


_LOADING = threading.Lock()


def encoding(name: str = "o200k_base") -> tiktoken.Encoding:
    """The named encoding, built from the shipped BPE file (never downloaded) when first asked for. Compression
    runs on worker threads: the lock makes concurrent first requests wait for one load instead of each loading."""
    with _LOADING:
        return _load(name)


@functools.cache
def _load(name: str) -> tiktoken.Encoding:
    from importlib import resources

    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    path = resources.files("headroom") / "data" / "tiktoken" / f"{name}.tiktoken"
    ranks = load_tiktoken_bpe(str(path), expected_hash=_EXPECTED_SHA256[name])
    built = tiktoken.Encoding(name=name, pat_str=_PATTERNS[name], mergeable_ranks=ranks, special_tokens=_SPECIAL[name])
    # Its Rust core holds its own copy of the ranks; tiktoken reads this Python one (~24 MB of bytes objects) only
    # to pickle the Encoding, which Headroom never does.
    built._mergeable_ranks = {}
    return built


def encoding_for_model(model: str) -> str:
    """o200k for current OpenAI and Anthropic models (Anthropic's own tokenizer is not public; o200k is
    the closest offline estimate); cl100k for GPT-4/3.5-era models."""
    lowered = model.lower()
    if lowered.startswith(("gpt-4-", "gpt-3.5")) or lowered == "gpt-4":
        return "cl100k_base"
    return "o200k_base"


def count_tokens(text: str, encoding_name: str = "o200k_base") -> int:
    """Tokens in `text`; special-token strings are counted as ordinary text."""
    if not text:
        return 0
    return len(encoding(encoding_name).encode(text, disallowed_special=()))
