"""Answers a retrieval: the stored original for (tenant, hash), optionally narrowed to what matches a query."""

from __future__ import annotations

import time

from headroom.store.interfaces import BlobStore


def lookup_original(blobs: BlobStore, tenant: str, ccr_hash: str, query: str = "") -> str | None:
    """The original text (or its lines/items matching `query`); None for an unknown, expired or foreign hash."""
    data = blobs.get_blob(tenant, ccr_hash, time.time())
    if data is None:
        return None
    original = data.decode("utf-8", "surrogatepass")
    if not query.strip():
        return original
    from headroom.ccr.query_filter import filter_original

    filtered: str = filter_original(original, query)
    return filtered


def retrieval_answer(blobs: BlobStore, tenant: str, ccr_hash: str, query: str = "") -> str:
    """What the model receives as the retrieval tool's result."""
    found = lookup_original(blobs, tenant, ccr_hash, query)
    if found is None:
        return f"No original is stored for hash {ccr_hash!r} (unknown or expired). Continue without it."
    return found
