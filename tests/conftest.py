"""Shared fixtures: the fake upstream (one per session), a factory for proxy subprocesses, a moto server (one per
session, for the unit store contract and the integration tests alike), the shared corpus."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.processes import FakeUpstream, ProxyProcess

_FAILED = pytest.StashKey[bool]()

DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember whether a test failed, so proxy fixtures can print the proxy's output at teardown."""
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    try:
        yield upstream
    finally:
        upstream.close()


@pytest.fixture
def start_proxy(
    request: pytest.FixtureRequest, fake_upstream: FakeUpstream, tmp_path: Path
) -> Iterator[Callable[..., ProxyProcess]]:
    """`start_proxy(*args, env=None)` starts `headroom proxy` against the fake upstream, with its workspace in
    tmp_path and telemetry off; every proxy started is stopped at teardown, its output printed if the test failed."""
    started: list[ProxyProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ProxyProcess:
        workspace = tmp_path / f"workspace-{len(started)}"
        workspace.mkdir()
        proxy = ProxyProcess(fake_upstream.url, workspace, args, env)
        started.append(proxy)
        return proxy

    yield start
    failed = request.node.stash.get(_FAILED, False)
    for proxy in started:
        output = proxy.output()
        proxy.stop()
        if failed:
            print(f"--- headroom proxy output ({proxy.url}) ---\n{output}")


class AtomicRequests:
    """moto applies a request without locks, so concurrent ADDs lose updates and transactions crash; DynamoDB
    applies each request atomically. One lock around each request restores that (clients stay concurrent)."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on 127.0.0.1 (DynamoDB, S3, Secrets Manager over HTTP), with dummy credentials only while
    it runs."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    with pytest.MonkeyPatch.context() as patch:
        for name, value in DUMMY_AWS_ENV.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            patch.delenv(name, raising=False)
        patch.setattr(logging.getLogger("werkzeug"), "level", logging.WARNING)
        app = AtomicRequests(DomainDispatcherApplication(create_backend_app))
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
        serving = threading.Thread(target=server.serve_forever, daemon=True)
        serving.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            serving.join()
            server.server_close()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture(autouse=True)
def sdk_clients_closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every official SDK client a test makes is closed when the test ends, so its pooled sockets are closed
    rather than finalized by whichever later test happens to run the garbage collector."""
    import anthropic
    import openai

    made: list[Any] = []
    for sdk_class in (anthropic.Anthropic, openai.OpenAI):
        original_init = sdk_class.__init__

        def recording_init(self: Any, *args: Any, _init: Any = original_init, **kwargs: Any) -> None:
            _init(self, *args, **kwargs)
            made.append(self)

        monkeypatch.setattr(sdk_class, "__init__", recording_init)
    yield
    for client in made:
        client.close()
