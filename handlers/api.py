"""The buffered Lambda entry point: Mangum over the same Falcon app as the local proxy, built once per execution
environment so that stores, HTTP clients and the event loop are reused across invocations."""

from __future__ import annotations

import asyncio
from functools import cache
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from headroom.config import Settings
    from headroom.store.interfaces import Stores


class LambdaApp:
    """The app of one execution environment, on its own event loop (pooled connections belong to the loop that
    opened them, so every invocation runs on the same one).

    The app's lifespan runs once here, not around each invocation as Mangum would: startup marks it ready, and
    `close` (tests; Lambda never calls it) runs the app's own shutdown, which closes clients and stores. What
    serves the proxy's routes is built at the first invocation that needs it (`create_app(lazy=True)`)."""

    def __init__(self, settings: Settings, stores: Stores | None = None) -> None:
        from mangum import Mangum
        from mangum.protocols.lifespan import LifespanCycle
        from mangum.types import ASGI

        from headroom.app import create_app

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)  # Mangum runs each invocation on the thread's current loop
        # Falcon's and Mangum's ASGI type hints differ only in Mapping variance.
        app = cast("ASGI", create_app(settings, stores, lazy=True))
        self._lifespan = LifespanCycle(app, "on")
        self._lifespan.__enter__()
        self._adapter = Mangum(app, lifespan="off")

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self._adapter(event, context)

    def close(self) -> None:
        self._lifespan.__exit__(None, None, None)
        asyncio.set_event_loop(None)
        self._loop.close()


@cache
def environment_app() -> LambdaApp:
    """The one app of this execution environment, configured by its environment and deployment secret."""
    from handlers.deployment_secret import with_secret
    from headroom.config import Settings

    return LambdaApp(with_secret(Settings()))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda handler (`handlers.api.handler`) for Function URL payload format 2.0 events."""
    return environment_app()(event, context)
