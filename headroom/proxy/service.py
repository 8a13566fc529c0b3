"""The request path of the LLM endpoints, as plain async functions the resources call:
parse once → optimize (cache-safe, fail open) → forward → relay the stream → account."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from headroom.accounting.budget import Reservation
from headroom.accounting.response_cache import Replay, ResponseCache, cache_key, wants_usage_chunk
from headroom.ccr.interception import RetrievalRounds
from headroom.config import Settings
from headroom.context.identity import conversation_id
from headroom.context.optimizer import RequestOptimizer
from headroom.errors import HeadroomError
from headroom.pipeline.pipeline import OptimizeResult, Pipeline
from headroom.providers.anthropic import AnthropicProvider
from headroom.providers.base import JSONObject, Provider, parse_json_body
from headroom.proxy.disconnect import ClientGone
from headroom.proxy.guard import RequestGuard
from headroom.proxy.relay import RelayOptions, RelayOutcome, relay
from headroom.proxy.upstream import Upstreams, forward_request_headers, response_headers
from headroom.store.interfaces import BlobStore

log = logging.getLogger("headroom.proxy")
MAX_TAPPED_JSON = 8 * 1024 * 1024


@dataclass(slots=True)
class Incoming:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    tenant: str
    disconnected: ClientGone | None = None
    received_at: float = field(default_factory=time.perf_counter)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


@dataclass(slots=True)
class Outgoing:
    status: int
    headers: list[tuple[str, str]]
    stream: AsyncIterator[bytes]


@dataclass(slots=True)
class Exchange:
    """Everything known about one proxied LLM call once its response has finished, for accounting."""

    provider: Provider
    incoming: Incoming
    model: str
    streaming: bool
    optimized: OptimizeResult
    forwarded_at: float
    outcome: RelayOutcome
    reservation: Reservation | None = None
    cache_key: str | None = None

    def reported_model(self) -> str:
        """The model upstream reported, else the one the client asked for. A passthrough body is parsed for it
        only here, when upstream named no model (an error), never on the request path."""
        if self.outcome.tap.model:
            return self.outcome.tap.model
        if self.model:
            return self.model
        facts = lenient_json(self.incoming.body)
        return str(facts.get("model", "")) if facts else ""


ExchangeSink = Callable[[Exchange], None]
CacheObserver = Callable[[str, str, str, bool], None]  # provider, model, tenant, hit


async def _replay_chunks(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def replayed(replay: Replay) -> Outgoing:
    """A response cache hit, sent without calling upstream."""
    headers = [("content-type", replay.content_type), ("x-headroom-cache", "hit")]
    return Outgoing(replay.status, headers, _replay_chunks(replay.chunks))


def lenient_json(raw: bytes) -> JSONObject | None:
    """The body as JSON when it parses (for accounting in passthrough mode), else None; never raises."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def body_stream(response: httpx.Response) -> AsyncIterable[bytes]:
    """The response's body as its transport gives it (the lean client's `ResponseBody` lets the relay watch the
    client and upstream silence without a task per piece); httpx's `aiter_raw` would only add bookkeeping."""
    stream = response.stream
    if not isinstance(stream, httpx.AsyncByteStream):
        raise TypeError("upstream responses are read asynchronously")
    return stream


def is_bypass(incoming: Incoming, settings: Settings) -> bool:
    return not settings.optimize or (incoming.header("x-headroom-bypass") or "").lower() == "true"


class ProxyService:
    def __init__(
        self,
        settings: Settings,
        upstreams: Upstreams,
        pipeline: Pipeline,
        blobs: BlobStore,
        guard: RequestGuard,
        cache: ResponseCache,
        cache_observer: CacheObserver,
        sink: ExchangeSink,
    ) -> None:
        self._settings = settings
        self._blobs = blobs
        self._guard = guard
        self._cache = cache
        self._observe_cache = cache_observer
        self._upstreams = upstreams
        self._pipeline = pipeline
        self._optimizer = RequestOptimizer(settings, pipeline)
        self._sink = sink

    async def optimize(self, provider: Provider, incoming: Incoming, body: JSONObject) -> OptimizeResult:
        """Compress `body` in place; a pipeline fault leaves the request as it was (fail open)."""
        if not self._optimizer.worth_trying(provider, body, len(incoming.body)):
            return OptimizeResult()
        conversation = conversation_id(incoming.tenant, dict(incoming.headers), provider, body)
        raw = incoming.body
        try:
            return await asyncio.to_thread(
                self._optimizer.run, provider, body, tenant=incoming.tenant, conversation=conversation, raw=raw
            )
        except HeadroomError:
            raise
        except Exception as exc:  # fail open: forward the original bytes and count the failure
            log.warning("optimization failed open: %s", type(exc).__name__)
            return OptimizeResult(failures=1)

    async def forward_llm(self, provider: Provider, incoming: Incoming) -> Outgoing:
        body: JSONObject | None = None
        body_bytes = incoming.body
        optimized = OptimizeResult()
        streaming = False
        key: str | None = None
        if not is_bypass(incoming, self._settings):
            body = provider.validate(parse_json_body(incoming.body))
            streaming = provider.is_stream(body)
            if self._cache.enabled:
                key = cache_key(provider.name, incoming.path, body)
                lookup = functools.partial(
                    self._cache.lookup,
                    incoming.tenant,
                    key,
                    provider.name,
                    stream=streaming,
                    include_usage=wants_usage_chunk(body),
                )
                if self._cache.reads_inline:  # a read that never waits for a writer: no thread hop
                    replay = lookup(defer=self._guard.store_thread.submit)
                else:
                    replay = await self._guard.store_thread.call(lookup)
                self._observe_cache(provider.name, provider.model(body), incoming.tenant, replay is not None)
                if replay is not None:
                    return replayed(replay)
            optimized = await self.optimize(provider, incoming, body)
            if optimized.changed:
                body_bytes = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        facts = body if body is not None or not self._guard.needs_body else lenient_json(incoming.body)
        model = str(facts.get("model", "")) if facts else ""
        reservation = await self._guard.admit(provider.name, incoming.tenant, model, facts, len(body_bytes))
        headers = forward_request_headers(incoming.headers, identity=True)
        forwarded_at = time.perf_counter()
        try:
            response = await self._upstreams.open(
                provider.upstream, incoming.method, incoming.path, incoming.query, headers, body_bytes
            )
        except BaseException:
            await self._guard.release(reservation)
            raise
        streaming = streaming or response.headers.get("content-type", "").startswith("text/event-stream")
        outcome = RelayOutcome(status=response.status_code, started=incoming.received_at)

        def finished(done: RelayOutcome) -> None:
            self._sink(Exchange(provider, incoming, model, streaming, optimized, forwarded_at, done, reservation, key))

        source, close, rewritten = self._response_source(provider, incoming, headers, body, optimized, response)
        options = RelayOptions(
            provider=provider,
            streaming=streaming,
            ping_interval=self._settings.ping_interval if streaming and provider.upstream == "anthropic" else None,
            disconnected=incoming.disconnected,
            keep_body_limit=MAX_TAPPED_JSON,
            keep_stream_copy=key is not None,
            on_done=finished,
            watch_client=streaming,
        )
        out_headers = response_headers(response.headers, keep_length=not rewritten)
        out_headers.append(("x-headroom-tokens-before", str(optimized.tokens_before)))
        out_headers.append(("x-headroom-tokens-after", str(optimized.tokens_after)))
        out_headers.append(("x-headroom-cache-volatile", str(optimized.context.cache_volatile)))
        out_headers.append(("x-headroom-context-dropped", str(optimized.context.dropped_messages)))
        return Outgoing(response.status_code, out_headers, relay(source, close, options, outcome))

    def _response_source(
        self,
        provider: Provider,
        incoming: Incoming,
        headers: list[tuple[str, str]],
        body: JSONObject | None,
        optimized: OptimizeResult,
        response: httpx.Response,
    ) -> tuple[AsyncIterable[bytes], Callable[[], Awaitable[None]], bool]:
        """The bytes to relay: upstream's own, or (when the retrieval tool is in play) the spliced rounds."""
        if body is None or not optimized.retrieval_enabled or response.status_code != 200:
            return body_stream(response), response.aclose, False
        rounds = RetrievalRounds(
            self._upstreams,
            self._blobs,
            provider,
            (incoming.method, incoming.path, incoming.query, headers),
            incoming.tenant,
            self._settings.max_retrieval_rounds,
            on_retrieval=self._optimizer.observe_retrieval,
        )
        is_sse = response.headers.get("content-type", "").startswith("text/event-stream")
        if not is_sse:
            spliced = rounds.json_rounds(body, response)
        elif provider.name == "anthropic":
            spliced = rounds.anthropic_stream(body, response)
        elif provider.name == "openai":
            spliced = rounds.chat_stream(body, response)
        else:
            spliced = rounds.responses_stream(body, response)

        async def close() -> None:
            await response.aclose()
            await spliced.aclose()  # type: ignore[attr-defined]

        return spliced, close, True

    async def forward_raw(self, upstream: str, incoming: Incoming) -> Outgoing:
        """Exact passthrough: the client's bytes to upstream and upstream's bytes back."""
        headers = forward_request_headers(incoming.headers, identity=False)
        body = incoming.body if incoming.body or incoming.method not in ("GET", "HEAD") else None
        response = await self._upstreams.open(upstream, incoming.method, incoming.path, incoming.query, headers, body)
        outcome = RelayOutcome(status=response.status_code, started=incoming.received_at)
        options = RelayOptions(
            provider=AnthropicProvider(),
            streaming=False,
            ping_interval=None,
            disconnected=incoming.disconnected,
            watch_client=response.headers.get("content-type", "").startswith("text/event-stream"),
        )
        stream = relay(body_stream(response), response.aclose, options, outcome)
        return Outgoing(response.status_code, response_headers(response.headers, keep_length=True), stream)
