"""Server-side apply as the lifecycle uses it, on both backends: the runtime's objects are applied by
field manager `xtrinode`, so another manager's conflicting apply is refused naming it (409); a field
another manager adds (a team's annotation) survives the lifecycle's next apply (suspend and resume),
while the fields xtrinode owns come back to what the spec says."""

from __future__ import annotations

import asyncio
import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .lifecycle_helpers import Cluster
from workers.operator import Operator

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]
APPLY = "application/apply-patch+yaml"


@pytest.fixture
def cluster(api_client: client.ApiClient) -> Cluster:
    return Cluster(api_client)


async def test_other_managers_conflict_with_xtrinode_and_keep_their_own_fields(
    cluster: Cluster, namespace: str, operator: Operator,
) -> None:
    await cluster.create_runtime(namespace, "owned")
    name = "trino-owned-coordinator"
    deployment = await asyncio.to_thread(cluster.apps.read_namespaced_deployment, name, namespace)
    appliers = {(m.manager, m.operation) for m in deployment.metadata.managed_fields}
    assert ("xtrinode", "Apply") in appliers

    def apply(manager: str, body: dict, force: bool = False) -> object:
        return cluster.apps.patch_namespaced_deployment(
            name, namespace, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, **body},
            field_manager=manager, force=force or None, _content_type=APPLY)

    with pytest.raises(ApiException) as e:
        await asyncio.to_thread(apply, "team-a", {"spec": {"template": {"spec": {"containers": [
            {"name": "trino", "image": "example.com/other:1"}]}}}})
    assert e.value.status == 409
    assert 'conflict with "xtrinode"' in json.loads(e.value.body)["message"]

    await asyncio.to_thread(apply, "team-a", {"metadata": {"annotations": {"example.com/owner": "team-a"}}})
    await cluster.patch_spec(namespace, "owned", {"suspended": True})
    await cluster.wait_phase(namespace, "owned", "Suspended")
    await cluster.patch_spec(namespace, "owned", {"suspended": False})
    await cluster.wait_phase(namespace, "owned", "Ready")
    after = await asyncio.to_thread(cluster.apps.read_namespaced_deployment, name, namespace)
    assert after.metadata.annotations["example.com/owner"] == "team-a", "another manager's field survives"
    assert after.spec.replicas == 1, "and xtrinode's fields are what the spec says"
    assert after.spec.template.spec.containers[0].image == deployment.spec.template.spec.containers[0].image
