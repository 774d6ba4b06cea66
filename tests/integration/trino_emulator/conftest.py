"""Fixtures for the Trino emulator tests: in-process nodes on port 0, an HTTP client, polling helpers, and
the `backend` the contract tests run against: the emulator always, a real Trino 476 in the slow tier.

The shared coordinator is session-scoped; tests that need special settings start their own `TrinoNode`
with the production factory. Nothing here reaches into the emulator's internals.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.real_trino import real_trino_server
from trino_helpers import ENVIRONMENT, Backend, emulator_settings
from devstack.trino import TrinoNode


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
    """The emulated coordinator, as `python -m devstack.trino` runs one (pages sized by bytes, like Trino)."""
    async with TrinoNode(emulator_settings()) as node:
        yield node


@pytest.fixture(scope="session")
def real_trino() -> Iterator[Backend]:
    """A real Trino 476 with the same catalogs and environment (slow: one JVM start, about 20-40 s)."""
    with real_trino_server(ENVIRONMENT) as server:
        yield Backend("trino", server.url, server.port)


@pytest.fixture(params=["emulator", pytest.param("trino", marks=[pytest.mark.slow, pytest.mark.real_trino])])
def backend(request: pytest.FixtureRequest, coordinator: TrinoNode) -> Backend:
    """What a contract test talks to: each test runs once per backend and must pass on both. (The emulator
    is a direct dependency so its session tasks start before the per-test task-leak check looks.)"""
    if request.param == "emulator":
        port = coordinator.port
        assert port is not None
        return Backend("emulator", coordinator.url, port)
    real: Backend = request.getfixturevalue("real_trino")
    return real


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
