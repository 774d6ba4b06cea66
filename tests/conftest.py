"""Shared test configuration: markers, artifact folder, and a guard against leaked tasks."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave screenshots and logs for a human to look at (CI keeps the folder)."""
    path = Path(os.environ.get("XTRINODE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(autouse=True)
async def _no_leaked_tasks(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running after it returns.

    Tests marked `shared_services` drive session-scoped services (kubelet, lifecycle worker,
    operator) whose own tasks outlive each test by design; those services are checked at their
    own teardown instead.
    """
    if request.node.get_closest_marker("shared_services") is not None:
        yield
        return
    before = set(asyncio.all_tasks())
    yield
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0
    while True:
        leaked = [t for t in asyncio.all_tasks() - before if not t.done() and not _belongs_to_server(t)
                  and t is not asyncio.current_task()]
        if not leaked or loop.time() > deadline:
            break
        await asyncio.sleep(0.05)
    if leaked:
        for task in leaked:
            task.cancel()
        await asyncio.gather(*leaked, return_exceptions=True)
        names = ", ".join(sorted(t.get_name() + ":" + repr(t.get_coro()) for t in leaked))
        pytest.fail(f"test left {len(leaked)} asyncio task(s) running: {names}")


def _belongs_to_server(task: asyncio.Task[object]) -> bool:
    """Connection handlers of session-scoped servers outlive a single test by design."""
    qualname = getattr(task.get_coro(), "__qualname__", "")
    return qualname.startswith(("RequestHandler.", "BaseRequestHandler.", "Server.", "_SessionServer."))
