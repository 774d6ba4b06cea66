"""Determinism: a full lifecycle (create, suspend, resume, scale up on a wake floor, scale down by spec, delete) is recorded and its
histories, with every other history on the suite's lifecycle task queue, are replayed against the
current workflow code. With XTRINODE_RECORD_HISTORIES=1 the recorded histories are written to
tests/histories/, which the unit suite replays on every run (changes to running workflows must
then use workflow.patched)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubernetes import client
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from .lifecycle_helpers import Cluster, eventually, runtime_body, tpch_catalog
from workers.lifecycle import workflow_runner
from workers.operator import Operator
from workflows.runtime import RuntimeWorkflow
from workflows.steps import STEP_WORKFLOWS
from xtrinode.lifecycle import ResumeRequest, workflow_id_for
from xtrinode.lifecycle_client import LifecycleClient

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]
HISTORIES = Path(__file__).resolve().parents[2] / "histories"


@pytest.mark.timeout(360)  # a whole lifecycle story, then every history of the suite's queue (real control plane: >120 s)
async def test_every_recorded_history_replays_on_the_current_code(
    api_client: client.ApiClient, namespace: str, operator: Operator, temporal_client: Client,
    lifecycle_queue: str, artifacts_dir: Path,
) -> None:
    cluster = Cluster(api_client)
    await cluster.create(tpch_catalog(namespace))
    keda = {"enabled": True, "scalerType": "http"}
    await cluster.create(runtime_body(namespace, "story", minWorkers=0, maxWorkers=2, keda=keda))
    await eventually(lambda: _phase(cluster, namespace, "story", "Ready"), "phase Ready", timeout=90)
    lifecycle = LifecycleClient(temporal_client)
    await lifecycle.suspend(namespace, "story")
    await lifecycle.resume(namespace, "story")
    # A wake floor above KEDA's minimum scales the workers up (ScaleWorkers).
    await lifecycle.resume(namespace, "story", ResumeRequest(reason="test", wake_min_workers=1))
    await eventually(lambda: _workers(cluster, namespace, "story", 1), "1 ready worker", timeout=60)
    # Fewer workers by spec drains the leaving one first (ScaleWorkers with DrainWorkers), then provisions.
    await cluster.patch_spec(namespace, "story", {"maxWorkers": 0})
    await eventually(lambda: _workers(cluster, namespace, "story", 0), "0 workers", timeout=60)
    await cluster.delete(namespace, "story")
    await eventually(lambda: _gone(cluster, namespace, "story"), "XTrinode removed", timeout=60)

    histories = []
    async for execution in temporal_client.list_workflows(f"TaskQueue='{lifecycle_queue}'"):
        histories.append(await temporal_client.get_workflow_handle(
            execution.id, run_id=execution.run_id).fetch_history())
    types = {h.events[0].workflow_execution_started_event_attributes.workflow_type.name for h in histories}
    assert {"RuntimeWorkflow", "ProvisionRuntime", "SuspendRuntime", "ResumeRuntime", "DrainWorkers",
            "ScaleWorkers", "DeleteRuntime"} <= types

    replayer = Replayer(workflows=[RuntimeWorkflow, *STEP_WORKFLOWS], data_converter=pydantic_data_converter,
                        workflow_runner=workflow_runner())
    failures = {}
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[history.workflow_id] = repr(result.replay_failure)
    assert not failures, f"histories that no longer replay: {failures}"

    story = workflow_id_for(namespace, "story")
    out = HISTORIES if os.environ.get("XTRINODE_RECORD_HISTORIES") == "1" else artifacts_dir / "histories"
    out.mkdir(parents=True, exist_ok=True)
    for history in histories:
        if history.workflow_id == story or history.workflow_id.startswith(story + "/"):
            # The file name keeps the workflow id ('/' as '~'): replay needs it to match child ids.
            (out / f"{history.workflow_id.replace('/', '~')}.json").write_text(history.to_json())


async def _phase(cluster: Cluster, namespace: str, name: str, phase: str) -> bool:
    return await cluster.phase(namespace, name) == phase


async def _workers(cluster: Cluster, namespace: str, name: str, count: int) -> bool:
    obj = await cluster.runtime(namespace, name)
    status = (obj or {}).get("status") or {}
    return status.get("phase") == "Ready" and status.get("workers") == {"ready": count, "desired": count}


async def _gone(cluster: Cluster, namespace: str, name: str) -> bool:
    return await cluster.runtime(namespace, name) is None
