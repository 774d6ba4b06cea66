"""Fixtures for the Trino emulator tests: in-process nodes on port 0, an HTTP client, polling helpers.

The shared coordinator is session-scoped; tests that need special settings start their own
`TrinoNode` with the production factory. Nothing here reaches into the emulator's internals.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from trino_helpers import PAGE_ROWS
from devstack.trino import NodeSettings, TrinoNode


@pytest.fixture(scope="session", autouse=True)
def _no_leftover_emulator_threads() -> Iterator[None]:
    """Every emulator SQL thread pool is shut down by its node's cleanup."""
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [t.name for t in threading.enumerate() if t.name.startswith("trino-emulator-sql")]
        if not alive:
            return
        time.sleep(0.05)
    pytest.fail(f"emulator SQL threads still alive after the session: {alive}")


@pytest.fixture(scope="session")
async def coordinator() -> AsyncIterator[TrinoNode]:
    """A single-node coordinator with tpch, as `python -m devstack.trino` starts without a config dir."""
    async with TrinoNode(NodeSettings(port=0, page_rows=PAGE_ROWS, environment="emulator-test")) as node:
        yield node


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
