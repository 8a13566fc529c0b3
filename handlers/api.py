"""The buffered Lambda entry point: Mangum over the same Falcon app as the local proxy, built once per execution
environment so that stores, HTTP clients and the event loop are reused across invocations."""

from __future__ import annotations

import asyncio
from functools import cache
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from mangum import Mangum

    from headroom.config import Settings
    from headroom.store.interfaces import Stores


def build_handler(settings: Settings, stores: Stores | None = None) -> Mangum:
    """A Mangum adapter over `create_app(settings, stores, lifespan=False)`.

    Lifespan stays off: Mangum would run startup and shutdown around every invocation and close the pooled
    clients each time. The adapter runs each invocation on the calling thread's current event loop."""
    from mangum import Mangum
    from mangum.types import ASGI

    from headroom.app import create_app

    # Falcon's and Mangum's ASGI type hints differ only in Mapping variance.
    app = cast("ASGI", create_app(settings, stores, lifespan=False))
    return Mangum(app, lifespan="off")


@cache
def _environment_handler() -> Mangum:
    """The one adapter of this execution environment, with its own event loop (pooled connections are bound to
    the loop that opened them, so every invocation must run on the same one)."""
    from handlers.deployment_secret import with_secret
    from headroom.config import Settings

    settings = with_secret(Settings())
    asyncio.set_event_loop(asyncio.new_event_loop())
    return build_handler(settings)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda handler (`handlers.api.handler`) for Function URL payload format 2.0 events."""
    return _environment_handler()(event, context)
