"""Runs the retrieval rounds: when the model calls `headroom_retrieve`, the proxy answers from CCR and calls
upstream again (at most `max_retrieval_rounds`), so the client only ever sees the final answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import httpx

from headroom.ccr.anthropic_stream import AnthropicRetrievalSplicer
from headroom.ccr.chat_stream import ChatRetrievalSplicer
from headroom.ccr.followup import FORMATS, RetrievalCall
from headroom.ccr.responses_stream import ResponsesRetrievalSplicer
from headroom.ccr.retrieval import lookup_original, retrieval_answer
from headroom.providers.base import JSONObject, Provider
from headroom.proxy.upstream import Upstreams
from headroom.store.interfaces import BlobStore


def _dumps(body: JSONObject) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


RetrievalObserver = Callable[[str, str, str, str | None], None]
"""Told of each answered retrieval: (tenant, hash, query, the original or None); TOIN learns from it."""


class RetrievalRounds:
    """One request's retrieval loop: the provider, the original upstream request line, the tenant."""

    def __init__(
        self,
        upstreams: Upstreams,
        blobs: BlobStore,
        provider: Provider,
        request: tuple[str, str, str, list[tuple[str, str]]],
        tenant: str,
        max_rounds: int,
        on_retrieval: RetrievalObserver | None = None,
    ) -> None:
        self._upstreams = upstreams
        self._blobs = blobs
        self._provider = provider
        self._method, self._path, self._query, self._headers = request
        self._tenant = tenant
        self._max_rounds = max_rounds
        self._on_retrieval = on_retrieval
        self.retrievals = 0

    async def answer(self, call: RetrievalCall) -> str:
        return await asyncio.to_thread(self._answer_now, call)

    def _answer_now(self, call: RetrievalCall) -> str:
        if self._on_retrieval is not None:
            original = lookup_original(self._blobs, self._tenant, call.ccr_hash)
            self._on_retrieval(self._tenant, call.ccr_hash, call.query, original)
        return retrieval_answer(self._blobs, self._tenant, call.ccr_hash, call.query)

    async def open(self, body: JSONObject) -> httpx.Response:
        return await self._upstreams.open(
            self._provider.upstream, self._method, self._path, self._query, self._headers, _dumps(body)
        )

    def anthropic_stream(self, body: JSONObject, first: httpx.Response) -> AsyncIterator[bytes]:
        splicer = AnthropicRetrievalSplicer(body, self.open, self.answer, self._max_rounds)
        return splicer.stream(first)

    def chat_stream(self, body: JSONObject, first: httpx.Response) -> AsyncIterator[bytes]:
        splicer = ChatRetrievalSplicer(body, self.open, self.answer, self._max_rounds)
        return splicer.stream(first)

    def responses_stream(self, body: JSONObject, first: httpx.Response) -> AsyncIterator[bytes]:
        splicer = ResponsesRetrievalSplicer(body, self.open, self.answer, self._max_rounds)
        return splicer.stream(first)

    async def json_rounds(self, body: JSONObject, first: httpx.Response) -> AsyncIterator[bytes]:
        """Non-streaming: read each round's JSON, answer retrieval calls, yield the final (merged) JSON once."""
        fmt = FORMATS[self._provider.name]
        try:
            raw = await first.aread()
        finally:
            await first.aclose()
        try:
            parsed = json.loads(raw)
        except ValueError:
            yield raw
            return
        rounds = 0
        while isinstance(parsed, dict) and fmt.calls(parsed):
            if fmt.has_client_tools(parsed) or rounds >= self._max_rounds:
                parsed = fmt.strip(parsed)
                break
            calls = fmt.calls(parsed)
            answers = {call.call_id: await self.answer(call) for call in calls}
            self.retrievals += len(calls)
            body = fmt.followup(body, parsed, answers)
            response = await self.open(body)
            try:
                follow_raw = await response.aread()
            finally:
                await response.aclose()
            if response.status_code != 200:
                parsed = fmt.strip(parsed)
                break
            parsed = fmt.merge(json.loads(follow_raw), parsed)
            rounds += 1
        yield _dumps(parsed)
