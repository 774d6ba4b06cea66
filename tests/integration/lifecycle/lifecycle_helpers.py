"""Helpers for lifecycle tests: create runtimes and catalogs, read status and routes, query a
runtime with the real `trino` client through the kubelet's service map, poll with deadlines."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from tests import polling
import trino
from kubernetes import client
from kubernetes.client.exceptions import ApiException

import yaml
from temporalio.testing import WorkflowEnvironment

from devstack.kubelet import Kubelet
from devstack.resolver import ServiceResolver
from gateway import GatewaySettings
from gateway.cli import start_serving
from xtrinode.models import API_GROUP, API_VERSION, ROUTES_CONFIGMAP, ROUTES_KEY, RouteTable

T = TypeVar("T")
GATEWAY_NS = "xtrinode-gateway"


async def eventually(probe: Callable[[], Awaitable[T | None] | T | None], what: str, timeout: float = 60.0,
                     interval: float = 0.2) -> T:
    """Poll `probe` until it returns something truthy; the lifecycle waits longer (tests/polling.py)."""
    return await polling.eventually(probe, what, timeout, interval)


def runtime_body(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "XTrinode",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"size": "xs", "maxWorkers": 1, "autoSuspendAfter": "0",
                 "gracefulShutdown": {"gracePeriodSeconds": 1, "maxDrainSeconds": 30},
                 "catalogSelector": {"matchLabels": {"catalog-set": "demo"}}, **spec},
    }


def tpch_catalog(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "XTrinodeCatalog",
        "metadata": {"name": "tpch", "namespace": namespace},
        "spec": {"labels": {"catalog-set": "demo"}, "connector": {"tpch": {}}},
    }


class Cluster:
    """Blocking calls through the official client, run off the event loop."""

    def __init__(self, api: client.ApiClient) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)

    async def create(self, body: dict[str, Any]) -> None:
        plural = "xtrinodes" if body["kind"] == "XTrinode" else "xtrinodecatalogs"
        await asyncio.to_thread(self.custom.create_namespaced_custom_object, API_GROUP, API_VERSION,
                                body["metadata"]["namespace"], plural, body)

    async def patch_spec(self, namespace: str, name: str, spec: dict[str, Any]) -> None:
        await asyncio.to_thread(self.custom.patch_namespaced_custom_object, API_GROUP, API_VERSION, namespace,
                                "xtrinodes", name, {"spec": spec})

    async def delete(self, namespace: str, name: str) -> None:
        await asyncio.to_thread(self.custom.delete_namespaced_custom_object, API_GROUP, API_VERSION, namespace,
                                "xtrinodes", name)

    async def runtime(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await asyncio.to_thread(
                self.custom.get_namespaced_custom_object, API_GROUP, API_VERSION, namespace, "xtrinodes", name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return result

    async def phase(self, namespace: str, name: str) -> str | None:
        obj = await self.runtime(namespace, name)
        return ((obj or {}).get("status") or {}).get("phase")

    async def wait_phase(self, namespace: str, name: str, phase: str, timeout: float = 90) -> None:
        async def reached() -> bool:
            return await self.phase(namespace, name) == phase

        await eventually(reached, f"{namespace}/{name} in phase {phase}", timeout=timeout)

    async def create_runtime(self, namespace: str, name: str, phase: str = "Ready", **spec: Any) -> None:
        """The tpch catalog and a runtime using it, created through the API; returns once it shows `phase`."""
        await self.create(tpch_catalog(namespace))
        await self.create(runtime_body(namespace, name, **spec))
        await self.wait_phase(namespace, name, phase)

    async def route_state(self, namespace: str, name: str) -> str | None:
        try:
            cm = await asyncio.to_thread(self.core.read_namespaced_config_map, ROUTES_CONFIGMAP, GATEWAY_NS)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        table = RouteTable.from_yaml((cm.data or {}).get(ROUTES_KEY, ""))
        for entry in table.routes:
            if entry.namespace == namespace and entry.name == name:
                return entry.state
        return None

    async def replicas(self, namespace: str, deployment: str) -> int | None:
        try:
            dep = await asyncio.to_thread(self.apps.read_namespaced_deployment, deployment, namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return int(dep.spec.replicas or 0)

    def leftovers(self, namespace: str) -> list[str]:
        """`Kind/name` of what is in the namespace besides what every namespace has (its `default`
        ServiceAccount): pods, workloads, ReplicaSets (real control plane), Services, Endpoints(Slices),
        ConfigMaps, Secrets, PDBs, NetworkPolicies and our custom objects. Events are left out."""
        from kubernetes.dynamic import DynamicClient
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        dynamic = DynamicClient(self.core.api_client)
        found = []
        for api_version, kind in (("v1", "Pod"), ("apps/v1", "Deployment"), ("apps/v1", "ReplicaSet"),
                                  ("v1", "Service"), ("v1", "Endpoints"), ("discovery.k8s.io/v1", "EndpointSlice"),
                                  ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "ServiceAccount"),
                                  ("policy/v1", "PodDisruptionBudget"), ("networking.k8s.io/v1", "NetworkPolicy"),
                                  (f"{API_GROUP}/{API_VERSION}", "XTrinode"),
                                  (f"{API_GROUP}/{API_VERSION}", "XTrinodeCatalog")):
            try:
                resource = dynamic.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                continue  # the emulator has no ReplicaSets
            for item in resource.get(namespace=namespace).items:
                if (kind, item.metadata.name) != ("ServiceAccount", "default"):
                    found.append(f"{kind}/{item.metadata.name}")
        return sorted(found)

    async def pods(self, namespace: str, name: str) -> int:
        pods = await asyncio.to_thread(self.core.list_namespaced_pod, namespace,
                                       label_selector=f"app.kubernetes.io/instance={name}")
        return len(pods.items)


def query(services_file: Path, namespace: str, name: str, sql: str) -> list[Any]:
    """Run `sql` with the real trino client against the runtime's coordinator Service."""
    resolver = ServiceResolver(services_file)
    addresses = resolver.addresses(f"trino-{name}.{namespace}.svc.cluster.local", 8080)
    assert addresses, f"no ready address for trino-{name}.{namespace} in {services_file}"
    host, port = addresses[0].rsplit(":", 1)
    return run_sql(host, int(port), sql)


def run_sql(host: str, port: int, sql: str, user: str = "test", headers: dict[str, str] | None = None) -> list[Any]:
    """All rows of `sql` through the real trino client (DB-API)."""
    conn = trino.dbapi.connect(host=host, port=port, user=user, http_scheme="http", http_headers=headers)
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def serve_gateway(kubeconfig: Any, kubelet: Kubelet, temporal_env: WorkflowEnvironment,
                        auth: dict[str, Any] | None = None) -> AsyncIterator[int]:
    """The production gateway app on a free port (its port), routing through the kubelet's service map;
    `auth` is the gateway's `auth:` settings (off when None)."""
    settings = GatewaySettings.model_validate(yaml.safe_load(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": 0},
        "kube": {"kubeconfig": str(kubeconfig)},
        "routes": {"namespace": GATEWAY_NS},
        "temporal": {"address": temporal_env.client.service_client.config.target_host},
        "health": {"interval": "1s", "timeout": "1s"}, "internal": {"host": "127.0.0.1", "port": 0},
        **({"auth": auth} if auth else {}),
    })))
    serving = await start_serving(settings, ServiceResolver(kubelet.settings.services_file).resolve_url)
    try:
        yield serving.port
    finally:
        await serving.close(2.0)
