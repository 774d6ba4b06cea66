"""`ClusterApi`: the kubelet's only door to the Kubernetes API — the official client in a small thread pool.

Returns plain JSON dicts; a missing object is None, any other failure `ClusterApiError` with the
HTTP status and the server's message, cut short (converted here, at the edge).
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from .objects import JsonDict

__all__ = ["ClusterApi", "ClusterApiError"]


class ClusterApiError(Exception):
    """A Kubernetes API call the kubelet could not make; the next sync tries again."""

    def __init__(self, action: str, error: ApiException) -> None:
        self.status = int(error.status or 0)
        body = (error.body or "") if isinstance(error.body, str) else ""
        try:
            message = str(json.loads(body).get("message", ""))
        except ValueError:
            message = body
        super().__init__(f"{action}: HTTP {self.status} {error.reason}: {message[:200]}")


class ClusterApi:
    """Typed calls the kubelet makes; every call runs on the pool so the event loop never blocks."""

    def __init__(self, kubeconfig: Path, threads: int = 4) -> None:
        try:
            self.client = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError) as e:
            raise RuntimeError(
                f"cannot load kubeconfig {str(kubeconfig)!r}: {e}; pass the file the Kubernetes API emulator wrote "
                "(--kubeconfig)"
            ) from e
        self.core = client.CoreV1Api(self.client)
        self.apps = client.AppsV1Api(self.client)
        self.discovery = client.DiscoveryV1Api(self.client)
        self.coordination = client.CoordinationV1Api(self.client)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="kubelet-api")

    async def run(self, fn: Callable[[], Any]) -> Any:
        """Run a blocking callable on the pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()

    async def _json(self, action: str, fn: Callable[..., Any], *args: Any, missing_ok: bool = True,
                    **kwargs: Any) -> JsonDict | None:
        def call() -> JsonDict:
            response = fn(*args, _preload_content=False, **kwargs)
            try:
                result: JsonDict = json.loads(response.data)
            finally:
                response.release_conn()
            return result

        try:
            result: JsonDict | None = await self.run(functools.partial(call))
        except ApiException as e:
            if e.status == 404 and missing_ok:
                return None
            raise ClusterApiError(action, e) from e
        return result

    async def read_objects(
        self, namespace: str, config_maps: set[str], secrets: set[str]
    ) -> tuple[dict[str, JsonDict], dict[str, JsonDict]]:
        """The named ConfigMaps and Secrets of a namespace; missing ones are left out."""
        found: tuple[dict[str, JsonDict], dict[str, JsonDict]] = ({}, {})
        for names, read, into, kind in ((config_maps, self.core.read_namespaced_config_map, found[0], "configmap"),
                                        (secrets, self.core.read_namespaced_secret, found[1], "secret")):
            for name in sorted(names):
                obj = await self._json(f"read {kind} {namespace}/{name}", read, name, namespace)
                if obj is not None:
                    into[name] = obj
        return found

    async def create_pod(self, namespace: str, body: JsonDict) -> JsonDict:
        created = await self._json(f"create pod in {namespace}", self.core.create_namespaced_pod, namespace, body,
                                   missing_ok=False)
        assert created is not None
        return created

    async def delete_pod(self, namespace: str, name: str) -> JsonDict | None:
        """The pod as it lingers (with deletionTimestamp), a Status when it went at once, None if missing."""
        return await self._json(f"delete pod {namespace}/{name}", self.core.delete_namespaced_pod, name, namespace)

    async def delete_pod_now(self, namespace: str, name: str, uid: str) -> None:
        """The kubelet's last word on a pod whose process is gone: DELETE with grace period 0 (only this
        incarnation, by uid); the API server then removes it. A missing pod is fine."""
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        try:
            await self._json(f"remove pod {namespace}/{name}", self.core.delete_namespaced_pod, name, namespace,
                             body=body)
        except ClusterApiError as e:
            if e.status != 409:  # 409: another pod of that name by now (the uid precondition failed)
                raise

    async def serves_replicasets(self) -> bool:
        """Whether the API server offers apps/v1 ReplicaSets: a real control plane (with a Deployment
        controller) does, the devstack's emulator does not."""
        try:
            found = await self._json("discover apps/v1", self.apps.get_api_resources, missing_ok=False)
        except ClusterApiError as e:
            if e.status == 404:
                return False
            raise
        return any(r.get("name") == "replicasets" for r in (found or {}).get("resources") or [])

    async def read_node(self, name: str) -> JsonDict | None:
        return await self._json(f"read node {name}", self.core.read_node, name)

    async def create_node(self, body: JsonDict) -> JsonDict | None:
        return await self._json(f"register node {body['metadata']['name']}", self.core.create_node, body,
                                missing_ok=False)

    async def patch_node(self, name: str, patch: JsonDict) -> JsonDict | None:
        return await self._json(f"update node {name}", self.core.patch_node, name, patch)

    async def patch_node_status(self, name: str, status: JsonDict) -> JsonDict | None:
        return await self._json(f"write status of node {name}", self.core.patch_node_status, name,
                                {"status": status})

    async def renew_lease(self, namespace: str, name: str, spec: JsonDict, owner: JsonDict | None) -> None:
        """Patch the Lease's spec, creating it the first time."""
        action = f"renew lease {namespace}/{name}"
        if await self._json(action, self.coordination.patch_namespaced_lease, name, namespace,
                            {"spec": spec}) is None:
            meta: JsonDict = {"name": name, "namespace": namespace}
            if owner is not None:
                meta["ownerReferences"] = [owner]
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}
            await self._json(action, self.coordination.create_namespaced_lease, namespace, body, missing_ok=False)

    async def remove_pod_finalizer(self, namespace: str, name: str, finalizer: str) -> None:
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [finalizer]}}
        await self._json(f"remove finalizer of pod {namespace}/{name}", self.core.patch_namespaced_pod, name,
                         namespace, patch)

    async def patch_pod_status(self, namespace: str, name: str, status: JsonDict) -> JsonDict | None:
        return await self._json(f"write status of pod {namespace}/{name}", self.core.patch_namespaced_pod_status,
                                name, namespace, {"status": status})

    async def patch_deployment_status(self, namespace: str, name: str, status: JsonDict) -> JsonDict | None:
        return await self._json(f"write status of deployment {namespace}/{name}",
                                self.apps.patch_namespaced_deployment_status, name, namespace, {"status": status})

    async def put_endpoints(self, namespace: str, name: str, body: JsonDict) -> None:
        """Replace the Endpoints, or create them the first time."""
        action = f"write endpoints {namespace}/{name}"
        if await self._json(action, self.core.replace_namespaced_endpoints, name, namespace, body) is None:
            await self._json(action, self.core.create_namespaced_endpoints, namespace, body, missing_ok=False)

    async def delete_endpoints(self, namespace: str, name: str) -> None:
        await self._json(f"delete endpoints {namespace}/{name}", self.core.delete_namespaced_endpoints, name, namespace)

    async def list_endpoint_slices(self, label_selector: str) -> list[JsonDict]:
        """EndpointSlices of every namespace matching the selector."""
        found = await self._json("list endpointslices", self.discovery.list_endpoint_slice_for_all_namespaces,
                                 missing_ok=False, label_selector=label_selector)
        assert found is not None
        return list(found.get("items") or [])

    async def put_endpoint_slice(self, namespace: str, name: str, body: JsonDict) -> None:
        """Replace the EndpointSlice, or create it the first time."""
        action = f"write endpointslice {namespace}/{name}"
        if await self._json(action, self.discovery.replace_namespaced_endpoint_slice, name, namespace, body) is None:
            await self._json(action, self.discovery.create_namespaced_endpoint_slice, namespace, body,
                             missing_ok=False)

    async def delete_endpoint_slice(self, namespace: str, name: str) -> None:
        await self._json(f"delete endpointslice {namespace}/{name}", self.discovery.delete_namespaced_endpoint_slice,
                         name, namespace)
