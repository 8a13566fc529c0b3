"""Repeated outputs through the request optimizer: a repeat in the newest turn becomes a reference whose original
is in CCR, a near repeat keeps only its changed lines, every later turn re-sends those forms byte-identically, a
repeat already sent in full is never folded afterwards, and small or mostly new blocks are left alone; for every
provider format."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from headroom.ccr import markers
from headroom.ccr.retrieval import lookup_original
from headroom.config import Settings
from headroom.context.optimizer import RequestOptimizer
from headroom.context.repeats import TRANSFORM, collapse_repeated_runs
from headroom.pipeline.pipeline import OptimizeResult, Pipeline
from headroom.providers.anthropic import AnthropicProvider
from headroom.providers.base import JSONObject, Provider
from headroom.providers.openai_chat import OpenAIChatProvider
from headroom.providers.openai_responses import OpenAIResponsesProvider
from headroom.store.interfaces import Stores
from headroom.store.memory import memory_stores

TENANT = "tenant-a"
LISTING = "\n".join(f"src/module_{i:03d}.py    {i * 37 % 997:5d} lines    owner team-{i % 7}" for i in range(60))
Build = Callable[[list[str]], JSONObject]


def anthropic_body(outputs: list[str]) -> JSONObject:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Which modules are the largest?"}]
    for step, output in enumerate(outputs):
        call = {"type": "tool_use", "id": f"call_{step}", "name": "Bash", "input": {"cmd": "ls -l src"}}
        messages.append({"role": "assistant", "content": [call]})
        messages.append(
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"call_{step}", "content": output}]}
        )
    return {"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "You are a code agent.", "messages": messages}


def chat_body(outputs: list[str]) -> JSONObject:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Which modules are the largest?"}]
    for step, output in enumerate(outputs):
        call = {"id": f"c{step}", "type": "function", "function": {"name": "sh", "arguments": "{}"}}
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"c{step}", "content": output})
    return {"model": "gpt-4o", "messages": messages}


def responses_body(outputs: list[str]) -> JSONObject:
    items: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "input_text", "text": "Which are largest?"}]}]
    for step, output in enumerate(outputs):
        items.append({"type": "function_call", "call_id": f"f{step}", "name": "sh", "arguments": "{}"})
        items.append({"type": "function_call_output", "call_id": f"f{step}", "output": output})
    return {"model": "gpt-5", "input": items}


FORMATS = pytest.mark.parametrize(
    ("provider", "build"),
    [
        (AnthropicProvider(), anthropic_body),
        (OpenAIChatProvider(), chat_body),
        (OpenAIResponsesProvider(), responses_body),
    ],
)


@pytest.fixture
def stores() -> Stores:
    return memory_stores()


@pytest.fixture
def make_optimizer(stores: Stores) -> Iterator[Callable[..., RequestOptimizer]]:
    pipelines: list[Pipeline] = []

    def make(**overrides: Any) -> RequestOptimizer:
        settings = Settings(**overrides)
        pipeline = Pipeline(settings, stores)
        pipelines.append(pipeline)
        return RequestOptimizer(settings, pipeline)

    yield make
    for pipeline in pipelines:
        pipeline.close()


def run(optimizer: RequestOptimizer, provider: Provider, body: JSONObject) -> OptimizeResult:
    return optimizer.run(provider, body, tenant=TENANT, conversation="c1", raw=json.dumps(body).encode())


def texts(provider: Provider, body: JSONObject) -> list[str]:
    return [block.text for block in provider.blocks(body)]


@FORMATS
def test_a_repeat_in_the_newest_turn_becomes_a_reference(
    make_optimizer: Callable[..., RequestOptimizer], stores: Stores, provider: Provider, build: Build
) -> None:
    body = build(["total 3", LISTING, "done", LISTING])
    result = run(make_optimizer(), provider, body)
    *_, first, _, repeat = texts(provider, body)
    [ccr_hash] = markers.hashes_in(repeat)
    assert "identical to an earlier output" in repeat and repeat != first
    assert "identical to an earlier output" not in first
    assert lookup_original(stores.blobs, TENANT, ccr_hash) == LISTING
    assert TRANSFORM in result.transforms and result.has_markers
    assert result.tokens_after < result.tokens_before
    assert markers.has_tool(body["tools"])


@FORMATS
def test_later_turns_resend_the_reference_byte_identically(
    make_optimizer: Callable[..., RequestOptimizer], provider: Provider, build: Build
) -> None:
    optimizer = make_optimizer(mode="cache")
    outputs = ["total 3", LISTING, "done", LISTING]
    sent = []
    for extra in ([], ["ok"], ["ok", LISTING], ["ok", LISTING, edited(LISTING, 5, "src/module_005.py moved")]):
        body = build(outputs + extra)
        run(optimizer, provider, body)
        sent.append(texts(provider, body))
    assert sent[1][: len(sent[0])] == sent[0]
    assert sent[2][: len(sent[1])] == sent[1]
    assert sent[3][: len(sent[2])] == sent[2]
    assert "identical to an earlier output" in sent[2][-1]
    assert "mostly repeats an earlier output" in sent[3][-1]


@FORMATS
def test_a_repeat_sent_in_full_is_never_folded_afterwards(
    make_optimizer: Callable[..., RequestOptimizer], provider: Provider, build: Build
) -> None:
    optimizer = make_optimizer(mode="cache")
    first = build(["total 3", LISTING, LISTING, "done"])
    run(optimizer, provider, first)
    later = build(["total 3", LISTING, LISTING, "done", "ok"])
    run(optimizer, provider, later)
    for body in (first, later):
        assert not any("identical to an earlier output" in text for text in texts(provider, body))


def test_small_repeats_are_left_alone(make_optimizer: Callable[..., RequestOptimizer]) -> None:
    provider = AnthropicProvider()
    body = anthropic_body(["exit code 0", "ok", "exit code 0"])
    before = copy.deepcopy(body)
    result = run(make_optimizer(), provider, body)
    assert texts(provider, body) == texts(provider, before)
    assert TRANSFORM not in result.transforms


def edited(listing: str, line: int, text: str) -> str:
    lines = listing.splitlines()
    lines[line] = text
    return "\n".join(lines)


def test_collapse_keeps_changed_lines_and_numbers_the_repeated_runs() -> None:
    earlier = "\n".join(f"{n}: line {n}" for n in range(1, 21))
    text = "Edit applied.\n" + "\n".join(f"{n}: line {n}" if n != 8 else "8: changed" for n in range(1, 21) if n != 15)
    collapsed = collapse_repeated_runs(earlier, text).splitlines()
    assert collapsed == [
        "Edit applied.",
        "[… lines 2-8 repeat an earlier output]",
        "8: changed",
        "[… lines 10-20 repeat an earlier output]",
    ]


@FORMATS
def test_a_near_repeat_keeps_only_its_changed_lines(
    make_optimizer: Callable[..., RequestOptimizer], stores: Stores, provider: Provider, build: Build
) -> None:
    changed = edited(LISTING, 30, "src/module_030.py    9999 lines    owner team-x")
    body = build(["total 3", LISTING, "done", changed])
    result = run(make_optimizer(), provider, body)
    folded = texts(provider, body)[-1]
    [ccr_hash] = markers.hashes_in(folded)
    assert folded.startswith("[headroom: mostly repeats an earlier output")
    assert "9999 lines" in folded and "module_029" not in folded
    assert lookup_original(stores.blobs, TENANT, ccr_hash) == changed
    assert TRANSFORM in result.transforms


def test_a_block_sharing_few_lines_is_not_folded(make_optimizer: Callable[..., RequestOptimizer]) -> None:
    provider = AnthropicProvider()
    other = "\n".join(f"lib/part_{i:03d}.rs    {i * 11 % 89:5d} lines" for i in range(60))
    mixed = "\n".join(LISTING.splitlines()[:20] + other.splitlines()[:40])
    body = anthropic_body(["total 3", LISTING, "done", mixed])
    result = run(make_optimizer(), provider, body)
    assert TRANSFORM not in result.transforms
    assert "repeat" not in texts(provider, body)[-1]


def test_collapse_finds_moved_runs_and_views_renumbered_by_an_edit() -> None:
    view = [f"{n}:    statement_{n}()" for n in range(100, 120)]
    shifted = [f"{n + 1}:    statement_{n}()" for n in range(105, 120)]
    text = "\n".join(["Edit applied.", *view[10:20], "105:    inserted()", *shifted, *view[:5]])
    assert collapse_repeated_runs("\n".join(view), text).splitlines() == [
        "Edit applied.",
        "[… lines 2-11 repeat an earlier output]",
        "105:    inserted()",
        "[… lines 13-27 repeat an earlier output, renumbered]",
        "[… lines 28-32 repeat an earlier output]",
    ]
