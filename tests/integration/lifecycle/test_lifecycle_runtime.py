"""The runtime lifecycle end to end on real parts (Temporal dev server, Kubernetes API emulator,
kubelet, Trino emulator): create reaches Ready with the route RUNNING and the coordinator answering
the real trino client; a spec change reaches the cluster; autosuspend scales to zero and pauses the
route; the resume update brings it back; delete drains, removes the route and objects, releases the
finalizer and completes the workflow."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes import client
from temporalio.client import Client, WorkflowExecutionStatus

from .lifecycle_helpers import Cluster, eventually, query, runtime_body, tpch_catalog
from workers.operator import Operator
from devstack.kubelet import Kubelet
from xtrinode.lifecycle import (
    SIGNAL_REQUEST_RESUME,
    SIGNAL_REQUEST_SUSPEND,
    UPDATE_RESUME,
    ResumeRequest,
    RuntimeStatus,
    SuspendRequest,
    workflow_id_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]


@pytest.fixture
def cluster(api_client: client.ApiClient) -> Cluster:
    return Cluster(api_client)


async def test_created_runtime_becomes_ready_and_answers_queries(
    cluster: Cluster, namespace: str, operator: Operator, kubelet: Kubelet, temporal_client: Client
) -> None:
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "sales"))
    await eventually(lambda: _is(cluster.phase(namespace, "sales"), "Ready"), "phase Ready", timeout=90)
    assert await cluster.route_state(namespace, "sales") == "RUNNING"
    rows = await asyncio.to_thread(query, kubelet.settings.services_file, namespace, "sales",
                                   "SELECT count(*) FROM tpch.tiny.nation")
    assert rows == [[25]]
    obj = await cluster.runtime(namespace, "sales")
    assert obj is not None
    assert "analytics.xtrinode.io/lifecycle" in obj["metadata"]["finalizers"]
    status = obj["status"]
    assert status["workflowId"] == workflow_id_for(namespace, "sales")
    assert status["workers"] == {"ready": 1, "desired": 1}
    assert status["observedCatalogs"] == ["tpch"]
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    described = await temporal_client.get_workflow_handle(workflow_id_for(namespace, "sales")).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING


async def test_worker_count_change_reaches_the_cluster(cluster: Cluster, namespace: str, operator: Operator) -> None:
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "grow"))
    await eventually(lambda: _is(cluster.phase(namespace, "grow"), "Ready"), "phase Ready", timeout=90)
    await cluster.patch_spec(namespace, "grow", {"maxWorkers": 2})
    await eventually(lambda: _is(cluster.replicas(namespace, "trino-grow-worker"), 2), "2 worker replicas")

    async def two_ready() -> bool:
        obj = await cluster.runtime(namespace, "grow")
        status = (obj or {}).get("status") or {}
        return status.get("phase") == "Ready" and status.get("workers") == {"ready": 2, "desired": 2}

    await eventually(two_ready, "status with 2 ready workers", timeout=60)


async def test_idle_runtime_autosuspends_and_resume_update_wakes_it(
    cluster: Cluster, namespace: str, operator: Operator, kubelet: Kubelet, temporal_client: Client
) -> None:
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "nap", autoSuspendAfter="3s"))
    await eventually(lambda: _is(cluster.phase(namespace, "nap"), "Ready"), "phase Ready", timeout=90)
    await eventually(lambda: _is(cluster.phase(namespace, "nap"), "Suspended"), "autosuspend", timeout=60)
    assert await cluster.route_state(namespace, "nap") == "PAUSED"
    assert await cluster.replicas(namespace, "trino-nap-coordinator") == 0
    assert await cluster.replicas(namespace, "trino-nap-worker") == 0
    await eventually(lambda: _is(cluster.pods(namespace, "nap"), 0), "no pods left")

    handle = temporal_client.get_workflow_handle(workflow_id_for(namespace, "nap"))
    status = await handle.execute_update(UPDATE_RESUME, ResumeRequest(reason="test"), result_type=RuntimeStatus)
    assert status.phase == "Ready"
    assert await cluster.route_state(namespace, "nap") == "RUNNING"
    rows = await asyncio.to_thread(query, kubelet.settings.services_file, namespace, "nap", "SELECT 1")
    assert rows == [[1]]


async def test_deleted_runtime_is_drained_unrouted_and_released(
    cluster: Cluster, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "gone"))
    await eventually(lambda: _is(cluster.phase(namespace, "gone"), "Ready"), "phase Ready", timeout=90)
    await cluster.delete(namespace, "gone")
    await eventually(lambda: _is(cluster.runtime(namespace, "gone"), None, absent=True), "XTrinode removed",
                     timeout=60)
    assert await cluster.pods(namespace, "gone") == 0, "every pod stopped before the runtime let go of its objects"
    assert await cluster.route_state(namespace, "gone") is None
    assert await cluster.replicas(namespace, "trino-gone-coordinator") is None
    assert await cluster.replicas(namespace, "trino-gone-worker") is None
    handle = temporal_client.get_workflow_handle(workflow_id_for(namespace, "gone"))
    await eventually(lambda: _completed(handle), "workflow completed", timeout=30)


async def test_a_runtime_whose_workflow_was_terminated_still_deletes_cleanly(
    cluster: Cluster, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    """Someone terminated the runtime's workflow (Temporal UI, `temporal workflow terminate`) and then
    deleted the XTrinode: the deletion starts a new run, which must know the spec to drain and stop the
    pods the old run left, and must release the finalizer (it once failed every workflow task on a run
    without a spec, and the XTrinode hung in Terminating)."""
    await cluster.create_runtime(namespace, "orphan")
    assert await cluster.pods(namespace, "orphan") > 0
    await temporal_client.get_workflow_handle(workflow_id_for(namespace, "orphan")).terminate("by hand")
    await cluster.delete(namespace, "orphan")
    await eventually(lambda: _is(cluster.runtime(namespace, "orphan"), None, absent=True), "XTrinode removed",
                     timeout=60)
    assert await cluster.pods(namespace, "orphan") == 0, "the pods of the terminated run were stopped"
    assert await cluster.replicas(namespace, "trino-orphan-coordinator") is None
    handle = temporal_client.get_workflow_handle(workflow_id_for(namespace, "orphan"))
    await eventually(lambda: _completed(handle), "the deleting run completed", timeout=30)


async def test_deleting_a_runtime_and_its_catalog_leaves_nothing_behind(
    cluster: Cluster, namespace: str, operator: Operator,
) -> None:
    await cluster.create_runtime(namespace, "brief")
    assert await asyncio.to_thread(cluster.leftovers, namespace), "the runtime made objects"
    await cluster.delete(namespace, "brief")
    await eventually(lambda: _is(cluster.runtime(namespace, "brief"), None, absent=True), "XTrinode removed",
                     timeout=60)
    # Only the catalog and its ConfigMap (owned by the catalog) stay; garbage collection may take a moment.
    await eventually(lambda: asyncio.to_thread(lambda: cluster.leftovers(namespace) == [
        "ConfigMap/trino-catalog-tpch", "XTrinodeCatalog/tpch"]), "only the catalog left", timeout=30)
    await asyncio.to_thread(cluster.custom.delete_namespaced_custom_object, "analytics.xtrinode.io", "v1",
                            namespace, "xtrinodecatalogs", "tpch")
    await eventually(lambda: asyncio.to_thread(lambda: cluster.leftovers(namespace) == []),
                     "nothing left once the catalog is gone", timeout=30)


async def _is(value: object, expected: object, *, absent: bool = False) -> bool:
    got = await value  # type: ignore[misc]
    return got is None if absent else got == expected


async def _completed(handle: object) -> bool:
    described = await handle.describe()  # type: ignore[attr-defined]
    return bool(described.status == WorkflowExecutionStatus.COMPLETED)


async def test_catalog_selection_and_image_changes_reach_the_cluster(
    cluster: Cluster, namespace: str, operator: Operator, kubelet: Kubelet
) -> None:
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "shift"))
    await eventually(lambda: _is(cluster.phase(namespace, "shift"), "Ready"), "phase Ready", timeout=90)
    extra = tpch_catalog(namespace)
    extra["metadata"]["name"] = "scratch"
    extra["spec"] = {"labels": {"catalog-set": "extra"}, "connector": {"memory": {}}}
    await cluster.create(extra)
    await cluster.patch_spec(namespace, "shift", {
        "catalogSelector": {"matchLabels": None, "matchExpressions": [{"key": "catalog-set", "operator": "In",
                                                  "values": ["demo", "extra"]}]},
        "image": {"tag": "477"},
    })

    async def both_catalogs() -> bool:
        obj = await cluster.runtime(namespace, "shift")
        status = (obj or {}).get("status") or {}
        return status.get("phase") == "Ready" and status.get("observedCatalogs") == ["scratch", "tpch"]

    await eventually(both_catalogs, "both catalogs observed", timeout=60)
    dep = await asyncio.to_thread(cluster.apps.read_namespaced_deployment, "trino-shift-coordinator", namespace)
    assert dep.spec.template.spec.containers[0].image.endswith(":477")

    def catalogs_served() -> bool:
        try:
            rows = query(kubelet.settings.services_file, namespace, "shift", "SHOW CATALOGS")
        except Exception:
            return False  # pods are rolling
        return {"scratch", "tpch"} <= {r[0] for r in rows}

    await eventually(lambda: asyncio.to_thread(catalogs_served), "SHOW CATALOGS lists both", timeout=60)
    events = await asyncio.to_thread(cluster.core.list_namespaced_event, namespace)
    ours = [e for e in events.items if e.involved_object.name == "shift"]
    assert {"Provisioning", "Ready"} <= {e.reason for e in ours}
    # Written through events.k8s.io/v1 (both APIs offer it): the core view shows its reporting controller.
    assert {e.reporting_component for e in ours} == {"analytics.xtrinode.io/lifecycle"}


async def test_suspend_and_resume_signals_for_cli_clients(
    cluster: Cluster, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    """`temporal workflow signal --name request_suspend|request_resume`: fire and forget, same outcome."""
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "cli"))
    await eventually(lambda: _is(cluster.phase(namespace, "cli"), "Ready"), "phase Ready", timeout=90)
    handle = temporal_client.get_workflow_handle(workflow_id_for(namespace, "cli"))
    await handle.signal(SIGNAL_REQUEST_SUSPEND, SuspendRequest(reason="cli"))
    await eventually(lambda: _is(cluster.phase(namespace, "cli"), "Suspended"), "Suspended by signal", timeout=60)
    await handle.signal(SIGNAL_REQUEST_RESUME, ResumeRequest(reason="cli"))
    await eventually(lambda: _is(cluster.phase(namespace, "cli"), "Ready"), "Ready by signal", timeout=60)
    assert await cluster.route_state(namespace, "cli") == "RUNNING"
