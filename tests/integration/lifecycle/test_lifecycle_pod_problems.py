"""A provision that cannot start says why, fast: a catalog referencing a Secret that does not exist
puts the runtime in Error with Degraded=True and a message naming the Secret within 15 s (before: a
silent 300 s Provisioning per attempt, the cause only in the kubelet log); creating the Secret then
resumes the provision (the operator forwards the new Secret version) and the runtime becomes Ready. A
`resume` asked while it is in Error is answered at once with that error, and is not counted later as a
resume that ended Ready when the Secret came (its start time is not left behind)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes import client
from prometheus_client import REGISTRY
from temporalio.client import Client, WorkflowUpdateFailedError

from workers.operator import Operator
from xtrinode.lifecycle import ResumeRequest, workflow_id_for

from .lifecycle_helpers import Cluster, eventually, runtime_body, tpch_catalog

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]


def _condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def _resumes(outcome: str) -> float:
    """The lifecycle worker's resume counter (it runs in this process, on the default registry)."""
    return REGISTRY.get_sample_value("xtrinode_lifecycle_resumes_total", {"outcome": outcome}) or 0.0


async def test_a_missing_secret_is_named_in_status_fast_and_creating_it_resumes(
    api_client: client.ApiClient, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    cluster = Cluster(api_client)
    catalog = tpch_catalog(namespace)
    catalog["spec"]["connector"]["tpch"]["propertySecretRefs"] = {
        "tpch.access-token": {"name": "does-not-exist", "key": "token"}}
    await cluster.create(catalog)
    await cluster.create(runtime_body(namespace, "nosecret"))

    async def named() -> dict[str, Any] | None:
        obj = await cluster.runtime(namespace, "nosecret")
        status = (obj or {}).get("status") or {}
        if 'secret "does-not-exist"' in str(status.get("message")) and status.get("phase") == "Error":
            return obj
        return None

    obj = await eventually(named, "status naming the missing Secret", timeout=15)
    degraded = _condition(obj, "Degraded")
    assert degraded.get("status") == "True" and "does-not-exist" in degraded.get("message", ""), degraded
    assert "CreateContainerConfigError" in obj["status"]["message"]
    await asyncio.sleep(3)
    assert await cluster.phase(namespace, "nosecret") == "Error", "no Provisioning -> Error loop"

    ready_before, failed_before = _resumes("ready"), _resumes("failed")
    handle = temporal_client.get_workflow_handle(workflow_id_for(namespace, "nosecret"))
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await asyncio.wait_for(handle.execute_update("resume", ResumeRequest(reason="test")), 10)
    assert "could not resume" in str(failed.value.cause) and "does-not-exist" in str(failed.value.cause)

    await asyncio.to_thread(client.CoreV1Api(api_client).create_namespaced_secret, namespace, {
        "metadata": {"name": "does-not-exist"}, "stringData": {"token": "now-it-does"}})
    await cluster.wait_phase(namespace, "nosecret", "Ready", timeout=45)
    assert _condition(await cluster.runtime(namespace, "nosecret"), "Degraded").get("status") == "False"
    # Ready came from the provision the Secret started, not from that resume: nothing counts it as one.
    assert (_resumes("ready"), _resumes("failed")) == (ready_before, failed_before)
