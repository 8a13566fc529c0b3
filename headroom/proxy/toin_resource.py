"""`GET /v1/toin/stats`: what TOIN has learned, as aggregated patterns (never content)."""

from __future__ import annotations

import asyncio

import falcon
import falcon.asgi

from headroom.learning.toin import Toin


class ToinStatsResource:
    def __init__(self, toin: Toin) -> None:
        self._toin = toin

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = await asyncio.to_thread(self._toin.stats)
        resp.status = falcon.HTTP_200
