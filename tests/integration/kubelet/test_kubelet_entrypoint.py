"""`python -m devstack.kubelet` as the devstack runs it: it runs a rendered runtime's pods,
writes services.json, and on SIGTERM exits 0 having stopped every pod process it started.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from kubernetes import client

from kubelet_helpers import alive, apply_manifests, blocking, eventually, pod_pid, rendered_runtime


def _ready_pids(core: client.CoreV1Api, namespace: str) -> list[int] | None:
    pods = core.list_namespaced_pod(namespace).items
    ready = [p for p in pods if p.status and p.status.container_statuses and p.status.container_statuses[0].ready]
    pids = [pid for p in ready if (pid := pod_pid(p)) is not None]
    return pids if len(pids) == 2 else None


async def test_entry_point_runs_pods_and_stops_them_on_sigterm(
    kubeconfig: Path, tmp_path: Path, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    state = tmp_path / "state"
    output = (tmp_path / "kubelet.out").open("wb")
    kubelet = subprocess.Popen(
        [sys.executable, "-m", "devstack.kubelet", "--kubeconfig", str(kubeconfig), "--state-dir", str(state),
         "--namespace", namespace, "--node-name", f"cli-{namespace}", "--readiness-poll-interval", "200ms",
         "--emulator-arg=--announce-interval=1s"],
        stdout=output, stderr=subprocess.STDOUT,
    )
    try:
        await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
        pids = await eventually(lambda: blocking(_ready_pids, core, namespace), "2 ready pods run by the CLI kubelet")
        services = json.loads((state / "services.json").read_text())
        assert services[f"trino-demo.{namespace}.svc.cluster.local:8080"], services
        kubelet.send_signal(signal.SIGTERM)
        await eventually(lambda: kubelet.poll() is not None, "the kubelet to exit after SIGTERM")
        assert kubelet.returncode == 0, (tmp_path / "kubelet.out").read_text()[-2000:]
        assert [pid for pid in pids if alive(pid)] == []
    finally:
        if kubelet.poll() is None:
            kubelet.kill()
            kubelet.wait()
        output.close()
