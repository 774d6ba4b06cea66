"""A resume that was accepted ends Ready, whatever else is pending: a runtime suspended by the
`suspend` update gets a spec change through the API and, within a few seconds, a `resume`; the
update answers Ready and the runtime stays Ready (before, the spec change ran a full provision that
recorded Ready while the runtime was still suspended by request, and a suspend followed at once)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.payloads import StatusPatch
from workers.operator import Operator
from xtrinode.lifecycle import SIGNAL_SPEC_CHANGED, SpecChange, workflow_id_for
from xtrinode.models import API_GROUP, API_VERSION, XTrinodeCatalog
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


def _child_steps(events: list[Any]) -> tuple[dict[int, str], Callable[[Any], str | None]]:
    """The step (child workflow type) each initiating event id started, and `completed(event)`: the step an
    event completes, or None."""
    types = {e.event_id: e.start_child_workflow_execution_initiated_event_attributes.workflow_type.name
             for e in events if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED}

    def completed(e: Any) -> str | None:
        if e.event_type != EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
            return None
        return types.get(e.child_workflow_execution_completed_event_attributes.initiated_event_id)

    return types, completed


def _provision_after_suspend(events: list[Any]) -> int | None:
    """Index of the first ProvisionRuntime child started after a SuspendRuntime completed, if any."""
    _, completed = _child_steps(events)
    suspended = False
    for i, e in enumerate(events):
        suspended = suspended or completed(e) == "SuspendRuntime"
        if (suspended and e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
                and e.child_workflow_execution_started_event_attributes.workflow_type.name == "ProvisionRuntime"):
            return i
    return None


async def _flip_during_the_suspended_provision(cluster: Cluster, temporal: Client, namespace: str, name: str) -> None:
    """`suspended: true`, then, as soon as the workflow's history shows the provision that follows the
    suspend started, `suspended: false`, also signalled straight to the workflow as the operator would (a
    narrower race than the operator's watch leaves; its own forward of the same generation changes nothing)."""
    handle = temporal.get_workflow_handle(workflow_id_for(namespace, name))
    catalog = await asyncio.to_thread(cluster.custom.get_namespaced_custom_object, API_GROUP, API_VERSION,
                                      namespace, "xtrinodecatalogs", "tpch")
    dumped = XTrinodeCatalog.model_validate(catalog).model_dump(mode="json", by_alias=True, exclude_none=True)
    before = len([e async for e in handle.fetch_history_events()])
    await cluster.patch_spec(namespace, name, {"suspended": True})
    deadline = time.monotonic() + 60
    while True:
        events = [e async for e in handle.fetch_history_events()]
        if len(events) < before:  # continued as new
            before = 0
            continue
        if _provision_after_suspend(events[before:]) is not None:
            break
        assert time.monotonic() < deadline, "no provision followed the suspend"
        await asyncio.sleep(0.005)
    flipped = await asyncio.to_thread(cluster.custom.patch_namespaced_custom_object, API_GROUP, API_VERSION,
                                      namespace, "xtrinodes", name, {"spec": {"suspended": False}})
    await handle.signal(
        SIGNAL_SPEC_CHANGED, SpecChange(generation=int(flipped["metadata"]["generation"]), runtime=flipped,
                                        catalogs=[dumped]))

    async def settled_ready() -> bool:
        obj = await cluster.runtime(namespace, name) or {}
        status = obj.get("status") or {}
        return status.get("phase") == "Ready" and status.get("observedGeneration") == obj["metadata"]["generation"]

    await eventually(settled_ready, "Ready with suspended: false applied", timeout=90)


async def _after_a_provision_the_flip_overtook(temporal: Client, workflow_id: str) -> tuple[str, list[str]] | None:
    """From the runtime workflow's history: the last SuspendRuntime's following ProvisionRuntime, if a
    spec change arrived while it ran; then the first phase published after it and the steps that followed."""
    history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    events = list(history.events)
    types, completed = _child_steps(events)
    # The run may have continued as new in between (a long history): then this try tells nothing.
    suspended_at = max((i for i, e in enumerate(events) if completed(e) == "SuspendRuntime"), default=None)
    if suspended_at is None:
        return None
    started = next((i for i, e in enumerate(events)
                    if i > suspended_at and types.get(e.event_id) == "ProvisionRuntime"), None)
    ended = next((i for i, e in enumerate(events)
                  if started is not None and i > started and completed(e) == "ProvisionRuntime"), None)
    if started is None or ended is None:
        return None
    overtaken = any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
                    and e.workflow_execution_signaled_event_attributes.signal_name == SIGNAL_SPEC_CHANGED
                    for e in events[started:ended])
    if not overtaken:
        return None
    first = next(e for e in events[ended:] if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                 and e.activity_task_scheduled_event_attributes.activity_type.name == "patch_status")
    [patch] = await temporal.data_converter.decode(
        first.activity_task_scheduled_event_attributes.input.payloads, [StatusPatch])
    steps = [types[e.event_id] for e in events[ended:] if e.event_id in types]
    return str(patch.status["phase"]), steps


async def test_unsuspending_during_the_suspended_provision_resumes_before_saying_ready(
    api_client: client.ApiClient, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    """`suspended: true` suspends the runtime, then a provision keeps its objects in step with compute at
    zero. When `suspended: false` arrives while that provision runs, compute comes back (a ResumeRuntime)
    before the status says Ready (before: the provision's end recorded Ready with the coordinator at zero
    replicas; a CI run on the real control plane read Ready and a Deployment scaled to 0)."""
    cluster = Cluster(api_client)
    await cluster.create_runtime(namespace, "flip")
    wid = workflow_id_for(namespace, "flip")
    for tries in range(1, 9):  # the flip must land while that provision runs: a few tries make sure it did
        await _flip_during_the_suspended_provision(cluster, temporal_client, namespace, "flip")
        seen = await _after_a_provision_the_flip_overtook(temporal_client, wid)
        if seen is not None:
            break
    assert seen is not None, "suspended: false never arrived while the suspended provision ran (8 tries)"
    phase, steps = seen
    print(f"the flip overtook the provision on try {tries}")
    assert phase == "Suspended", f"the suspended provision's end published {phase} with compute at zero"
    assert "ResumeRuntime" in steps, steps
    assert await cluster.replicas(namespace, "trino-flip-coordinator") == 1
    assert await cluster.pods(namespace, "flip") >= 1
