"""ClientGone, the signal a relay watches for the client's disconnect: set once, callbacks run when it is set (or
at once when added after), and `wait` returns once it is set."""

from __future__ import annotations

import asyncio

from headroom.proxy.disconnect import ClientGone


def test_callbacks_run_once_when_set_and_at_once_when_added_after() -> None:
    gone = ClientGone()
    calls: list[str] = []
    gone.on_set(lambda: calls.append("before"))
    assert not gone.is_set() and calls == []
    gone.set()
    gone.set()
    gone.on_set(lambda: calls.append("after"))
    assert gone.is_set() and calls == ["before", "after"]


def test_wait_returns_once_set() -> None:
    async def main() -> None:
        gone = ClientGone()
        waiting = asyncio.ensure_future(gone.wait())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        gone.set()
        await asyncio.wait_for(waiting, 1)
        await asyncio.wait_for(gone.wait(), 1)

    asyncio.run(main())
