"""Store fixtures: one fresh bundle per backend (the aws backend on the session's moto server, tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from headroom.config import Settings
from headroom.store.interfaces import Stores


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
