"""A fake LLM provider on loopback for Headroom's tests: Anthropic Messages, OpenAI Chat Completions and Responses,
JSON and SSE, with scripted failures (errors, mid-stream errors, TCP resets, slow and silent streams), a queue of
scripted turns, a record of every request and a prompt-cache simulation.

Run it as a subprocess: `python -m tests.fakes.fake_upstream --port 0 --port-file F`. It is raw asyncio (uvloop)
with its own HTTP/1.1 layer (tests/fakes/http1.py), so it controls every byte and can reset a connection at any
point, and it answers a plain JSON request cheaply enough for the throughput benchmark. Control endpoints live
under `/_fake/`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import termios
import time
from dataclasses import dataclass, field
from typing import Any

import httptools
import uvloop

from tests.fakes import anthropic_wire, chat_wire, http1, openai_wire, responses_wire
from tests.fakes.http1 import Received
from tests.fakes.prompt_cache import PromptCache
from tests.fakes.replies import Pause, Reply, Reset, json_reply
from tests.fakes.scenario import IdSource, Scenario, plan_turn

_GENERATION_PATHS = {"/messages", "/chat/completions", "/responses"}


@dataclass
class FakeState:
    """Everything the fake remembers between requests."""

    cache: PromptCache
    requests: list[tuple[Received, float]] = field(default_factory=list)
    queue: list[dict[str, Any]] = field(default_factory=list)

    def record(self, request: Received) -> None:
        self.requests.append((request, time.time()))

    def recorded(self) -> list[dict[str, Any]]:
        return [
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "headers": [list(pair) for pair in request.headers],
                "body": base64.b64encode(request.body).decode(),
                "time": received_at,
            }
            for request, received_at in self.requests
        ]

    def next_scenario(self, request: Received) -> Scenario:
        """The first queued spec whose optional `match` substring occurs in the body, else the headers' scenario."""
        text = request.body.decode("utf-8", "replace") if self.queue else ""
        for index, spec in enumerate(self.queue):
            if spec.get("match") is None or str(spec["match"]) in text:
                return Scenario.from_spec(self.queue.pop(index))
        return Scenario.from_headers(dict(request.headers))


def _is_anthropic(request: Received) -> bool:
    return request.header("anthropic-version") is not None or request.header("x-api-key") is not None


def _control(state: FakeState, request: Received) -> Reply:
    if request.path == "/_fake/requests" and request.method == "GET":
        return json_reply(200, state.recorded())
    if request.path == "/_fake/requests" and request.method == "DELETE":
        state.requests.clear()
        state.queue.clear()
        return json_reply(200, {"cleared": True})
    if request.path == "/_fake/cache" and request.method == "DELETE":
        state.cache.clear()
        return json_reply(200, {"cleared": True})
    if request.path == "/_fake/enqueue" and request.method == "POST":
        try:
            payload = json.loads(request.body)
            specs = payload if isinstance(payload, list) else [payload]
            for spec in specs:
                Scenario.from_spec(spec)
        except (ValueError, TypeError, AttributeError) as error:
            return json_reply(400, {"error": str(error)})
        state.queue.extend(specs)
        return json_reply(200, {"queued": len(state.queue)})
    return json_reply(404, {"error": f"no fake control endpoint {request.method} {request.path}"})


def _generate(state: FakeState, request: Received, path: str) -> Reply:
    anthropic = path == "/messages"
    invalid = anthropic_wire.invalid_request if anthropic else openai_wire.invalid_request
    try:
        body = json.loads(request.body)
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object")
        scenario = state.next_scenario(request)
    except ValueError as error:
        return invalid(400, str(error))
    if scenario.name == "reset_before_headers":
        return Reply(0, parts=[Reset()])
    if scenario.name.startswith("error_") and scenario.name != "error_midstream":
        return anthropic_wire.error_reply(scenario) if anthropic else openai_wire.error_reply(scenario)

    ids = IdSource(request.body)
    if anthropic:
        conversation = anthropic_wire.read_conversation(body)
        turn = plan_turn(scenario, conversation, ids)
        usage = state.cache.account(body)
        message_id = ids.next("msg_")
        if conversation.stream:
            return anthropic_wire.stream(conversation, turn, usage, message_id, scenario)
        return anthropic_wire.message_reply(conversation, turn, usage, message_id)
    if path == "/chat/completions":
        conversation = chat_wire.read_conversation(body)
        turn = plan_turn(scenario, conversation, ids)
        completion_id = ids.next("chatcmpl-")
        if conversation.stream:
            return chat_wire.stream(body, request.body, conversation, turn, completion_id, scenario)
        return chat_wire.completion_reply(request.body, conversation, turn, completion_id)
    conversation = responses_wire.read_conversation(body)
    turn = plan_turn(scenario, conversation, ids)
    response_id = ids.next("resp_")
    if conversation.stream:
        return responses_wire.stream(body, request.body, turn, response_id, scenario)
    return responses_wire.response_reply(body, request.body, turn, response_id)


def route(state: FakeState, request: Received) -> Reply:
    if request.path.startswith("/_fake/"):
        return _control(state, request)
    state.record(request)
    path = request.path.removeprefix("/v1") or "/"
    if path == "/" and request.method in {"GET", "HEAD"}:
        return json_reply(200, {"service": "fake-upstream"})
    if request.method == "GET" and (path == "/models" or path.startswith("/models/")):
        model_id = path.removeprefix("/models").removeprefix("/") or None
        if _is_anthropic(request):
            return anthropic_wire.models_reply(model_id)
        return openai_wire.models_reply(model_id)
    if request.method == "POST" and path == "/messages/count_tokens":
        try:
            return anthropic_wire.count_tokens_reply(json.loads(request.body))
        except ValueError as error:
            return anthropic_wire.invalid_request(400, str(error))
    if request.method == "POST" and path in _GENERATION_PATHS:
        return _generate(state, request, path)
    message = f"fake upstream has no route {request.method} {request.path}"
    return (
        anthropic_wire.invalid_request(404, message)
        if _is_anthropic(request)
        else openai_wire.invalid_request(404, message)
    )


async def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort with a TCP RST once the bytes already written have left the socket."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    deadline = time.monotonic() + 2.0
    outq = struct.pack("i", 0)
    while time.monotonic() < deadline:
        if struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, outq))[0] == 0:
            break
        await asyncio.sleep(0.005)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _send(writer: asyncio.StreamWriter, request: Received, reply: Reply) -> bool:
    """Play a reply (a plain one in one write with a content-length, a streaming one chunk by chunk); False when
    the connection must not be reused."""
    head_only = request.method == "HEAD"
    if not reply.streaming:
        body = b"".join(part for part in reply.parts if isinstance(part, bytes))
        head = http1.response_head(reply.status, [*reply.headers, ("content-length", str(len(body)))])
        writer.write(head if head_only else head + body)
        await writer.drain()
        return request.keep_alive
    writer.write(http1.response_head(reply.status, [*reply.headers, ("transfer-encoding", "chunked")]))
    await writer.drain()
    for part in reply.parts:
        if isinstance(part, Reset):
            await _reset(writer)
            return False
        if isinstance(part, Pause):
            await asyncio.sleep(part.ms / 1000)
        elif not head_only and part:
            writer.write(http1.chunk(part))
            await writer.drain()
    writer.write(http1.LAST_CHUNK)
    await writer.drain()
    return request.keep_alive


async def _serve_connection(state: FakeState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    parser = http1.RequestParser()
    try:
        while data := await reader.read(65536):
            try:
                requests = parser.feed(data)
            except httptools.HttpParserError:
                return
            for request in requests:
                reply = route(state, request)
                if reply.parts and isinstance(reply.parts[0], Reset):
                    await _reset(writer)
                    return
                if not await _send(writer, request, reply):
                    return
    except ConnectionError:
        return
    finally:
        if not writer.transport.is_closing():
            writer.close()


async def serve(host: str, port: int, port_file: str | None, cache_min_tokens: int) -> None:
    state = FakeState(PromptCache(min_cacheable_tokens=cache_min_tokens))
    server = await asyncio.start_server(lambda r, w: _serve_connection(state, r, w), host, port)
    bound = server.sockets[0].getsockname()[1]
    if port_file:
        temporary = f"{port_file}.tmp"
        with open(temporary, "w") as handle:
            handle.write(str(bound))
        os.replace(temporary, port_file)
    print(f"fake upstream listening on http://{host}:{bound}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--cache-min-tokens", type=int, default=1024, help="minimum cacheable prefix, in tokens")
    args = parser.parse_args(argv)
    uvloop.run(serve(args.host, args.port, args.port_file, args.cache_min_tokens))


if __name__ == "__main__":
    main()
