"""Parts of the app built at their first use instead of at startup: `Deferred` builds a value once, and
`OnFirstRequest` is a Falcon resource that stands in for one until a request needs it. On Lambda they let a cold
start answer its first event without importing what that event does not use."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Responder = Callable[..., Coroutine[Any, Any, None]]


class Deferred(Generic[T]):
    """`build()`, run at the first `get()` and then kept for the life of the process. `build` is synchronous and
    called on the event loop's thread, so two requests never both run it; one that raises runs again at the
    next `get()`."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self.value: T | None = None

    def get(self) -> T:
        if self.value is None:
            self.value = self._build()
        return self.value


def forward_to(target: Callable[[], object], name: str) -> Responder:
    """An async responder (or sink) that calls the `name` method of `target()` with the request's arguments."""

    async def responder(req: Any, resp: Any, **params: Any) -> None:
        await getattr(target(), name)(req, resp, **params)

    return responder


class OnFirstRequest:
    """A Falcon resource standing in for `resource()`, which is called only when a request arrives. Falcon maps
    HTTP methods to responders when a route is added, so the real resource's responder names are given here
    (the app's tests check that every route allows the same methods either way)."""

    def __init__(self, resource: Callable[[], object], *responders: str) -> None:
        for name in responders:
            setattr(self, name, forward_to(resource, name))
