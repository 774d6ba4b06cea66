"""Polling with a deadline, shared by the integration suites: never sleep and hope, wait for a
condition and fail with a message that says what was expected and what was last seen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
HANG_GRACE = 10.0  # seconds past the deadline an unanswered probe may take


async def eventually(probe: Callable[[], Awaitable[T | None] | T | None], what: str, timeout: float = 15.0,
                     interval: float = 0.1) -> T:
    """Call `probe` (sync or async) until it returns something truthy; fail naming `what` otherwise.
    An async probe that never answers fails 10 s past the deadline, naming `what`, instead of hanging
    to the suite's timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if asyncio.iscoroutine(last):
            try:
                last = await asyncio.wait_for(last, max(deadline - time.monotonic(), 0) + HANG_GRACE)
            except TimeoutError:
                pytest.fail(f"the probe for {what} did not answer within {timeout + HANG_GRACE:.1f}s")
        if last:
            return last  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.1f}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)
