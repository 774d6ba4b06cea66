"""Crash safety: the lifecycle worker process is killed with SIGKILL in the middle of a provision,
a suspend and a resume; after a restart the runtime converges (Ready or Suspended as asked), with
no duplicated objects, no stuck phase, and the callers of the interrupted updates get their answer.

The worker runs as a real subprocess (`xtrinode worker`) on its own task queue; the test starts the
runtime's workflow there with signal-with-start before creating the XTrinode, as the operator would.
"""

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
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from .lifecycle_helpers import Cluster, eventually, runtime_body, tpch_catalog
from workflows.state import RuntimeState
from devstack.kubelet import Kubelet
from xtrinode.lifecycle import RUNTIME_WORKFLOW, SIGNAL_SPEC_CHANGED, SpecChange, workflow_id_for
from xtrinode.lifecycle_client import LifecycleClient
from xtrinode.models import XTrinodeCatalog

pytestmark = [pytest.mark.integration, pytest.mark.shared_services, pytest.mark.slow]
QUEUE = "xtrinode-crash"


class WorkerProcess:
    def __init__(self, address: str, kubeconfig: Path, services_file: Path, log: Path) -> None:
        self.args = [sys.executable, "-m", "devstack.worker", "--temporal-address", address,
                     "--task-queue", QUEUE, "--kubeconfig", str(kubeconfig), "--services-file", str(services_file),
                     "--gateway-namespace", "xtrinode-gateway"]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        await eventually(lambda: "lifecycle worker ready" in self.log.read_text(errors="replace"),
                         "the worker subprocess to start", timeout=60)

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.log.write_text("")  # the next start waits for a fresh ready line

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            await asyncio.to_thread(self.proc.wait, 20)


@pytest.fixture
async def worker(temporal_env: WorkflowEnvironment, kubeconfig: Path, kubelet: Kubelet,
                 tmp_path: Path) -> AsyncIterator[WorkerProcess]:
    target = temporal_env.client.service_client.config.target_host
    process = WorkerProcess(target, kubeconfig, kubelet.settings.services_file, tmp_path / "worker.log")
    await process.start()
    yield process
    await process.stop()


async def _start(temporal: Client, cluster: Cluster, namespace: str, name: str, **spec: object) -> None:
    """Start the workflow on the crash queue, then create the objects it manages."""
    await cluster.create(tpch_catalog(namespace))
    body = runtime_body(namespace, name, **spec)
    catalog = XTrinodeCatalog.model_validate(tpch_catalog(namespace))
    await temporal.start_workflow(
        RUNTIME_WORKFLOW, RuntimeState(namespace=namespace, name=name), id=workflow_id_for(namespace, name),
        task_queue=QUEUE, start_signal=SIGNAL_SPEC_CHANGED,
        start_signal_args=[SpecChange(generation=1, runtime=body, catalogs=[
            catalog.model_dump(mode="json", by_alias=True, exclude_none=True)])],
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await cluster.create(body)


async def _deployments(cluster: Cluster, namespace: str) -> list[str]:
    items = await asyncio.to_thread(cluster.apps.list_namespaced_deployment, namespace)
    return sorted(d.metadata.name for d in items.items)


@pytest.mark.timeout(420)  # three kills, each noticed by Temporal only through activity timeouts
async def test_killed_worker_mid_provision_suspend_and_resume_converges(
    api_client: client.ApiClient, namespace: str, worker: WorkerProcess, temporal_client: Client
) -> None:
    cluster = Cluster(api_client)
    await _start(temporal_client, cluster, namespace, "tough")
    # 1. Provision: kill once the objects are applied and the step waits for readiness.
    await eventually(lambda: _deployments_exist(cluster, namespace), "deployments applied", timeout=60, interval=0.05)
    worker.kill()
    await worker.start()
    await eventually(lambda: _phase(cluster, namespace, "tough", "Ready"), "Ready after the crash", timeout=120)
    assert await _deployments(cluster, namespace) == ["trino-tough-coordinator", "trino-tough-worker"]

    lifecycle = LifecycleClient(temporal_client)
    # 2. Suspend: kill while the step drains.
    suspending = asyncio.create_task(lifecycle.suspend(namespace, "tough"))
    try:
        # The suspend waits for whatever the loop is doing when it arrives (a step's last activity after
        # the first crash): a minute, with what the workflow was waiting for in the failure.
        await eventually(lambda: _phase(cluster, namespace, "tough", "Suspending"), "Suspending", timeout=60,
                         interval=0.05)
    except pytest.fail.Exception as e:
        pytest.fail(f"{e}\n{await _pending(temporal_client, namespace, 'tough')}\n"
                    f"worker log (tail):\n{worker.log.read_text(errors='replace')[-4000:]}")
    worker.kill()
    await worker.start()
    assert (await asyncio.wait_for(suspending, 120)).phase == "Suspended"
    await eventually(lambda: _pods(cluster, namespace, 0), "no pods", timeout=60)

    # 3. Resume: kill once the coordinator is being brought back.
    resuming = asyncio.create_task(lifecycle.resume(namespace, "tough"))
    await eventually(lambda: _replicas(cluster, namespace, "trino-tough-coordinator", 1), "resume applied",
                     timeout=30, interval=0.05)
    worker.kill()
    await worker.start()
    assert (await asyncio.wait_for(resuming, 120)).phase == "Ready"
    assert await cluster.phase(namespace, "tough") == "Ready"
    assert await _deployments(cluster, namespace) == ["trino-tough-coordinator", "trino-tough-worker"]
    await eventually(lambda: _pods(cluster, namespace, 2), "one coordinator and one worker pod", timeout=60)


async def _pending(temporal: Client, namespace: str, name: str) -> str:
    """What the runtime's workflow waits for: its pending activities and child workflows."""
    lines: list[str] = []
    ids = [workflow_id_for(namespace, name)]
    while ids:
        workflow_id = ids.pop(0)
        raw = (await temporal.get_workflow_handle(workflow_id).describe()).raw_description
        lines += [f"{workflow_id}: pending activity {a.activity_type.name} attempt {a.attempt} state {a.state} "
                  f"last failure {a.last_failure.message!r}" for a in raw.pending_activities]
        lines += [f"{workflow_id}: pending child {c.workflow_type_name} {c.workflow_id}"
                  for c in raw.pending_children]
        ids += [c.workflow_id for c in raw.pending_children]
    return "\n".join(lines) or "the workflow waits for nothing pending"


async def _deployments_exist(cluster: Cluster, namespace: str) -> bool:
    return len(await _deployments(cluster, namespace)) == 2


async def _phase(cluster: Cluster, namespace: str, name: str, phase: str) -> bool:
    return await cluster.phase(namespace, name) == phase


async def _replicas(cluster: Cluster, namespace: str, deployment: str, count: int) -> bool:
    return await cluster.replicas(namespace, deployment) == count


async def _pods(cluster: Cluster, namespace: str, count: int) -> bool:
    items = await asyncio.to_thread(cluster.core.list_namespaced_pod, namespace)
    return len(items.items) == count
