"""Store fixtures: a moto server over real HTTP on loopback, and one fresh bundle per backend."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headroom.config import Settings
from headroom.store.interfaces import Stores

DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


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
    """A moto server on 127.0.0.1 (DynamoDB and S3 over HTTP), with dummy credentials only while it runs."""
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


def aws_settings(endpoint: str) -> Settings:
    """Settings naming tables and a bucket no other test uses."""
    suffix = uuid.uuid4().hex[:12]
    return Settings(
        _env_file=None,
        store="aws",
        aws_endpoint_url=endpoint,
        aws_table_prefix=f"hr{suffix}",
        aws_bucket=f"hr-ccr-{suffix}",
        aws_region="us-east-1",
    )


@pytest.fixture(params=["memory", "sqlite", "aws"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_stores(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[OpenStores]:
    """Opens (and reopens) stores over the same state, closing every bundle at the end."""
    opener = OpenStores(backend, tmp_path, request)
    try:
        yield opener
    finally:
        opener.close_all()


@pytest.fixture
def stores(open_stores: OpenStores) -> Stores:
    return open_stores()


class OpenStores:
    """Each call opens a new bundle over the same underlying state (a restart), except for memory."""

    def __init__(self, backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.backend = backend
        self._opened: list[Stores] = []
        self._memory: Stores | None = None
        self.settings: Settings | None = None
        if backend == "sqlite":
            self.settings = Settings(_env_file=None, store="sqlite", workspace_dir=tmp_path / "ws")
        elif backend == "aws":
            from headroom.store.aws import ensure_aws_resources

            self.settings = aws_settings(request.getfixturevalue("moto_endpoint"))
            ensure_aws_resources(self.settings)

    def __call__(self) -> Stores:
        from headroom.store.factory import build_stores
        from headroom.store.memory import memory_stores

        if self.settings is None:
            self._memory = self._memory or memory_stores()
            return self._memory
        opened = build_stores(self.settings)
        self._opened.append(opened)
        return opened

    def close_all(self) -> None:
        for opened in self._opened:
            opened.close()
