"""Chooses the state backend named by `settings.store`: SQLite under the workspace (default), AWS, or memory."""

from __future__ import annotations

from headroom.config import Settings
from headroom.store.interfaces import Stores
from headroom.store.memory import memory_stores
from headroom.store.sqlite import sqlite_stores


def build_stores(settings: Settings) -> Stores:
    """The stores `settings` asks for; the caller closes them at shutdown."""
    if settings.store == "memory":
        return memory_stores()
    if settings.store == "aws":
        from headroom.store.aws import aws_stores  # boto3 is the optional `aws` extra

        return aws_stores(settings)
    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    return sqlite_stores(settings.state_db_path)
