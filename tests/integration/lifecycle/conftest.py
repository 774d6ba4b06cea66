"""The lifecycle on real parts: a Kubernetes API with our CRDs (the emulator, or the real control plane
with `--kube=real|both`), the devstack kubelet running Trino emulator processes, the Temporal dev
server, the lifecycle worker and the operator.

All package-scoped (started once per backend); each test creates its own namespace and runtimes. On the
real control plane a test's namespace is deleted afterwards (the operator then deletes its runtimes),
and nothing in this process may connect to a node agent's 192.0.2.x pod addresses.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from temporalio.client import Client

from tests.kube_fixtures import create_namespace, delete_namespace, install_crds, is_real, namespace_name
from tests.netguard import no_connects_to
from devstack.resolver import API_POD_NETWORK, ServiceResolver
from workers.lifecycle import LifecycleWorker, WorkerSettings
from workers.operator import Operator, OperatorSettings
from devstack.kubeapi import ThreadedKubeApiServer
from devstack.kubelet import Kubelet, KubeletSettings
from xtrinode.temporal import TemporalSettings

REPO = Path(__file__).resolve().parents[3]
GATEWAY_NS = "xtrinode-gateway"
SYSTEM_NS = "xtrinode-system"


@pytest.fixture(scope="package")
def kubeconfig(kube_backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[Path]:
    path = tmp_path_factory.mktemp(f"lifecycle-kube-{kube_backend}") / "kubeconfig"
    if kube_backend == "real":
        yield Path(request.getfixturevalue("real_kube").write_kubeconfig(path))
        return
    with ThreadedKubeApiServer() as server:
        yield server.write_kubeconfig(path)


def _created(create: Any, *args: Any) -> None:
    """Create, or leave as is what exists (the real control plane is shared by the whole run)."""
    try:
        create(*args)
    except ApiException as e:
        if e.status != 409:
            raise


@pytest.fixture(scope="package")
def api_client(kubeconfig: Path) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(kubeconfig))
    install_crds(api)
    core = client.CoreV1Api(api)
    for ns in (GATEWAY_NS, SYSTEM_NS):
        _created(core.create_namespace, {"metadata": {"name": ns}})
    yield api
    api.close()


@pytest.fixture(autouse=True)
def _no_connects_to_api_pod_addresses(request: pytest.FixtureRequest) -> Iterator[None]:
    """On the real control plane nothing here may connect to a 192.0.2.x pod address (they are mapped)."""
    if not is_real(request):
        yield
        return
    with no_connects_to(API_POD_NETWORK) as attempts:
        yield
    assert attempts == [], f"connections to 192.0.2.x pod addresses: {attempts}"


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
def namespace(api_client: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    core = client.CoreV1Api(api_client)
    name = namespace_name(request)
    create_namespace(core, name)
    yield name
    if is_real(request):
        delete_namespace(core, name)
