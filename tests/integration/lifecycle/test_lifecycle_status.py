"""Status is exact after every step: lowering maxWorkers on a Ready runtime drains the leaving worker
(a ScaleWorkers step, then the provision of the rest of the change) and the status then says
workers {desired: 1, ready: 1} (before: a ProvisionRuntime scaled down without a drain and reported
{desired: 1, ready: 2}); the step messages time the whole step."""

from __future__ import annotations

import re

import pytest
from kubernetes import client
from temporalio.client import Client

from workers.operator import Operator
from xtrinode.lifecycle import workflow_id_for

from .lifecycle_helpers import Cluster, eventually

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]


async def _children(temporal: Client, workflow_id: str, workflow_type: str) -> list[str]:
    return [wf.id async for wf in temporal.list_workflows(f"WorkflowType='{workflow_type}'")
            if wf.id.startswith(f"{workflow_id}/")]


async def test_lowering_max_workers_drains_through_scale_workers_and_reports_exact_counts(
    api_client: client.ApiClient, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    cluster = Cluster(api_client)
    await cluster.create_runtime(namespace, "shrink", maxWorkers=2)

    async def counts(desired: int, ready: int) -> bool:
        status = ((await cluster.runtime(namespace, "shrink")) or {}).get("status") or {}
        return status.get("phase") == "Ready" and status.get("workers") == {"desired": desired, "ready": ready}

    await eventually(lambda: counts(2, 2), "2 of 2 workers", timeout=60)
    message = ((await cluster.runtime(namespace, "shrink")) or {})["status"]["message"]
    assert re.fullmatch(r"ready in \d+\.\ds with 2 worker\(s\)", message), message
    wid = workflow_id_for(namespace, "shrink")
    provisions = len(await _children(temporal_client, wid, "ProvisionRuntime"))

    await cluster.patch_spec(namespace, "shrink", {"maxWorkers": 1})
    await eventually(lambda: _children(temporal_client, wid, "ScaleWorkers"), "a ScaleWorkers step", timeout=30)

    async def settled() -> bool:
        obj = await cluster.runtime(namespace, "shrink") or {}
        status = obj.get("status") or {}
        return (status.get("observedGeneration") == obj["metadata"]["generation"]
                and await counts(1, 1) and await cluster.pods(namespace, "shrink") == 2)

    await eventually(settled, "Ready with 1 of 1 workers and the new generation applied", timeout=60)
    for _ in range(5):  # stays exact
        assert await counts(1, 1)
    assert len(await _children(temporal_client, wid, "ProvisionRuntime")) == provisions + 1
    drain = await temporal_client.get_workflow_handle((await _children(temporal_client, wid, "ScaleWorkers"))[0]).result()
    assert re.search(r"drained to 1 worker\(s\) in \d+\.\ds", str(drain)), drain
