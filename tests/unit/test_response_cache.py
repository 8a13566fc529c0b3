"""Response cache: the exact key, what is (never) cached, stream reassembly into the canonical form, and SSE
replay that the official anthropic and openai SDKs parse back into the same response."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from headroom.accounting.response_cache import Replay, ResponseCache, ResponseWrite, cache_key, wants_usage_chunk
from headroom.accounting.sse_assembly import assemble
from headroom.accounting.sse_replay import render_sse
from headroom.store.interfaces import Stores
from headroom.store.memory import memory_stores
from headroom.store.sqlite import sqlite_stores

ANTHROPIC_MESSAGE: dict[str, Any] = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "Let me list the files.", "signature": "c2lnbmF0dXJl"},
        {"type": "text", "text": "I'll run ls — ünïcode ok."},
        {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls -la", "n": [1, 2]}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 4000,
        "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 91,
        "service_tier": "standard",
    },
}

CHAT_COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp_1",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Running it.",
                "refusal": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": '{"cmd":"ls"}'}}
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 2000,
        "completion_tokens": 30,
        "total_tokens": 2030,
        "prompt_tokens_details": {"cached_tokens": 1024},
    },
}

RESPONSE_OBJECT: dict[str, Any] = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1_700_000_000,
    "status": "completed",
    "error": None,
    "incomplete_details": None,
    "model": "gpt-5-2025-08-07",
    "output": [
        {
            "id": "rs_1",
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Thinking about ls."}],
            "encrypted_content": "gAAAA-opaque",
        },
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Listing files.", "annotations": []}],
        },
        {
            "id": "fc_1",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_1",
            "name": "shell",
            "arguments": '{"command":["ls"]}',
        },
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": {
        "input_tokens": 900,
        "input_tokens_details": {"cached_tokens": 512},
        "output_tokens": 40,
        "output_tokens_details": {"reasoning_tokens": 16},
        "total_tokens": 940,
    },
}

CANONICAL = {"anthropic": ANTHROPIC_MESSAGE, "openai": CHAT_COMPLETION, "openai_responses": RESPONSE_OBJECT}


def sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "").encode() + f"data: {payload}\n\n".encode()


def anthropic_upstream_stream(error: bool = False, stop: bool = True) -> bytes:
    """A stream shaped like Anthropic's, with split deltas, a ping and cumulative message_delta usage."""
    start = {**ANTHROPIC_MESSAGE, "content": [], "stop_reason": None}
    start["usage"] = {**ANTHROPIC_MESSAGE["usage"], "output_tokens": 1}
    parts = [sse({"type": "message_start", "message": start}, "message_start"), sse({"type": "ping"}, "ping")]

    def block(index: int, opening: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
        parts.append(sse({"type": "content_block_start", "index": index, "content_block": opening}, "x"))
        parts.extend(sse({"type": "content_block_delta", "index": index, "delta": d}, "y") for d in deltas)
        parts.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))

    block(
        0,
        {"type": "thinking", "thinking": "", "signature": ""},
        [
            {"type": "thinking_delta", "thinking": "Let me list "},
            {"type": "thinking_delta", "thinking": "the files."},
            {"type": "signature_delta", "signature": "c2lnbmF0dXJl"},
        ],
    )
    block(
        1, {"type": "text", "text": ""}, [{"type": "text_delta", "text": t} for t in ("I'll run ls", " — ünïcode ok.")]
    )
    if error:
        parts.append(sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error"))
    arguments = '{"command": "ls -la", "n": [1, 2]}'
    block(
        2,
        {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}},
        [{"type": "input_json_delta", "partial_json": p} for p in ("", arguments[:9], arguments[9:])],
    )
    delta_usage = {"output_tokens": 91, "input_tokens": None}
    parts.append(
        sse(
            {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": delta_usage}
        )
    )
    if stop:
        parts.append(sse({"type": "message_stop"}, "message_stop"))
    return b"".join(parts).replace(b"\n", b"\r\n")


def chat_upstream_stream(done: bool = True, error: bool = False) -> bytes:
    head = {k: CHAT_COMPLETION[k] for k in ("id", "created", "model", "system_fingerprint")}
    head.update(object="chat.completion.chunk", obfuscation="abc")

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse({**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    calls = [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "bash", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"cmd"'}},
        {"index": 0, "function": {"arguments": ':"ls"}'}},
    ]
    parts = [
        chunk({"role": "assistant", "content": "", "refusal": None}),
        chunk({"content": "Running"}),
        chunk({"content": " it."}),
        *[chunk({"tool_calls": [call]}) for call in calls],
        chunk({}, "tool_calls"),
        sse({**head, "choices": [], "usage": CHAT_COMPLETION["usage"]}),
    ]
    if error:
        parts.append(sse({"error": {"message": "boom", "type": "server_error"}}))
    if done:
        parts.append(sse("[DONE]"))
    return b"".join(parts)


def responses_upstream_stream(final: str = "response.completed") -> bytes:
    pending = {**RESPONSE_OBJECT, "status": "in_progress", "output": [], "usage": None}
    return b"".join(
        [
            sse({"type": "response.created", "sequence_number": 0, "response": pending}, "response.created"),
            sse({"type": "response.output_text.delta", "sequence_number": 1, "delta": "Listing"}, "x"),
            sse({"type": final, "sequence_number": 2, "response": RESPONSE_OBJECT}, final),
        ]
    )


@pytest.fixture(params=["memory", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    bundle = memory_stores() if request.param == "memory" else sqlite_stores(tmp_path / "state.db")
    try:
        yield bundle
    finally:
        bundle.close()


# --- the key -------------------------------------------------------------------------------------------------


def _anthropic_request(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "List files"}],
        "metadata": {"user_id": "user_abc_session_1"},
    }
    body.update(changes)
    return body


def test_key_ignores_stream_cache_hints_and_user_ids() -> None:
    base = cache_key("anthropic", "/v1/messages", _anthropic_request())
    assert base == cache_key("anthropic", "/v1/messages", _anthropic_request(stream=True))
    assert base == cache_key("anthropic", "/v1/messages", _anthropic_request(metadata={"user_id": "other"}))
    assert base == cache_key("anthropic", "/v1/messages", _anthropic_request(metadata={}))
    no_hint = _anthropic_request(system=[{"type": "text", "text": "Be brief."}])
    assert base == cache_key("anthropic", "/v1/messages", no_hint)
    reordered = dict(reversed(list(_anthropic_request().items())))
    assert base == cache_key("anthropic", "/v1/messages", reordered)
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    chat_key = cache_key("openai", "/v1/chat/completions", chat)
    noisy = {**chat, "stream": True, "stream_options": {"include_usage": True}, "user": "u1", "prompt_cache_key": "k"}
    assert chat_key == cache_key("openai", "/v1/chat/completions", noisy)


def test_key_changes_with_content_provider_and_path() -> None:
    base = cache_key("anthropic", "/v1/messages", _anthropic_request())
    assert base != cache_key("anthropic", "/v1/messages", _anthropic_request(max_tokens=2048))
    assert base != cache_key(
        "anthropic", "/v1/messages", _anthropic_request(messages=[{"role": "user", "content": "x"}])
    )
    assert base != cache_key("anthropic", "/v1/messages", _anthropic_request(metadata={"user_id": "u", "tag": "a"}))
    assert base != cache_key("openai", "/v1/messages", _anthropic_request())
    assert base != cache_key("anthropic", "/v1/other", _anthropic_request())


def test_wants_usage_chunk() -> None:
    assert wants_usage_chunk({"stream_options": {"include_usage": True}})
    assert not wants_usage_chunk({"stream": True})


# --- what is cached ------------------------------------------------------------------------------------------


def test_json_hit_per_tenant_and_counted(stores: Stores) -> None:
    cache = ResponseCache(stores.responses)
    body = json.dumps(ANTHROPIC_MESSAGE).encode()
    assert cache.lookup("alice", "k", "anthropic", stream=False) is None
    assert cache.store_json("alice", "k", 200, body)
    replay = cache.lookup("alice", "k", "anthropic", stream=False)
    assert replay is not None
    assert (replay.status, replay.content_type, replay.chunks) == (200, "application/json", [body])
    assert cache.lookup("bob", "k", "anthropic", stream=False) is None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.stored) == (1, 2, 1)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (429, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
        (200, {"type": "error", "error": {"type": "overloaded_error", "message": "x"}}),
        (200, {**RESPONSE_OBJECT, "status": "incomplete"}),
        (200, {**RESPONSE_OBJECT, "status": "failed", "error": {"code": "server_error", "message": "x"}}),
        (500, ANTHROPIC_MESSAGE),
    ],
)
def test_errors_are_never_cached(stores: Stores, status: int, body: dict[str, Any]) -> None:
    cache = ResponseCache(stores.responses)
    assert not cache.store_json("alice", "k", status, json.dumps(body).encode())
    assert not cache.store_json("alice", "k", 200, b"not json")
    assert cache.lookup("alice", "k", "anthropic", stream=False) is None


@pytest.mark.parametrize(
    ("provider", "stream"),
    [
        ("anthropic", anthropic_upstream_stream(error=True)),
        ("anthropic", anthropic_upstream_stream(stop=False)),
        ("openai", chat_upstream_stream(done=False)),
        ("openai", chat_upstream_stream(error=True)),
        ("openai_responses", responses_upstream_stream("response.failed")),
        ("openai_responses", responses_upstream_stream("response.incomplete")),
    ],
)
def test_streams_with_errors_or_cut_short_are_never_cached(stores: Stores, provider: str, stream: bytes) -> None:
    cache = ResponseCache(stores.responses)
    assert not cache.store_stream("alice", "k", provider, 200, stream)
    assert cache.lookup("alice", "k", provider, stream=True) is None


def test_disabled_cache_neither_stores_nor_hits(stores: Stores) -> None:
    cache = ResponseCache(stores.responses, enabled=False)
    assert not cache.store_json("alice", "k", 200, json.dumps(ANTHROPIC_MESSAGE).encode())
    assert ResponseCache(stores.responses).lookup("alice", "k", "anthropic", stream=False) is None
    assert cache.lookup("alice", "k", "anthropic", stream=False) is None
    assert not cache.stats().enabled


def test_ttl_expires_entries(stores: Stores) -> None:
    now = [time.time()]
    cache = ResponseCache(stores.responses, ttl=60, clock=lambda: now[0])
    cache.store_json("alice", "k", 200, json.dumps(CHAT_COMPLETION).encode())
    now[0] += 59
    assert cache.lookup("alice", "k", "openai", stream=False) is not None
    now[0] += 2
    assert cache.lookup("alice", "k", "openai", stream=False) is None


def test_max_entries_evicts_least_recently_used(stores: Stores) -> None:
    cache = ResponseCache(stores.responses, max_entries=2)
    body = json.dumps(CHAT_COMPLETION).encode()
    for key in ("a", "b"):
        cache.store_json("alice", key, 200, body)
    assert cache.lookup("alice", "a", "openai", stream=False) is not None
    cache.store_json("alice", "c", 200, body)
    assert cache.lookup("alice", "b", "openai", stream=False) is None
    assert cache.lookup("alice", "a", "openai", stream=False) is not None


def test_a_queued_write_answers_lookups_until_it_is_stored(stores: Stores) -> None:
    cache = ResponseCache(stores.responses)
    write = ResponseWrite("alice", "s", "anthropic", streaming=True, status=200, body=anthropic_upstream_stream())
    cache.expect(write)
    queued = cache.lookup("alice", "s", "anthropic", stream=False)
    assert queued is not None and json.loads(queued.chunks[0]) == ANTHROPIC_MESSAGE
    assert cache.lookup("bob", "s", "anthropic", stream=False) is None
    assert cache.store(write)
    stored = cache.lookup("alice", "s", "anthropic", stream=False)
    assert stored is not None and stored.chunks == queued.chunks
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.stored) == (2, 1, 1)


def test_a_queued_write_that_must_not_be_cached_never_answers(stores: Stores) -> None:
    cache = ResponseCache(stores.responses)
    error = json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "x"}}).encode()
    write = ResponseWrite("alice", "k", "anthropic", streaming=False, status=200, body=error)
    cache.expect(write)
    assert cache.lookup("alice", "k", "anthropic", stream=False) is None
    assert not cache.store(write)
    assert cache.lookup("alice", "k", "anthropic", stream=False) is None


def test_a_stored_write_is_no_longer_held(stores: Stores) -> None:
    now = [time.time()]
    cache = ResponseCache(stores.responses, ttl=60, clock=lambda: now[0])
    write = ResponseWrite("alice", "k", "", streaming=False, status=200, body=json.dumps(CHAT_COMPLETION).encode())
    cache.expect(write)
    cache.store(write)
    now[0] += 61
    assert cache.lookup("alice", "k", "openai", stream=False) is None


# --- streams: assembly and replay ----------------------------------------------------------------------------


def test_anthropic_stream_assembles_to_the_final_message() -> None:
    assert assemble("anthropic", anthropic_upstream_stream()) == ANTHROPIC_MESSAGE


def test_chat_stream_assembles_to_the_completion() -> None:
    assert assemble("openai", chat_upstream_stream()) == CHAT_COMPLETION


def test_responses_stream_assembles_to_the_completed_response() -> None:
    assert assemble("openai_responses", responses_upstream_stream()) == RESPONSE_OBJECT


@pytest.mark.parametrize("provider", sorted(CANONICAL))
def test_replay_round_trips(provider: str) -> None:
    events = render_sse(provider, CANONICAL[provider])
    assert all(event.endswith(b"\n\n") for event in events)
    assert assemble(provider, b"".join(events)) == CANONICAL[provider]


def test_anthropic_replay_keeps_citations_and_unknown_blocks() -> None:
    citation = {"type": "char_location", "cited_text": "ls", "document_index": 0, "start_char_index": 0}
    message = {
        **ANTHROPIC_MESSAGE,
        "content": [
            {"type": "text", "text": "plain", "citations": None},
            {"type": "text", "text": "cited", "citations": [citation]},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
        ],
    }
    assert assemble("anthropic", b"".join(render_sse("anthropic", message))) == message


def test_chat_replay_sends_usage_only_when_asked() -> None:
    without = b"".join(render_sse("openai", CHAT_COMPLETION, include_usage=False))
    assert b'"prompt_tokens"' not in without
    assert without.endswith(b"data: [DONE]\n\n")
    assert b'"prompt_tokens"' in b"".join(render_sse("openai", CHAT_COMPLETION, include_usage=True))


def test_streamed_response_served_as_json_and_json_served_as_stream(stores: Stores) -> None:
    cache = ResponseCache(stores.responses)
    assert cache.store_stream("alice", "s", "anthropic", 200, anthropic_upstream_stream())
    as_json = cache.lookup("alice", "s", "anthropic", stream=False)
    assert as_json is not None
    assert json.loads(as_json.chunks[0]) == ANTHROPIC_MESSAGE
    cache.store_json("alice", "j", 200, json.dumps(RESPONSE_OBJECT).encode())
    as_stream = cache.lookup("alice", "j", "openai_responses", stream=True)
    assert as_stream is not None
    assert as_stream.content_type.startswith("text/event-stream")
    assert b"event: response.output_text.delta" in b"".join(as_stream.chunks)


# --- the official SDKs parse the replay ----------------------------------------------------------------------


class ReplayServer:
    """A loopback HTTP server that answers every POST with the SSE events it was given."""

    def __init__(self) -> None:
        self.body = b""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, events: list[bytes]) -> str:
        self.body = b"".join(events)
        return self.url

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def replay_server() -> Iterator[ReplayServer]:
    server = ReplayServer()
    try:
        yield server
    finally:
        server.close()


def test_anthropic_sdk_parses_the_replay(replay_server: ReplayServer) -> None:
    base_url = replay_server.serve(render_sse("anthropic", ANTHROPIC_MESSAGE))
    client = anthropic.Anthropic(api_key="test", base_url=base_url, max_retries=0)
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == ANTHROPIC_MESSAGE["content"][1]["text"]
    assert final.model_dump(exclude_none=True, mode="json")["content"] == ANTHROPIC_MESSAGE["content"]
    assert final.usage.output_tokens == 91
    assert final.usage.cache_read_input_tokens == 4000
    assert final.stop_reason == "tool_use"


def test_openai_chat_sdk_parses_the_replay(replay_server: ReplayServer) -> None:
    base_url = replay_server.serve(render_sse("openai", CHAT_COMPLETION))
    client = openai.OpenAI(api_key="test", base_url=f"{base_url}/v1", max_retries=0)
    with client.chat.completions.stream(model="gpt-4o", messages=[{"role": "user", "content": "x"}]) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Running it."
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.arguments == '{"cmd":"ls"}'
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None and final.usage.prompt_tokens == 2000


def test_openai_responses_sdk_parses_the_replay(replay_server: ReplayServer) -> None:
    base_url = replay_server.serve(render_sse("openai_responses", RESPONSE_OBJECT))
    client = openai.OpenAI(api_key="test", base_url=f"{base_url}/v1", max_retries=0)
    deltas: list[str] = []
    with client.responses.stream(model="gpt-5", input="x") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert "".join(deltas) == "Listing files."
    assert final.output_text == "Listing files."
    dumped = final.model_dump(mode="json", exclude_none=True)
    assert dumped["output"][0]["encrypted_content"] == "gAAAA-opaque"
    assert dumped["output"][2]["arguments"] == '{"command":["ls"]}'


def test_an_inline_lookup_only_reads_and_defers_the_use(tmp_path: Path) -> None:
    with closing(sqlite_stores(tmp_path / "state.db")) as stores:
        cache = ResponseCache(stores.responses, max_entries=2)
        assert cache.reads_inline and not ResponseCache(memory_stores().responses).reads_inline
        body = json.dumps(CHAT_COMPLETION).encode()
        for key in ("a", "b"):
            cache.store_json("alice", key, 200, body)
        deferred: list[tuple[Any, ...]] = []
        assert cache.lookup("alice", "a", "openai", stream=False, defer=lambda *work: deferred.append(work)) is not None
        assert cache.lookup("alice", "zz", "openai", stream=False, defer=lambda *work: deferred.append(work)) is None
        assert len(deferred) == 1, "a hit defers its use, a miss defers nothing"
        cache.store_json("alice", "c", 200, body)  # the use not yet made: "a" is the oldest
        assert cache.lookup("alice", "a", "openai", stream=False) is None
        assert cache.lookup("alice", "b", "openai", stream=False) is not None
        work, *args = deferred[0]
        work(*args)  # "a" is gone: touching it is a no-op
        cache.store_json("alice", "d", 200, body)
        assert [cache.lookup("alice", k, "openai", stream=False) is not None for k in "bcd"] == [True, False, True]


def test_a_write_in_an_open_batch_answers_lookups_until_its_commit(tmp_path: Path) -> None:
    with closing(sqlite_stores(tmp_path / "state.db")) as stores:
        assert stores.group is not None
        cache = ResponseCache(stores.responses)
        write = ResponseWrite("alice", "k", "", streaming=False, status=200, body=json.dumps(CHAT_COMPLETION).encode())

        def lookup_from_another_connection() -> Replay | None:
            found: list[Replay | None] = []
            reader = threading.Thread(
                target=lambda: found.append(cache.lookup("alice", "k", "openai", stream=False, defer=lambda *w: None))
            )
            reader.start()
            reader.join()
            return found[0]

        cache.expect(write)
        committed: list[tuple[Any, ...]] = []
        with stores.group():
            assert cache.store(write, lambda *done: committed.append(done))
            assert lookup_from_another_connection() is not None, "not committed yet: answered from the queued write"
        assert len(committed) == 1
        done, *args = committed[0]
        done(*args)
        assert cache._expected == {}
        assert lookup_from_another_connection() is not None
