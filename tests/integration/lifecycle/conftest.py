"""The lifecycle on real parts: the Kubernetes API emulator with our CRDs, the devstack kubelet
running Trino emulator processes, the Temporal dev server, the lifecycle worker and the operator.

All session-scoped (started once); each test creates its own namespace and runtimes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from temporalio.client import Client

from tests.kube_fixtures import namespace_name
from devstack.resolver import ServiceResolver
from workers.lifecycle import LifecycleWorker, WorkerSettings
from workers.operator import Operator, OperatorSettings
from devstack.kubeapi import ThreadedKubeApiServer
from devstack.kubelet import Kubelet, KubeletSettings
from xtrinode.temporal import TemporalSettings

REPO = Path(__file__).resolve().parents[3]
GATEWAY_NS = "xtrinode-gateway"
SYSTEM_NS = "xtrinode-system"


@pytest.fixture(scope="package")
def kubeapi() -> Iterator[ThreadedKubeApiServer]:
    with ThreadedKubeApiServer() as server:
        yield server


@pytest.fixture(scope="package")
def kubeconfig(kubeapi: ThreadedKubeApiServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kubeapi.write_kubeconfig(tmp_path_factory.mktemp("lifecycle-kube") / "kubeconfig")


@pytest.fixture(scope="package")
def api_client(kubeconfig: Path) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(kubeconfig))
    ext = client.ApiextensionsV1Api(api)
    for path in sorted((REPO / "deploy" / "crds").rglob("*.yaml")):
        ext.create_custom_resource_definition(yaml.safe_load(path.read_text()))
    core = client.CoreV1Api(api)
    for ns in (GATEWAY_NS, SYSTEM_NS):
        core.create_namespace({"metadata": {"name": ns}})
    yield api
    api.close()


@pytest.fixture(scope="package")
async def kubelet(kubeconfig: Path, api_client: client.ApiClient,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Kubelet]:
    settings = KubeletSettings(
        kubeconfig=kubeconfig, state_dir=tmp_path_factory.mktemp("lifecycle-kubelet"),
        readiness_poll_interval=timedelta(seconds=0.2),
        emulator_args=("--announce-interval", "1s", "--node-poll-interval", "1s"),
    )
    async with Kubelet(settings) as running:
        yield running


@pytest.fixture(scope="package")
def lifecycle_queue() -> str:
    return f"xtrinode-lifecycle-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="package")
async def lifecycle(temporal_client: Client, kubeconfig: Path, kubelet: Kubelet,
                    lifecycle_queue: str) -> AsyncIterator[LifecycleWorker]:
    settings = WorkerSettings(
        temporal=TemporalSettings(task_queue=lifecycle_queue), kubeconfig=kubeconfig,
        gateway_namespace=GATEWAY_NS,
        graceful_shutdown=timedelta(seconds=2),
    )
    async with LifecycleWorker(temporal_client, settings, ServiceResolver(kubelet.settings.services_file).resolve_url) as worker:
        yield worker


@pytest.fixture(scope="package")
async def operator(temporal_client: Client, kubeconfig: Path, lifecycle: LifecycleWorker,
                   lifecycle_queue: str) -> AsyncIterator[Operator]:
    settings = OperatorSettings(
        temporal=TemporalSettings(task_queue=lifecycle_queue), kubeconfig=kubeconfig,
        resync_period=timedelta(seconds=30), watch_timeout_seconds=2, lease_namespace=SYSTEM_NS,
        lease_duration=timedelta(seconds=6),
    )
    async with Operator(temporal_client, settings) as running:
        yield running


@pytest.fixture
def namespace(api_client: client.ApiClient, request: pytest.FixtureRequest) -> str:
    name = namespace_name(request)
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    return name
