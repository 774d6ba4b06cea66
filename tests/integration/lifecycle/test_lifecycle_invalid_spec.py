"""A spec the domain refuses is visible, not ignored: with an XTrinode CRD that lacks the CEL rules
(installed from an older chart, say), minWorkers 3 with maxWorkers 1 and a 45-character name get past
the API server; within 5 s each shows phase Error, condition Valid=False with the reason, and a
Warning Event InvalidSpec (before: no phase, no status, no Event, forever). Fixing the spec clears
Valid=False and the runtime becomes Ready."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from temporalio.client import Client

from workers.operator import Operator
from xtrinode.lifecycle import workflow_id_for
from xtrinode.models import API_GROUP, API_VERSION

from .lifecycle_helpers import Cluster, eventually, runtime_body, tpch_catalog

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]
CRD = Path(__file__).resolve().parents[3] / "deploy" / "crds" / "xtrinodes.analytics.xtrinode.io.yaml"


def _without_rules(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_rules(v) for k, v in node.items() if k != "x-kubernetes-validations"}
    if isinstance(node, list):
        return [_without_rules(v) for v in node]
    return node


@pytest.fixture
def older_crd(api_client: client.ApiClient, namespace: str) -> Iterator[None]:
    """The XTrinode CRD without its CEL rules and name limits for the test; the real one again after.
    A real API server applies a replaced CRD's schema a moment later (its CRD handler learns of it by
    watch), so each replacement waits until a dry-run create shows the schema it installed."""
    ext = client.ApiextensionsV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    current = yaml.safe_load(CRD.read_text())
    probe = runtime_body(namespace, "schema-probe", minWorkers=3, maxWorkers=1)

    def refused() -> bool:
        try:
            custom.create_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "xtrinodes", probe,
                                                   dry_run="All")
        except ApiException as error:
            if error.status == 422:
                return True
            raise
        return False

    def replace(body: dict[str, Any], rules: bool) -> None:
        live = ext.read_custom_resource_definition(body["metadata"]["name"])
        body = copy.deepcopy(body)
        body["metadata"]["resourceVersion"] = live.metadata.resource_version
        ext.replace_custom_resource_definition(body["metadata"]["name"], body)
        deadline = time.monotonic() + 30
        while refused() != rules:
            assert time.monotonic() < deadline, f"the API server did not serve the replaced CRD (rules={rules})"
            time.sleep(0.1)

    older = _without_rules(current)
    older["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["metadata"] = {"type": "object"}
    replace(older, rules=False)
    try:
        yield
    finally:
        replace(current, rules=True)


def _valid(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Valid":
            return dict(condition)
    return None


async def _warning_event(cluster: Cluster, namespace: str, name: str) -> str | None:
    events = await asyncio.to_thread(cluster.core.list_namespaced_event, namespace)
    for event in events.items:
        if event.involved_object.name == name and event.reason == "InvalidSpec" and event.type == "Warning":
            return str(event.message)
    return None


async def test_an_invalid_spec_shows_valid_false_and_an_event_and_a_fix_clears_it(
    api_client: client.ApiClient, namespace: str, operator: Operator, older_crd: None
) -> None:
    cluster = Cluster(api_client)
    await cluster.create(tpch_catalog(namespace))
    long_name = "n" * 45
    await cluster.create(runtime_body(namespace, "bounds", minWorkers=3, maxWorkers=1))
    await cluster.create(runtime_body(namespace, long_name))

    async def invalid(name: str) -> dict[str, Any] | None:
        obj = await cluster.runtime(namespace, name)
        valid = _valid(obj)
        if valid is None or valid["status"] != "False" or (obj or {})["status"].get("phase") != "Error":
            return None
        return valid

    bounds = await eventually(lambda: invalid("bounds"), "bounds: Valid=False", timeout=5)
    assert bounds["reason"] == "InvalidSpec" and "minWorkers (3) is greater than maxWorkers (1)" in bounds["message"]
    named = await eventually(lambda: invalid(long_name), "the long name: Valid=False", timeout=5)
    assert "at most 40 characters" in named["message"]
    assert "minWorkers" in await eventually(lambda: _warning_event(cluster, namespace, "bounds"), "an Event", timeout=5)
    assert "40 characters" in await eventually(lambda: _warning_event(cluster, namespace, long_name), "an Event",
                                               timeout=5)

    await cluster.patch_spec(namespace, "bounds", {"minWorkers": 1})

    async def fixed() -> bool:
        obj = await cluster.runtime(namespace, "bounds")
        valid = _valid(obj)
        return (valid is None or valid["status"] == "True") and (obj or {})["status"].get("phase") == "Ready"

    await eventually(fixed, "bounds Ready with Valid=False cleared", timeout=90)


async def test_a_runtime_whose_spec_no_longer_validates_still_deletes_when_its_run_is_gone(
    api_client: client.ApiClient, namespace: str, operator: Operator, older_crd: None, temporal_client: Client
) -> None:
    """A Ready runtime's spec is made invalid (past an older CRD), its workflow is terminated by hand, then
    the XTrinode is deleted: the run the deletion starts has no spec it can read, yet it stops the pods,
    removes the objects and releases the finalizer (before: every workflow task of that run failed on
    the missing spec and the XTrinode stayed Terminating forever)."""
    cluster = Cluster(api_client)
    await cluster.create_runtime(namespace, "lapsed")
    assert await cluster.pods(namespace, "lapsed") > 0
    await cluster.patch_spec(namespace, "lapsed", {"minWorkers": 3, "maxWorkers": 1})
    await eventually(lambda: _invalid(cluster, namespace, "lapsed"), "Valid=False", timeout=5)
    await temporal_client.get_workflow_handle(workflow_id_for(namespace, "lapsed")).terminate("by hand")
    await cluster.delete(namespace, "lapsed")

    async def gone() -> bool:
        return await cluster.runtime(namespace, "lapsed") is None

    await eventually(gone, "XTrinode removed", timeout=60)
    assert await cluster.pods(namespace, "lapsed") == 0
    assert await cluster.replicas(namespace, "trino-lapsed-coordinator") is None
    assert await cluster.route_state(namespace, "lapsed") is None


async def _invalid(cluster: Cluster, namespace: str, name: str) -> bool:
    valid = _valid(await cluster.runtime(namespace, name))
    return valid is not None and valid["status"] == "False"
