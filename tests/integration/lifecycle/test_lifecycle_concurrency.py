"""One lifecycle operation at a time, whatever the callers do: 100 concurrent resume requests from
separate clients (each its own LifecycleClient, as separate gateway processes would be) produce
exactly one ResumeRuntime child and all get the Ready answer, with the server's default cap of 10
in-flight updates never surfacing to a caller; duplicate spec signals from two operator replicas
cause no second provision; a resume of a runtime being deleted or with spec.suspended is refused
by the validator with a message that says what to do."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes import client
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RetryConfig

from .lifecycle_helpers import Cluster, eventually
from workers.operator import Operator
from xtrinode.lifecycle import SIGNAL_SPEC_CHANGED, SpecChange, workflow_id_for
from xtrinode.lifecycle_client import LifecycleClient
from xtrinode.models import XTrinodeCatalog

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]


@pytest.fixture
def cluster(api_client: client.ApiClient) -> Cluster:
    return Cluster(api_client)


async def _children(temporal: Client, workflow_id: str, workflow_type: str) -> int:
    count = 0
    async for wf in temporal.list_workflows(f"WorkflowType='{workflow_type}'"):
        if wf.id.startswith(f"{workflow_id}/"):
            count += 1
    return count


async def test_hundred_concurrent_resumes_run_one_resume_and_all_get_ready(
    cluster: Cluster, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    await cluster.create_runtime(namespace, "busy")
    await LifecycleClient(temporal_client).suspend(namespace, "busy")
    assert await cluster.phase(namespace, "busy") == "Suspended"

    # Four connections stand for separate processes; fast-fail retries let each client's own backoff
    # (not the core client's) deal with the in-flight cap, as the gateway runs it. A hundred processes
    # are ten times the cap: 90 wait their turn for as long as the one resume takes (on the real
    # control plane of a loaded CI machine, longer than the default 12 attempts, about 40 s, last).
    target = temporal_client.service_client.config.target_host
    connections = [await Client.connect(target, data_converter=pydantic_data_converter,
                                        retry_config=RetryConfig(max_retries=1)) for _ in range(4)]
    callers = [LifecycleClient(connections[i % 4], max_attempts=40) for i in range(100)]
    results = await asyncio.gather(*(c.resume(namespace, "busy") for c in callers))

    assert {r.phase for r in results} == {"Ready"}
    wid = workflow_id_for(namespace, "busy")
    assert await _children(temporal_client, wid, "ResumeRuntime") == 1
    assert await cluster.phase(namespace, "busy") == "Ready"


async def test_identical_calls_in_one_process_share_one_update(
    cluster: Cluster, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    await cluster.create_runtime(namespace, "share")
    lifecycle = LifecycleClient(temporal_client)
    await lifecycle.suspend(namespace, "share")
    before = lifecycle.rpcs
    results = await asyncio.gather(*(lifecycle.resume(namespace, "share") for _ in range(50)))
    assert {r.phase for r in results} == {"Ready"}
    assert lifecycle.rpcs - before == 1


async def test_duplicate_spec_signals_provision_once(
    cluster: Cluster, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    await cluster.create_runtime(namespace, "dup")
    wid = workflow_id_for(namespace, "dup")
    provisions = await _children(temporal_client, wid, "ProvisionRuntime")
    obj = await cluster.runtime(namespace, "dup")
    assert obj is not None
    handle = temporal_client.get_workflow_handle(wid)
    catalog = await asyncio.to_thread(cluster.custom.get_namespaced_custom_object, "analytics.xtrinode.io", "v1",
                                      namespace, "xtrinodecatalogs", "tpch")
    # What the operator sends: the catalog as the typed model dumps it.
    dumped = XTrinodeCatalog.model_validate(catalog).model_dump(mode="json", by_alias=True, exclude_none=True)
    change = SpecChange(generation=int(obj["metadata"]["generation"]), runtime=obj, catalogs=[dumped])
    # Two operator replicas forwarding the same generation at once.
    await asyncio.gather(handle.signal(SIGNAL_SPEC_CHANGED, change), handle.signal(SIGNAL_SPEC_CHANGED, change))
    lifecycle = LifecycleClient(temporal_client)
    for _ in range(10):  # a bounded observation window: nothing may start
        assert (await lifecycle.status(namespace, "dup")).phase == "Ready"
        await asyncio.sleep(0.1)
    assert await _children(temporal_client, wid, "ProvisionRuntime") == provisions


async def test_resume_is_refused_for_a_spec_suspended_runtime(
    cluster: Cluster, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    await cluster.create_runtime(namespace, "off", phase="Suspended", suspended=True)
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await LifecycleClient(temporal_client).resume(namespace, "off")
    assert "spec.suspended=true" in str(info.value.cause)


@pytest.mark.slow
async def test_back_to_back_suspend_resume_cycles_survive_continue_as_new(
    cluster: Cluster, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    """The test dev server suggests continue-as-new every 200 events, so these cycles cross several
    runs. A resume sent the moment a suspend answers lands in the activation that decides to continue
    as new; the workflow must serve it rather than abandon it (the caller saw "Workflow completed
    before the Update completed")."""
    await cluster.create_runtime(namespace, "cycles")
    lifecycle = LifecycleClient(temporal_client)
    for _ in range(8):
        assert (await lifecycle.suspend(namespace, "cycles")).phase == "Suspended"
        assert (await lifecycle.resume(namespace, "cycles")).phase == "Ready"
    async def runs() -> int:
        query = f"WorkflowId = '{workflow_id_for(namespace, 'cycles')}'"
        return len([wf async for wf in temporal_client.list_workflows(query)])

    await eventually(lambda: _at_least(runs, 2), "the cycles to have crossed a continue-as-new", timeout=15)


async def _at_least(count: Any, minimum: int) -> bool:
    return bool(await count() >= minimum)
