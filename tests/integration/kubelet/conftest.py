"""Fixtures for the kubelet tests: the Kubernetes API emulator (one per session, in a thread), the
official client, a namespace per test, a rendered runtime applied to it and a kubelet per test.

Each test's kubelet manages only that test's namespace; its teardown checks no thread is left.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from kubelet_helpers import kubelet_settings
from xtrinode.devstack.kubeapi import ThreadedKubeApiServer
from xtrinode.devstack.kubelet import Kubelet

_counter = itertools.count()


@pytest.fixture(scope="session")
def kubeapi() -> Iterator[ThreadedKubeApiServer]:
    with ThreadedKubeApiServer() as server:
        yield server


@pytest.fixture(scope="session")
def kubeconfig(kubeapi: ThreadedKubeApiServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kubeapi.write_kubeconfig(tmp_path_factory.mktemp("kubeapi") / "kubeconfig")


@pytest.fixture(scope="session")
def api_client(kubeconfig: Path) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(kubeconfig))
    yield api
    api.close()


@pytest.fixture(scope="session")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture
def namespace(core: client.CoreV1Api, request: pytest.FixtureRequest) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{base}-{next(_counter)}"
    core.create_namespace({"metadata": {"name": name}})
    return name


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
