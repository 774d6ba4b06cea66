"""Polling with a deadline, shared by the integration suites: never sleep and hope, wait for a
condition and fail with a message that says what was expected and what was last seen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None] | T | None], what: str, timeout: float = 15.0,
                     interval: float = 0.1) -> T:
    """Call `probe` (sync or async) until it returns something truthy; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.1f}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)
