"""Shared fixtures: the fake upstream (one per session), a factory for proxy subprocesses, the shared corpus."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from tests.fakes.processes import FakeUpstream, ProxyProcess

_FAILED = pytest.StashKey[bool]()


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


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
