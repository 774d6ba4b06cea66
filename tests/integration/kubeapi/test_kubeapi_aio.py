"""The official asyncio client (`kubernetes.aio`) against the emulator, as async activities use it.

Checks create/patch/status on a custom resource, a stale replace (409), server-side apply, an
async watch that resumes from a resourceVersion, and `async with KubeApiServer()` on the test's
own loop (seeded namespaces, kubeconfig); every client session is closed by the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes.aio import client, config, watch

from devstack.kubeapi import KubeApiServer


@pytest.fixture
async def aio_api(kubeconfig: Path) -> AsyncIterator[client.ApiClient]:
    api = await config.new_client_from_config(config_file=str(kubeconfig))
    async with api:
        yield api


async def test_async_client_creates_patches_and_conflicts(aio_api: client.ApiClient, widgets: str, namespace: str) -> None:
    custom = client.CustomObjectsApi(aio_api)
    body = {"apiVersion": f"{widgets}/v1", "kind": "Widget", "metadata": {"name": "aw"}, "spec": {"color": "red"}}
    made = await custom.create_namespaced_custom_object(widgets, "v1", namespace, "widgets", body)
    st = await custom.patch_namespaced_custom_object_status(widgets, "v1", namespace, "widgets", "aw", {"status": {"phase": "Running"}})
    assert st["status"] == {"phase": "Running"} and st["metadata"]["generation"] == 1
    stale = {**made, "spec": {"color": "blue"}}
    with pytest.raises(client.ApiException) as e:
        await custom.replace_namespaced_custom_object(widgets, "v1", namespace, "widgets", "aw", stale)
    assert e.value.status == 409
    applied = await custom.patch_namespaced_custom_object(
        widgets, "v1", namespace, "widgets", "aw", {**body, "spec": {"color": "green"}},
        field_manager="async-op", force=True, _content_type="application/apply-patch+yaml",
    )
    assert applied["spec"]["color"] == "green" and applied["metadata"]["generation"] == 2


async def test_async_watch_resumes_from_resource_version(aio_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(aio_api)
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    rv = (await core.list_namespaced_config_map(namespace)).metadata.resource_version
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "b"}})
    await core.delete_namespaced_config_map("a", namespace)
    seen = []
    w = watch.Watch()
    async for ev in w.stream(core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=5):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 2:
            w.stop()
    assert seen == [("ADDED", "b"), ("DELETED", "a")]


async def test_in_process_server_on_the_callers_loop(tmp_path: Path) -> None:
    async with KubeApiServer(port=0) as srv:
        assert srv.url.startswith("http://127.0.0.1:") and srv.port != 0
        srv.seed_namespaces("team-a", "team-b")
        path = srv.write_kubeconfig(tmp_path / "kubeconfig", namespace="team-a")
        api = await config.new_client_from_config(config_file=str(path))
        async with api:
            names = {ns.metadata.name for ns in (await client.CoreV1Api(api).list_namespace()).items}
    assert {"default", "kube-system", "team-a", "team-b"} <= names
