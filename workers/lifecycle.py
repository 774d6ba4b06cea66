"""The lifecycle worker: a Temporal worker on task queue `xtrinode-lifecycle` that runs the
RuntimeWorkflow, its step workflows and the Kubernetes and Trino activities.

`xtrinode worker` runs it as a process; tests and the devstack use `LifecycleWorker` in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from types import TracebackType

import aiohttp
from kubernetes import client, config
from prometheus_client import REGISTRY
from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.kube import KubeActivitySettings, KubernetesActivities
from activities.payloads import RuntimeRef, ScaleInput
from activities.trino import TrinoActivities
from workflows.runtime import RuntimeWorkflow
from workers.deployments import DeploymentWatch
from workflows.steps import STEP_WORKFLOWS
from workers.health import HealthServer
from workers.temporal_metrics import TemporalSdkMetrics
from xtrinode.render import RenderSettings, coordinator_deployment_name, worker_deployment_name
from xtrinode.temporal import TemporalSettings, add_temporal_arguments, connect_client, temporal_settings_from_args
from xtrinode.tracing import start_process

__all__ = ["WorkerSettings", "LifecycleWorker", "kube_api_client", "main", "settings_from_args", "workflow_runner"]

log = logging.getLogger("xtrinode.lifecycle")


class WorkerSettings(BaseModel):
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    kubeconfig: Path | None = Field(default=None, description="kubeconfig path; None = in-cluster config.")
    gateway_namespace: str = Field(default="xtrinode-gateway", description="Namespace of the routes ConfigMap.")
    gateway_url: str | None = Field(default=None, description="Gateway base URL for held-query demand.")
    namespaces: tuple[str, ...] = Field(
        default=(), description="Namespaces of the runtimes (the Deployment watch); empty = all.")
    render: RenderSettings | None = Field(
        default=None, description="Where the rest of XTrinode lives, for rendered objects; None = the defaults "
        "with gateway_namespace.")
    health_port: int | None = Field(default=None, description="Port of /healthz, /readyz, /metrics; None = none.")
    activity_threads: int = Field(default=16, ge=1, description="Threads for the blocking Kubernetes activities.")
    graceful_shutdown: timedelta = Field(default=timedelta(seconds=10))


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox with pydantic passed through (notes/temporal.md section 6)."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("pydantic", "xtrinode", "activities"))


def kube_api_client(kubeconfig: Path | None) -> client.ApiClient:
    if kubeconfig is None:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        return client.ApiClient()
    api: client.ApiClient = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    return api


class LifecycleWorker:
    """`async with LifecycleWorker(client, settings):` runs the worker until the block ends.

    `resolve` maps an in-cluster Service URL to where to connect (identity in a cluster; the devstack
    passes its service map).
    """

    def __init__(self, temporal: Client, settings: WorkerSettings,
                 resolve: Callable[[str], str] | None = None) -> None:
        self.temporal = temporal
        self.settings = settings
        self._resolve: Callable[[str], str] = resolve or (lambda url: url)
        self._api: client.ApiClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._worker: Worker | None = None
        self._task: asyncio.Task[None] | None = None
        self._deployments: DeploymentWatch | None = None

    async def start(self) -> None:
        settings = self.settings
        self._api = kube_api_client(settings.kubeconfig)
        render = settings.render or RenderSettings(gateway_namespace=settings.gateway_namespace)
        kube = KubernetesActivities(self._api, KubeActivitySettings(gateway_namespace=settings.gateway_namespace,
                                                                    render=render))
        self._session = aiohttp.ClientSession()

        self._deployments = deployments = DeploymentWatch(self._api, namespaces=settings.namespaces)
        await deployments.start()

        def coordinator_available(ref: RuntimeRef) -> int:
            watched = deployments.available(ref.namespace, coordinator_deployment_name(ref.name))
            if watched is not None:
                return watched
            return kube.deployment_available(ScaleInput(ref=ref, role="coordinator", replicas=1))

        def workers_available(ref: RuntimeRef) -> int:
            watched = deployments.available(ref.namespace, worker_deployment_name(ref.name))
            if watched is not None:
                return watched
            return kube.deployment_available(ScaleInput(ref=ref, role="worker", replicas=1))

        async def runtime_changed(ref: RuntimeRef, timeout: float) -> None:
            await deployments.changed(ref.namespace, ref.name, timeout)

        trino = TrinoActivities(
            self._session, resolve=self._resolve, secret_reader=kube.secret_value,
            coordinator_available=coordinator_available, runtime_changed=runtime_changed,
            gateway_url=settings.gateway_url, pod_problem=kube.pod_problem, workers_available=workers_available,
            worker_pods=kube.ready_worker_pods, restart_pod=kube.restart_pod,
        )
        self._executor = ThreadPoolExecutor(max_workers=settings.activity_threads, thread_name_prefix="kube-activity")
        self._worker = Worker(
            self.temporal,
            task_queue=settings.temporal.task_queue,
            workflows=[RuntimeWorkflow, *STEP_WORKFLOWS],
            activities=[
                kube.apply_runtime, kube.scale_deployment, kube.deployment_available, kube.wait_pods_gone,
                kube.set_keda_paused, kube.set_route, kube.patch_status, kube.emit_event, kube.set_finalizer,
                kube.delete_owned, kube.stop_pods, trino.wait_coordinator_ready, trino.query_activity,
                trino.drain_queries, trino.kill_queries,
            ],
            activity_executor=self._executor,
            workflow_runner=workflow_runner(),
            graceful_shutdown_timeout=settings.graceful_shutdown,
        )
        self._task = asyncio.create_task(self._worker.run(), name="lifecycle-worker")

    def not_ready(self) -> str | None:
        """Why the worker is not ready (None when it polls its task queue and has listed the Deployments)."""
        if self._task is None or self._task.done():
            return "the Temporal worker is not running"
        if self._deployments is None or not self._deployments.synced:
            return "the Deployment watch has not listed yet"
        return None

    async def stop(self) -> None:
        if self._worker is not None and self._task is not None:
            await self._worker.shutdown()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._deployments is not None:
            await self._deployments.stop()
        if self._session is not None:
            await self._session.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        if self._api is not None:
            self._api.close()  # type: ignore[no-untyped-call]
        self._worker = self._task = self._session = self._executor = self._api = None
        self._deployments = None

    async def __aenter__(self) -> LifecycleWorker:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xtrinode worker", description=__doc__)
    add_temporal_arguments(parser)
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig path (default: in-cluster)")
    parser.add_argument("--namespace", action="append", default=[],
                        help="namespace of runtimes (repeatable; default all): scopes the Deployment watch")
    parser.add_argument("--gateway-namespace", default="xtrinode-gateway", help="namespace of the gateway and routes")
    parser.add_argument("--gateway-url", help="gateway base URL, for queries it holds (autosuspend demand)")
    parser.add_argument("--gateway-service", default="xtrinode-gateway", help="gateway Service (KEDA http scaler)")
    parser.add_argument("--gateway-internal-port", type=int, default=8081, help="gateway internal port (KEDA http)")
    parser.add_argument("--control-plane-namespace", default="xtrinode-system",
                        help="namespace of the operator and workers (runtimes admit their control calls)")
    parser.add_argument("--monitoring-namespace", default="monitoring", help="namespace of Prometheus (scrapes)")
    parser.add_argument("--dns-namespace", default="kube-system", help="namespace of the cluster DNS")
    parser.add_argument("--cluster-domain", default="cluster.local")
    parser.add_argument("--release-name", default="xtrinode", help="{releaseName} in KEDA Prometheus queries")
    parser.add_argument("--health-port", type=int, help="serve /healthz, /readyz and /metrics on this port")
    return parser


async def _serve(settings: WorkerSettings, resolve: Callable[[str], str] | None) -> None:
    sdk_metrics = TemporalSdkMetrics()  # the Temporal SDK's metrics on this process's /metrics
    REGISTRY.register(sdk_metrics)
    temporal = await connect_client(settings.temporal, runtime=sdk_metrics.runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with LifecycleWorker(temporal, settings, resolve) as worker, contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(sdk_metrics.draining())
        if settings.health_port is not None:
            await stack.enter_async_context(HealthServer(settings.health_port, worker.not_ready))
        log.info("lifecycle worker running on task queue %s", settings.temporal.task_queue)
        print(f"xtrinode lifecycle worker ready on task queue {settings.temporal.task_queue}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None, *, resolve: Callable[[str], str] | None = None) -> int:
    """`xtrinode worker`; `resolve` maps Service URLs to where to connect (the devstack passes its own)."""
    settings = settings_from_args(argv)
    start_process("xtrinode-worker")
    asyncio.run(_serve(settings, resolve))
    return 0


def settings_from_args(argv: Sequence[str] | None) -> WorkerSettings:
    """The worker's settings from its flags (the Temporal API key from $XTRINODE_TEMPORAL_API_KEY)."""
    args = _parser().parse_args(argv)
    render = RenderSettings(
        gateway_namespace=args.gateway_namespace, control_plane_namespace=args.control_plane_namespace,
        monitoring_namespace=args.monitoring_namespace, dns_namespace=args.dns_namespace,
        cluster_domain=args.cluster_domain, release_name=args.release_name, gateway_service=args.gateway_service,
        gateway_port=args.gateway_internal_port,
    )
    return WorkerSettings(
        temporal=temporal_settings_from_args(args), kubeconfig=args.kubeconfig,
        gateway_namespace=args.gateway_namespace, gateway_url=args.gateway_url, namespaces=tuple(args.namespace),
        render=render, health_port=args.health_port,
    )
