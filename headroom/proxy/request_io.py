"""Reading a request into an `Incoming`: bounded body read (413 past the limit) and the tenant identity."""

from __future__ import annotations

import falcon.asgi

from headroom.accounting.tenant import api_key_from_headers, tenant_id
from headroom.config import Settings
from headroom.errors import PayloadTooLarge
from headroom.proxy.disconnect import SCOPE_KEY, ClientGone
from headroom.proxy.service import Incoming, Outgoing


async def read_body(req: falcon.asgi.Request, limit: int) -> bytes:
    declared = req.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in req.stream:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def incoming_from(req: falcon.asgi.Request, settings: Settings) -> Incoming:
    body = await read_body(req, settings.max_body_bytes)
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in req.scope.get("headers", [])]
    lowered = {k.lower(): v for k, v in headers}
    disconnected = req.scope.get(SCOPE_KEY)
    return Incoming(
        method=req.method,
        path=req.path,
        query=req.scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
        tenant=tenant_id(api_key_from_headers(lowered), settings.tenant_salt),
        disconnected=disconnected if isinstance(disconnected, ClientGone) else None,
    )


def write_outgoing(resp: falcon.asgi.Response, outgoing: Outgoing) -> None:
    resp.status = outgoing.status
    for key, value in outgoing.headers:
        resp.append_header(key, value)
    resp.stream = outgoing.stream
