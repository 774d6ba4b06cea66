"""Helpers for the kubelet tests: blocking calls off the loop, polling with a deadline, the rendered
minimal runtime applied with the official client, pod pids and liveness, small kubelet settings.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from tests import polling
import aiohttp
import yaml
from kubernetes import client

from devstack.kubelet import Kubelet, KubeletSettings
from devstack.kubelet.podips import POD_NETWORK
from devstack.resolver import API_POD_NETWORK, ServiceResolver
from xtrinode.models import XTrinode, XTrinodeCatalog
from xtrinode.render import render_runtime

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "deploy" / "examples"
T = TypeVar("T")


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking call (official client, trino client) on a private thread that is gone afterwards."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-blocking") as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, lambda: fn(*args, **kwargs))


async def eventually(probe: Callable[[], Awaitable[T | None] | T | None], what: str, timeout: float = 15.0,
                     interval: float = 0.1) -> T:
    """Poll `probe` (sync or async) until it returns something truthy (tests/polling.py)."""
    return await polling.eventually(probe, what, timeout, interval)


def rendered_runtime(namespace: str, name: str = "demo", **spec: Any) -> list[dict[str, Any]]:
    """The minimal example (size xs, tpch catalog) rendered for `namespace` with small timings.

    Owner references to the XTrinode are dropped: no XTrinode object exists in these tests, and the
    API server would garbage-collect the dependents of a missing owner.
    """
    runtime_doc = yaml.safe_load((EXAMPLES / "minimal.yaml").read_text())
    catalog_doc = yaml.safe_load((EXAMPLES / "tpch-catalog.yaml").read_text())
    runtime_doc["metadata"].update(name=name, namespace=namespace, uid=f"uid-{namespace}")
    runtime_doc["spec"].update({"gracefulShutdown": {"gracePeriodSeconds": 1}, "maxWorkers": 1, **spec})
    catalog_doc["metadata"].update(namespace=namespace, uid=f"uid-cat-{namespace}")
    manifests = render_runtime(XTrinode.model_validate(runtime_doc), [XTrinodeCatalog.model_validate(catalog_doc)])
    for manifest in manifests:
        manifest["metadata"].pop("ownerReferences", None)
    return manifests


async def scale_workers_to_zero_once_busy(apps: client.AppsV1Api, namespace: str, worker_url: str,
                                          deployment: str = "trino-demo-worker") -> None:
    """Wait until the worker runs a task of a query (its /v1/task lists one), then scale its Deployment to 0."""
    async with aiohttp.ClientSession() as http:
        async def worker_has_task() -> bool:
            async with http.get(f"{worker_url}/v1/task") as response:
                return bool(await response.json())

        await eventually(worker_has_task, "the worker running a task of the query")
    await blocking(apps.patch_namespaced_deployment_scale, deployment, namespace, {"spec": {"replicas": 0}})


SECRET_VALUE = "s3cr3t-value-for-kubelet-test"


def with_secret_catalog(namespace: str, env_name: str = "CATALOG_DB_PASSWORD") -> list[dict[str, Any]]:
    """The minimal runtime plus a catalog property `${ENV:<env_name>}`; the pods get CATALOG_DB_PASSWORD
    from a secretKeyRef to Secret `db` (SECRET_VALUE). A node refuses to start while the placeholder is unset."""
    manifests = rendered_runtime(namespace)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": namespace},
              "stringData": {"password": SECRET_VALUE}}
    for manifest in manifests:
        if manifest["kind"] == "ConfigMap" and manifest["metadata"]["name"] == "trino-catalog-tpch":
            manifest["data"]["tpch.properties"] += f"tpch.secret-probe=${{ENV:{env_name}}}\n"
        if manifest["kind"] == "Deployment":
            container = manifest["spec"]["template"]["spec"]["containers"][0]
            container.setdefault("env", []).append(
                {"name": "CATALOG_DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}})
    return [secret, *manifests]


def apply_manifests(api_client: client.ApiClient, namespace: str, manifests: list[dict[str, Any]]) -> None:
    """Create what the kubelet acts on (ServiceAccounts, ConfigMaps, Secrets, Services, Deployments) with the
    official client (a real API server refuses pods whose ServiceAccount is missing)."""
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    creators = {
        "ServiceAccount": core.create_namespaced_service_account,
        "ConfigMap": core.create_namespaced_config_map,
        "Secret": core.create_namespaced_secret,
        "Service": core.create_namespaced_service,
        "Deployment": apps.create_namespaced_deployment,
    }
    for manifest in manifests:
        create = creators.get(manifest["kind"])
        if create is not None:
            create(namespace, manifest)


def kubelet_settings(kubeconfig: Path, state_dir: Path, namespace: str, **overrides: Any) -> KubeletSettings:
    values: dict[str, Any] = {
        "kubeconfig": kubeconfig, "state_dir": state_dir, "namespaces": (namespace,),
        "node_name": f"node-{namespace}", "readiness_poll_interval": timedelta(seconds=0.2),
        "emulator_args": ("--announce-interval", "1s", "--node-poll-interval", "1s"),
        **overrides,
    }
    return KubeletSettings(**values)




async def resolved(resolver: Any, url: str) -> str:
    """`resolver.resolve_url(url)` once services.json maps it to a local ready address."""
    return await eventually(lambda: (local := resolver.resolve_url(url)) != url and local,
                            f"{url} in services.json with a ready address")


def pod_pid(pod: Any) -> int | None:
    """The local pid the kubelet reports in the container status (`xtrinode-devstack://<pid>`)."""
    statuses = (pod.status.container_statuses if pod.status else None) or []
    for status in statuses:
        if status.container_id and status.container_id.startswith("xtrinode-devstack://"):
            return int(status.container_id.rsplit("/", 1)[1])
    return None


def alive(pid: int) -> bool:
    """Whether a process exists (signal 0); a zombie of ours would count, but the kubelet reaps."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def pods_of(core: client.CoreV1Api, namespace: str, component: str) -> list[Any]:
    selector = f"app.kubernetes.io/component={component}"
    return list(core.list_namespaced_pod(namespace, label_selector=selector).items)


def local_pod_ip(kubelet: Kubelet, ip: str | None, port: int = 8080) -> str:
    """Where the pod with API podIP `ip` listens: the same address on the emulator, checked to be a pod-network
    address (not the node's 127.0.0.1); as node agent the loopback address services.json maps its 192.0.2.x to."""
    assert ip is not None
    if kubelet.node_agent:
        assert ipaddress.IPv4Address(ip) in API_POD_NETWORK, f"{ip!r} is not a podIP in {API_POD_NETWORK}"
        mapped = ServiceResolver(kubelet.settings.services_file).addresses(ip, port)
        assert mapped is not None and len(mapped) == 1, f"{ip}:{port} maps to one local address, got {mapped}"
        ip = mapped[0].rsplit(":", 1)[0]
    assert ipaddress.IPv4Address(ip) in POD_NETWORK, f"{ip!r} is not a pod IP in {POD_NETWORK}"
    return ip
