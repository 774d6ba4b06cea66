"""A wake-up primitive for long polls: `await notifier.wait(timeout)` returns on `notify()` or timeout.

Unlike `wait_for(event.wait(), t)` it creates no helper task, so nothing outlives a cancelled waiter.
"""

from __future__ import annotations

import asyncio

__all__ = ["Notifier"]


class Notifier:
    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.add(waiter)
        def expire() -> None:
            if not waiter.done():
                waiter.set_result(None)

        handle = loop.call_later(max(timeout, 0.0), expire)
        try:
            await waiter
        finally:
            handle.cancel()
            self._waiters.discard(waiter)
