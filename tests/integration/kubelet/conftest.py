"""Fixtures for the kubelet tests: the Kubernetes API emulator (one per session, in a thread), the
official client, a namespace per test, a rendered runtime applied to it and a kubelet per test.

Each test's kubelet manages only that test's namespace; its teardown checks no thread is left.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kubelet_helpers import kubelet_settings
from tests.kube_fixtures import api_client, apps, core, kubeapi, kubeconfig, namespace  # noqa: F401 (fixtures)
from devstack.kubelet import Kubelet



@pytest.fixture
def no_leaked_threads() -> Iterator[None]:
    """Fail when threads started during the test outlive it (watchers, API pools, probes)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()
                  and not t.name.startswith("asyncio_")]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"


@pytest.fixture
async def kubelet(
    kubeconfig: Path, tmp_path: Path, namespace: str, no_leaked_threads: None
) -> AsyncIterator[Kubelet]:
    async with Kubelet(kubelet_settings(kubeconfig, tmp_path / "kubelet", namespace)) as running:
        yield running
