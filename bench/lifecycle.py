"""Lifecycle benchmark on the devstack parts (Temporal dev server, Kubernetes API emulator, kubelet,
Trino emulator, lifecycle worker, operator), all on this machine, printed in one run:

1. baseline: how long a coordinator process takes to start and answer /v1/info not starting;
2. resume: update `resume` to Ready on a suspended runtime, and the control-plane overhead
   (resume minus the baseline coordinator start), median over several rounds;
3. scale-out: time for N runtimes created at once to all reach Ready on one lifecycle worker.

Run: .venv/bin/python bench/lifecycle.py [--runtimes 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes import client, config
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from workers.lifecycle import LifecycleWorker, WorkerSettings
from workers.operator import Operator, OperatorSettings
from xtrinode.devstack.kubeapi import ThreadedKubeApiServer
from xtrinode.devstack.kubelet import Kubelet, KubeletSettings
from xtrinode.lifecycle_client import LifecycleClient
from xtrinode.models import API_GROUP, API_VERSION
from xtrinode.temporal import SEARCH_ATTRIBUTES, TemporalSettings, dynamic_config_args

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def coordinator_start_seconds() -> float:
    """Spawn a single-node emulator coordinator and time it to 'not starting'."""
    port = _free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "xtrinode.devstack.trino", "--role", "coordinator",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/v1/info") as resp:
                        if resp.status == 200 and not (await resp.json()).get("starting", True):
                            return time.perf_counter() - started
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.01)
    finally:
        proc.terminate()
        proc.wait(10)


def runtime(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "XTrinode",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"size": "xs", "maxWorkers": 0, "autoSuspendAfter": "0",
                     "gracefulShutdown": {"gracePeriodSeconds": 0, "maxDrainSeconds": 5}}}


async def wait_all_ready(custom: client.CustomObjectsApi, namespace: str, count: int, timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        items = (await asyncio.to_thread(custom.list_namespaced_custom_object, API_GROUP, API_VERSION,
                                         namespace, "xtrinodes"))["items"]
        ready = sum(1 for i in items if (i.get("status") or {}).get("phase") == "Ready")
        if ready >= count:
            return time.perf_counter() - started
        await asyncio.sleep(0.2)
    raise TimeoutError(f"only some of {count} runtimes were Ready after {timeout:.0f}s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runtimes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="xtrinode-bench-"))
    baseline = [await coordinator_start_seconds() for _ in range(args.rounds)]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        data_converter=pydantic_data_converter, search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_extra_args=dynamic_config_args())
    try:
        with ThreadedKubeApiServer() as kubeapi:
            kubeconfig = kubeapi.write_kubeconfig(state / "kubeconfig")
            api = config.new_client_from_config(config_file=str(kubeconfig))
            ext, core, custom = client.ApiextensionsV1Api(api), client.CoreV1Api(api), client.CustomObjectsApi(api)
            import yaml

            for path in sorted((REPO / "deploy" / "crds").rglob("*.yaml")):
                ext.create_custom_resource_definition(yaml.safe_load(path.read_text()))
            for ns in ("xtrinode-gateway", "xtrinode-system", "bench-resume", "bench-scale"):
                core.create_namespace({"metadata": {"name": ns}})
            kubelet_settings = KubeletSettings(kubeconfig=kubeconfig, state_dir=state / "kubelet",
                                               readiness_poll_interval=timedelta(seconds=0.05))
            queue = TemporalSettings(task_queue="bench-lifecycle")
            async with Kubelet(kubelet_settings) as kubelet, \
                    LifecycleWorker(env.client, WorkerSettings(temporal=queue, kubeconfig=kubeconfig,
                                                               services_file=kubelet.settings.services_file)), \
                    Operator(env.client, OperatorSettings(temporal=queue, kubeconfig=kubeconfig,
                                                          watch_timeout_seconds=2)):
                lifecycle = LifecycleClient(env.client)
                await asyncio.to_thread(custom.create_namespaced_custom_object, API_GROUP, API_VERSION,
                                        "bench-resume", "xtrinodes", runtime("bench-resume", "r"))
                await wait_all_ready(custom, "bench-resume", 1, 120)
                resumes = []
                for _ in range(args.rounds):
                    await lifecycle.suspend("bench-resume", "r")
                    started = time.perf_counter()
                    await lifecycle.resume("bench-resume", "r")
                    resumes.append(time.perf_counter() - started)

                started = time.perf_counter()
                for i in range(args.runtimes):
                    await asyncio.to_thread(custom.create_namespaced_custom_object, API_GROUP, API_VERSION,
                                            "bench-scale", "xtrinodes", runtime("bench-scale", f"r{i:03d}"))
                created = time.perf_counter() - started
                ready = await wait_all_ready(custom, "bench-scale", args.runtimes, args.timeout)
                total = created + ready
            api.close()
    finally:
        await env.shutdown()
        shutil.rmtree(state, ignore_errors=True)
    base, resume = statistics.median(baseline), statistics.median(resumes)
    print(f"coordinator process start (baseline), median of {args.rounds}: {base * 1000:8.0f} ms")
    print(f"resume update -> Ready, median of {args.rounds}:             {resume * 1000:8.0f} ms")
    print(f"control-plane overhead of a resume (resume - baseline):      {(resume - base) * 1000:8.0f} ms"
          f"   (target <= 300 ms; ratio resume/baseline = {resume / base:.2f}x)")
    print(f"{args.runtimes} runtimes created at once -> all Ready:             {total:8.1f} s"
          f"   (target <= 60 s; creating the objects took {created:.1f} s)")


if __name__ == "__main__":
    asyncio.run(main())
