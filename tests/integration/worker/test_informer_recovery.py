"""The product's informer (operator and worker watches) recovers from 410 Gone without losing a deletion.

The watch is held back while an object is deleted and the server forgets the watch's resourceVersion
(the emulator with a short history, then more writes; the real control plane by restarting
kube-apiserver, whose watch cache starts afresh). The next watch is answered 410 Gone (an ERROR
event, which the informer logs as such), the informer lists again, and the consumer gets DELETED for
the object it never saw go, then live events again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from devstack.kubeapi import ThreadedKubeApiServer
from devstack.kubeapi.server import KubeApiSettings
from tests.kube_fixtures import create_namespace
from tests.polling import eventually
from workers.informer import LISTED, Event, Informer


class Gate:
    """Wraps a list function: while closed, calls (the informer's next watch) wait until it opens."""

    def __init__(self, list_fn: Callable[..., Any]) -> None:
        self.list_fn = list_fn
        self.open = threading.Event()
        self.open.set()
        self.held = threading.Event()

    def __call__(self, **kwargs: Any) -> Any:
        if not self.open.is_set():
            self.held.set()
            self.open.wait(60)
        return self.list_fn(**kwargs)


@pytest.fixture
def server(kube_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    """A kubeconfig and how to make the server forget old resourceVersions."""
    if kube_backend == "real":
        from devstack.realkube import RealControlPlane, find_binaries

        option = request.config.getoption("--kube-bin")
        with RealControlPlane(find_binaries(Path(option) if option else None), tmp_path / "plane") as plane:
            yield plane.write_kubeconfig(tmp_path / "kubeconfig"), lambda: plane.restart("kube-apiserver") and None
        return
    with ThreadedKubeApiServer(settings=KubeApiSettings(history_limit=5)) as emulator:
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
        api = config.new_client_from_config(config_file=str(kubeconfig))
        core = client.CoreV1Api(api)

        def churn() -> None:  # more writes than the emulator keeps: older resourceVersions are forgotten
            for i in range(8):
                core.create_namespaced_config_map("default", {"metadata": {"generateName": f"churn-{i}-"}})

        try:
            yield kubeconfig, churn
        finally:
            api.close()


async def test_a_deletion_missed_during_410_gone_reaches_the_consumer(
    server: tuple[Path, Callable[[], None]], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="xtrinode.informer")
    kubeconfig, forget = server
    api = config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(api)
    namespace = "informer-410"
    await asyncio.to_thread(create_namespace, core, namespace)
    for name in ("a", "b"):
        await asyncio.to_thread(core.create_namespaced_config_map, namespace, {"metadata": {"name": name}})
    gate = Gate(functools.partial(core.list_namespaced_config_map, namespace))
    queue: asyncio.Queue[tuple[str, Event]] = asyncio.Queue()
    informer = Informer("configmaps", gate, queue, asyncio.get_running_loop(), watch_timeout=1)
    seen: dict[str, str] = {}

    def drain() -> None:
        while not queue.empty():
            _, (kind, obj) = queue.get_nowait()
            if kind != LISTED:
                seen[obj["metadata"]["name"]] = kind

    informer.start()
    try:
        await eventually(lambda: drain() or {"a", "b"} <= set(seen), "a and b listed")
        gate.open.clear()
        await eventually(lambda: gate.held.is_set(), "the informer's next watch held back", timeout=10)
        await asyncio.to_thread(core.delete_namespaced_config_map, "a", namespace)
        await asyncio.to_thread(forget)
        gate.open.set()
        await eventually(lambda: drain() or seen.get("a") == "DELETED", "DELETED for a, missed while held",
                         timeout=30)
        assert any("watch expired (410 Gone)" in r.getMessage() for r in caplog.records), \
            "recovered through 410 Gone, not some other error"
        assert seen["b"] != "DELETED"
        await asyncio.to_thread(core.create_namespaced_config_map, namespace, {"metadata": {"name": "c"}})
        await eventually(lambda: drain() or seen.get("c") == "ADDED", "live events after the re-list")
    finally:
        gate.open.set()
        await asyncio.to_thread(informer.stop)
        api.close()
