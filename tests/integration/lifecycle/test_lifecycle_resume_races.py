"""A resume that was accepted ends Ready, whatever else is pending: a runtime suspended by the
`suspend` update gets a spec change through the API and, within a few seconds, a `resume`; the
update answers Ready and the runtime stays Ready (before, the spec change ran a full provision that
recorded Ready while the runtime was still suspended by request, and a suspend followed at once)."""

from __future__ import annotations

import asyncio
import time

import pytest
from kubernetes import client
from temporalio.client import Client

from workers.operator import Operator
from xtrinode.lifecycle import workflow_id_for
from xtrinode.lifecycle_client import LifecycleClient

from .lifecycle_helpers import Cluster, eventually

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]


async def _children(temporal: Client, workflow_id: str, workflow_type: str) -> int:
    count = 0
    async for wf in temporal.list_workflows(f"WorkflowType='{workflow_type}'"):
        if wf.id.startswith(f"{workflow_id}/"):
            count += 1
    return count


async def _suspend_patch_resume(cluster: Cluster, lifecycle: LifecycleClient, temporal: Client, namespace: str,
                                name: str, gap: float, minutes: int) -> None:
    assert (await lifecycle.suspend(namespace, name)).phase == "Suspended"
    wid = workflow_id_for(namespace, name)
    suspends = await _children(temporal, wid, "SuspendRuntime")
    await cluster.patch_spec(namespace, name, {"autoSuspendAfter": f"{minutes}m"})
    await asyncio.sleep(gap)
    status = await lifecycle.resume(namespace, name)
    assert status.phase == "Ready", f"gap {gap}s: the resume answered {status.phase}: {status.message}"

    async def settled_ready() -> bool:
        obj = await cluster.runtime(namespace, name) or {}
        spec_seen = ((obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"])
        return spec_seen and (obj.get("status") or {}).get("phase") == "Ready"

    await eventually(settled_ready, f"gap {gap}s: Ready with the new spec applied", timeout=60)
    end = time.monotonic() + 3  # a suspend that follows would show within this window
    while time.monotonic() < end:
        assert await cluster.phase(namespace, name) == "Ready", f"gap {gap}s: the resume was undone"
        await asyncio.sleep(0.2)
    assert await _children(temporal, wid, "SuspendRuntime") == suspends, f"gap {gap}s: a suspend ran"
    assert await cluster.pods(namespace, name) >= 1


@pytest.mark.parametrize("gap", [0.0, 1.0])
async def test_resume_after_a_spec_change_on_a_suspended_runtime_ends_ready(
    api_client: client.ApiClient, namespace: str, operator: Operator, temporal_client: Client, gap: float
) -> None:
    cluster = Cluster(api_client)
    await cluster.create_runtime(namespace, "race")
    await _suspend_patch_resume(cluster, LifecycleClient(temporal_client), temporal_client, namespace, "race",
                                gap, minutes=10)


@pytest.mark.slow
async def test_resume_after_a_spec_change_ends_ready_at_every_gap(
    api_client: client.ApiClient, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    cluster = Cluster(api_client)
    await cluster.create_runtime(namespace, "gaps")
    lifecycle = LifecycleClient(temporal_client)
    for i, gap in enumerate((0.0, 0.5, 1.0, 3.0)):
        await _suspend_patch_resume(cluster, lifecycle, temporal_client, namespace, "gaps", gap, minutes=10 + i)
