"""`build_stores` picks the backend named by the settings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from headroom.config import Settings
from headroom.store.factory import build_stores


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_build_stores_by_setting(backend: str, tmp_path: Path) -> None:
    workspace = tmp_path / "nested" / "ws"
    stores = build_stores(Settings(_env_file=None, store=backend, workspace_dir=workspace))
    try:
        stores.counters.add("k", 2.0, time.time() + 60)
        assert stores.backend == backend
        assert stores.counters.value("k", time.time()) == 2.0
        assert (workspace / "headroom.db").exists() == (backend == "sqlite")
    finally:
        stores.close()


def test_build_stores_aws_uses_named_tables(moto_endpoint: str, tmp_path: Path) -> None:
    from headroom.store.aws import ensure_aws_resources

    settings = Settings(
        _env_file=None, store="aws", aws_endpoint_url=moto_endpoint, aws_table_prefix="factory", aws_bucket="factory"
    )
    ensure_aws_resources(settings)
    ensure_aws_resources(settings)
    stores = build_stores(settings)
    try:
        stores.blobs.put_blob("t", "k", b"x", time.time() + 60)
        assert stores.backend == "aws"
        assert stores.blobs.get_blob("t", "k", time.time()) == b"x"
    finally:
        stores.close()
