"""A restarted operator starts no lifecycle step: with 25 runtimes that select a catalog holding a
Secret reference, some Ready and most Suspended, the operator process is stopped (SIGTERM) and
started again, then killed (SIGKILL) and started again. Each time it forwards every runtime once it
has listed runtimes, catalogs and Secrets, the workflows see the fingerprint they already had, no
ProvisionRuntime runs, and a query every 0.5 s against a Ready runtime never fails (before, each
restart forwarded the runtimes catalog-less first: 25 provisions, CATALOG_NOT_FOUND on queries)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes import client
from temporalio.client import Client

from devstack.kubelet import Kubelet
from workers.lifecycle import LifecycleWorker

from .conftest import SYSTEM_NS
from .lifecycle_helpers import Cluster, eventually, query, runtime_body, tpch_catalog

pytestmark = [pytest.mark.integration, pytest.mark.shared_services, pytest.mark.slow]
RUNTIMES = 25
READY = 2


class OperatorProcess:
    def __init__(self, address: str, queue: str, kubeconfig: Path, namespace: str, log: Path) -> None:
        self.args = [sys.executable, "-m", "xtrinode.cli", "operator", "--temporal-address", address,
                     "--task-queue", queue, "--kubeconfig", str(kubeconfig), "--namespace", namespace,
                     "--lease-namespace", SYSTEM_NS, "--lease-name", f"lease-{namespace}", "--resync-period", "5m"]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def forwarded(self, namespace: str) -> int:
        return self.log.read_text(errors="replace").count(f"forwarded {namespace}/")

    def rotate(self) -> None:
        """Count forwards of the next run only."""
        self.log.write_text("")

    async def stop(self, signum: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signum)
            await asyncio.to_thread(self.proc.wait, 30)


@pytest.fixture
async def operator_process(temporal_client: Client, kubeconfig: Path, lifecycle: LifecycleWorker,
                           lifecycle_queue: str, namespace: str, tmp_path: Path) -> AsyncIterator[OperatorProcess]:
    target = temporal_client.service_client.config.target_host
    process = OperatorProcess(target, lifecycle_queue, kubeconfig, namespace, tmp_path / "operator.log")
    process.start()
    yield process
    await process.stop()


async def _provisions(temporal: Client, namespace: str) -> int:
    prefix = f"xtrinode/{namespace}/"
    return len([wf async for wf in temporal.list_workflows("WorkflowType='ProvisionRuntime'")
                if wf.id.startswith(prefix)])


@pytest.mark.timeout(400)
async def test_a_restarted_operator_provisions_nothing_and_queries_keep_working(
    api_client: client.ApiClient, namespace: str, kubelet: Kubelet, temporal_client: Client,
    operator_process: OperatorProcess,
) -> None:
    cluster = Cluster(api_client)
    core = client.CoreV1Api(api_client)
    await asyncio.to_thread(core.create_namespaced_secret, namespace, {
        "metadata": {"name": "cat-secret"}, "stringData": {"token": "value"}})
    catalog = tpch_catalog(namespace)
    catalog["spec"]["connector"]["tpch"]["propertySecretRefs"] = {
        "tpch.access-token": {"name": "cat-secret", "key": "token"}}
    await cluster.create(catalog)
    names = [f"rt-{i}" for i in range(RUNTIMES)]
    for i, name in enumerate(names):
        await cluster.create(runtime_body(namespace, name, suspended=i >= READY))
    for i, name in enumerate(names):
        await cluster.wait_phase(namespace, name, "Ready" if i < READY else "Suspended", timeout=120)
    await eventually(lambda: operator_process.forwarded(namespace) >= RUNTIMES, "every runtime forwarded")
    before = await _provisions(temporal_client, namespace)
    assert before == RUNTIMES

    failures: list[str] = []
    stop = asyncio.Event()

    async def query_loop() -> int:
        done = 0
        while not stop.is_set():
            try:
                rows = await asyncio.to_thread(query, kubelet.settings.services_file, namespace, "rt-0",
                                               "SELECT count(*) FROM tpch.tiny.nation")
                assert rows == [[25]], rows
            except Exception as e:  # every failure counts, whatever its kind
                failures.append(f"{type(e).__name__}: {str(e)[:200]}")
            done += 1
            await asyncio.sleep(0.5)
        return done

    loop = asyncio.create_task(query_loop())
    try:
        for signum in (signal.SIGTERM, signal.SIGKILL):
            await operator_process.stop(signum)
            operator_process.rotate()
            operator_process.start()
            # A new replica waits out a killed holder's Lease (15 s), then lists and forwards every runtime.
            await eventually(lambda: operator_process.forwarded(namespace) >= RUNTIMES,
                             f"every runtime forwarded after the restart ({signal.Signals(signum).name})", timeout=60)
            await asyncio.sleep(3)  # a step the forwards started would have begun by now
            assert await _provisions(temporal_client, namespace) == before, (
                f"a restart ({signal.Signals(signum).name}) started ProvisionRuntime runs")
            for i, name in enumerate(names):
                assert await cluster.phase(namespace, name) == ("Ready" if i < READY else "Suspended")
    finally:
        stop.set()
        queries = await loop
    assert queries > 20
    assert failures == [], f"{len(failures)} of {queries} queries failed across the restarts: {failures[:5]}"
