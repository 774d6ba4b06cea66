"""`xtrinode worker` and `xtrinode operator` as the chart runs them: Temporal over mutual TLS from the
flags, and the probe/metrics port.

Checks: behind a TLS terminator that demands a client certificate of our CA (what a self-hosted Temporal
with mTLS does), `connect_client` with the CA, certificate and key files reaches the frontend, and without
the client certificate it is refused; both processes started with `--temporal-tls-*` flags and
`--health-port` answer /healthz, turn /readyz to 200 once connected and listed, and serve Prometheus
/metrics with every metric of tests/metrics_catalog.py and the Temporal SDK's own; the worker's `--namespace` scopes its Deployment watch to the listed namespaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from kubernetes import client
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from tests.metrics_catalog import LIFECYCLE_WORKER, OPERATOR, TEMPORAL_SDK_EXAMPLES, Scraped
from tests.polling import eventually
from tests.tls_pki import TestCA
from workers.deployments import DeploymentWatch
from xtrinode.temporal import TemporalSettings, connect_client
from devstack.ports import free_port as _free_port

REPO = Path(__file__).resolve().parents[3]


@contextlib.asynccontextmanager
async def mtls_terminator(ca: TestCA, upstream: str) -> AsyncIterator[int]:
    """A TLS server (ALPN h2, client certificate of `ca` required) piping bytes to the plain frontend."""
    cert, key = ca.issue("frontend", dns=("localhost",), ips=("127.0.0.1",))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca.ca_file))
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2"])
    host, port = upstream.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    connections: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(handle(reader, writer), name="mtls-terminator-connection")
        connections.add(task)
        task.add_done_callback(connections.discard)

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=context)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for task in list(connections):
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA.create(tmp_path / "pki")


async def test_mutual_tls_reaches_temporal_and_a_missing_client_certificate_is_refused(
    temporal_client: Client, ca: TestCA
) -> None:
    upstream = temporal_client.service_client.config.target_host
    client_crt, client_key = ca.issue("xtrinode-worker", client=True)
    async with mtls_terminator(ca, upstream) as port:
        good = TemporalSettings(address=f"127.0.0.1:{port}", tls_ca_file=ca.ca_file, tls_cert_file=client_crt,
                                tls_key_file=client_key, tls_server_name="localhost")
        connected = await connect_client(good)
        info = await connected.workflow_service.get_system_info(GetSystemInfoRequest())
        assert info.server_version
        no_cert = good.model_copy(update={"tls_cert_file": None, "tls_key_file": None})
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(connect_client(no_cert, fast_fail_retries=True), 30)


@pytest.fixture
def crds(api_client: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api_client)
    for path in sorted((REPO / "deploy" / "crds").glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        with contextlib.suppress(client.ApiException):
            ext.create_custom_resource_definition(body)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:  # their graceful stop is not under test here (it waits out watch timeouts)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


async def test_worker_and_operator_processes_serve_probes_over_mtls_to_temporal(
    temporal_client: Client, ca: TestCA, kubeconfig: Path, namespace: str, crds: None, tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    upstream = temporal_client.service_client.config.target_host
    client_crt, client_key = ca.issue("xtrinode", client=True)
    async with mtls_terminator(ca, upstream) as port, aiohttp.ClientSession() as http:
        tls = ["--temporal-address", f"127.0.0.1:{port}", "--temporal-tls-ca", str(ca.ca_file),
               "--temporal-tls-cert", str(client_crt), "--temporal-tls-key", str(client_key),
               "--temporal-tls-server-name", "localhost", "--task-queue", f"tq-{namespace}"]
        commands = {
            "worker": ["worker", *tls, "--kubeconfig", str(kubeconfig), "--namespace", namespace,
                       "--gateway-namespace", namespace],
            "operator": ["operator", *tls, "--kubeconfig", str(kubeconfig), "--namespace", namespace,
                         "--lease-namespace", namespace],
        }
        ports = {}
        for name, argv in commands.items():
            ports[name] = _free_port()
            with (tmp_path / f"{name}.log").open("wb") as log:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "xtrinode.cli", *argv, "--health-port", str(ports[name])],
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

        async def status(name: str, path: str) -> int | None:
            try:
                async with http.get(f"http://127.0.0.1:{ports[name]}{path}") as response:
                    return response.status
            except aiohttp.ClientConnectionError:
                return None

        async def ready(name: str) -> bool:
            return await status(name, "/readyz") == 200

        for name in commands:
            await eventually(lambda name=name: ready(name), f"{name} /readyz 200 (log {tmp_path / name}.log)",
                             timeout=60)
            assert await status(name, "/healthz") == 200
            async with http.get(f"http://127.0.0.1:{ports[name]}/metrics") as response:
                assert response.status == 200
                text = await response.text()
            assert "python_gc_objects_collected_total" in text
            page = Scraped.parse(text)
            assert page.problems(LIFECYCLE_WORKER if name == "worker" else OPERATOR) == [], name

            async def sdk_metrics(name: str = name) -> bool:  # the Temporal SDK's own, on the same page
                async with http.get(f"http://127.0.0.1:{ports[name]}/metrics") as response:
                    families = Scraped.parse(await response.text()).families
                return all(metric in families for metric in TEMPORAL_SDK_EXAMPLES[name])

            await eventually(sdk_metrics, f"{name} /metrics with {TEMPORAL_SDK_EXAMPLES[name]}", timeout=30)
        for proc in processes:
            assert proc.poll() is None


async def test_the_deployment_watch_covers_only_the_listed_namespaces(
    api_client: client.ApiClient, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    other = f"{namespace}-other"
    core.create_namespace({"metadata": {"name": other}})
    labels = {"app.kubernetes.io/managed-by": "xtrinode", "app.kubernetes.io/instance": "a",
              "app.kubernetes.io/name": "trino"}
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "trino-a-coordinator", "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "trino", "image": "trinodb/trino:476"}]}}}}
    for ns in (namespace, other):
        await asyncio.to_thread(apps.create_namespaced_deployment, ns, body)
    watch = DeploymentWatch(api_client, watch_timeout=2, namespaces=(namespace,))
    await watch.start()
    try:
        await eventually(lambda: watch.available(namespace, "trino-a-coordinator") == 0, "the listed namespace's one")
        assert watch.available(other, "trino-a-coordinator") is None
    finally:
        await watch.stop()
