"""The kubelet with `trino_home`: pods run a real Trino 476 (`bin/launcher run`, a JVM per pod) from
the rendered config, each bound to its own podIP on port 8080. The rendered runtime becomes Ready, the
real `trino` client runs a tpch query that needs the worker (the coordinator does not schedule work
on itself), so the worker found the coordinator through the Service; scaling the workers to zero
drains the worker through its preStop hook (allowed by the rendered access control, which Trino's
default would refuse); deleting the Deployments stops the JVMs. Slow (two JVMs start in about a minute on 2 cores) and needs Java 24+; the Trino server is
downloaded once by scripts/fetch-trino.sh into the user's cache.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
import trino
from kubernetes import client

from kubelet_helpers import (
    alive, apply_manifests, blocking, eventually, kubelet_settings, local_pod_ip, pod_pid, rendered_runtime,
)
from devstack.kubelet import Kubelet
from devstack.resolver import ServiceResolver
from tests.real_trino import require_java
from tests.real_trino import trino_home as fetch_trino_home

pytestmark = [pytest.mark.slow, pytest.mark.real_trino]


@pytest.fixture(scope="session")
def java_home() -> Path:
    return require_java()


@pytest.fixture(scope="session")
def trino_home() -> Path:
    return fetch_trino_home()


def _ready_pods(core: client.CoreV1Api, namespace: str) -> dict[str, Any] | None:
    pods = core.list_namespaced_pod(namespace).items
    ready = {p.metadata.name: p for p in pods
             if p.status and p.status.container_statuses and p.status.container_statuses[0].ready}
    return ready if len(pods) == 2 and len(ready) == 2 else None


def _count_nations(url: str) -> int | None:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        with trino.dbapi.connect(host=host, port=int(port), user="alice", http_scheme="http") as conn:
            cursor = conn.cursor()
            cursor.execute("SELECT count(*) FROM tpch.tiny.nation")
            return int(cursor.fetchall()[0][0])
    except trino.exceptions.TrinoQueryError as e:
        if e.error_name == "NO_NODES_AVAILABLE":  # the worker has not announced itself yet
            return None
        raise


@pytest.mark.timeout(600)
async def test_pods_run_real_trino_that_answers_the_trino_client(
    kubeconfig: Path, tmp_path: Path, api_client: client.ApiClient, core: client.CoreV1Api,
    apps: client.AppsV1Api, namespace: str, trino_home: Path, java_home: Path, no_leaked_threads: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="devstack.kubelet.pods")
    settings = kubelet_settings(kubeconfig, tmp_path / "kubelet", namespace, trino_home=trino_home,
                                java_home=java_home)
    async with Kubelet(settings) as kubelet:
        await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
        started = time.monotonic()
        pods = await eventually(lambda: blocking(_ready_pods, core, namespace), "both real Trino pods Ready",
                                timeout=300, interval=1.0)
        ready_after = time.monotonic() - started
        pids = {name: pod_pid(pod) for name, pod in pods.items()}
        for name, pid in pids.items():
            assert pid is not None and alive(pid)
            assert Path(f"/proc/{pid}/comm").read_text().startswith("trino-server"), f"{name} runs a JVM Trino"
            assert local_pod_ip(kubelet, pods[name].status.pod_ip) != "127.0.0.1"

        resolver = ServiceResolver(settings.services_file)
        url = resolver.resolve_url(f"http://trino-demo.{namespace}.svc.cluster.local:8080")
        coordinator = next(p for p in pods.values() if p.metadata.labels["app.kubernetes.io/component"] == "coordinator")
        assert url == f"http://{local_pod_ip(kubelet, coordinator.status.pod_ip)}:8080", \
            "real Trino listens on its podIP, real port"
        count = await eventually(lambda: blocking(_count_nations, url), "the tpch query to run on the worker",
                                 timeout=120, interval=1.0)
        assert count == 25
        log_text = (settings.logs_dir / f"{namespace}_{coordinator.metadata.name}.log").read_text()
        assert "SERVER STARTED" in log_text

        # Scale-down: the preStop hook drains the worker. Real Trino lets only the control user do that,
        # through the access control the render ships; the worker then shuts itself down.
        worker = next(p for p in pods.values() if p.metadata.labels["app.kubernetes.io/component"] == "worker")
        worker_pid = pids[worker.metadata.name]
        assert worker_pid is not None
        await blocking(apps.patch_namespaced_deployment_scale, "trino-demo-worker", namespace,
                       {"spec": {"replicas": 0}})
        await eventually(lambda: not alive(worker_pid), "the worker JVM to exit after draining", timeout=120,
                         interval=0.5)
        worker_log = (settings.logs_dir / f"{namespace}_{worker.metadata.name}.log").read_text()
        assert "Shutdown requested" in worker_log, "Trino accepted the preStop PUT SHUTTING_DOWN"
        hooks = [r.getMessage() for r in caplog.records if r.name == "devstack.kubelet.pods"
                 and "preStop" in r.getMessage()]
        assert "preStop hook sent" in hooks and "preStop hook refused" not in hooks, hooks

        for deployment in ("trino-demo-coordinator", "trino-demo-worker"):
            await blocking(apps.delete_namespaced_deployment, deployment, namespace)
        await eventually(lambda: not any(alive(pid) for pid in pids.values() if pid), "the Trino JVMs to exit",
                         timeout=120, interval=0.5)
        assert kubelet.processes() == {}
    print(f"real Trino coordinator and worker Ready in {ready_after:.1f}s")
