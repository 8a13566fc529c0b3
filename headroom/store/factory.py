"""Chooses the state backend named by `settings.store`: SQLite under the workspace (default), AWS, or memory.
Each backend is imported only when chosen (boto3 and sqlite3 are not free to import)."""

from __future__ import annotations

from headroom.config import Settings
from headroom.store.interfaces import Stores


def build_stores(settings: Settings) -> Stores:
    """The stores `settings` asks for; the caller closes them at shutdown."""
    if settings.store == "memory":
        from headroom.store.memory import memory_stores

        return memory_stores()
    if settings.store == "aws":
        from headroom.store.aws import aws_stores  # boto3 is the optional `aws` extra

        return aws_stores(settings)
    from headroom.store.sqlite import sqlite_stores

    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    return sqlite_stores(settings.state_db_path)
