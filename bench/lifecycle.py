"""Lifecycle benchmark on the devstack parts (Temporal dev server, Kubernetes API emulator, kubelet,
Trino emulator, lifecycle worker, operator), each its own process as in `xtrinode dev up`, all on
this machine, printed in one run:

1. baseline: how long a coordinator process takes to start and answer /v1/info not starting;
2. resume: update `resume` to Ready on a suspended runtime, and the control-plane overhead
   (resume minus the baseline coordinator start), p50 and p90 over several rounds;
3. idle suspend: a runtime with one worker, the default gracePeriodSeconds (120 s) and
   autoSuspendAfter 2s, from its idle deadline to Suspended;
4. scale-out: time for N runtimes created at once to all reach Ready on one lifecycle worker;
5. the CPU seconds each component process used over the whole run (children included).

Run: .venv/bin/python bench/lifecycle.py [--runtimes 200] [--rounds 5] [--nodes in-process|process]
(in-process: the kubelet hosts every pod's node in its own process, the scale-test mode)
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
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes import client, config
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from xtrinode.lifecycle_client import LifecycleClient
from devstack.trino.__main__ import settings_from_argv
from devstack.trino.node import TrinoNode
from xtrinode.models import API_GROUP, API_VERSION
from xtrinode.temporal import SEARCH_ATTRIBUTES, dynamic_config_args

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _until_started(port: int, started: float) -> float:
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"http://127.0.0.1:{port}/v1/info") as resp:
                    if resp.status == 200 and not (await resp.json()).get("starting", True):
                        return time.perf_counter() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.01)


async def coordinator_start_seconds(in_process: bool) -> float:
    """Start a single-node emulator coordinator the way the kubelet would (a process, or a node inside
    this process from the same flags) and time it to 'not starting'."""
    port = _free_port()
    flags = ["--role", "coordinator", "--port", str(port)]
    started = time.perf_counter()
    if in_process:
        settings, _ = settings_from_argv(flags)
        async with TrinoNode(settings):
            return await _until_started(port, started)
    proc = subprocess.Popen([sys.executable, "-m", "devstack.trino", *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return await _until_started(port, started)
    finally:
        proc.terminate()
        proc.wait(10)


def runtime(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "XTrinode",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"size": "xs", "maxWorkers": 0, "autoSuspendAfter": "0",
                     "gracefulShutdown": {"gracePeriodSeconds": 0, "maxDrainSeconds": 5}}}


def _quantile(values: list[float], q: float) -> float:
    """The q-quantile by nearest rank of sorted `values`."""
    return values[min(len(values) - 1, max(0, round(q * len(values) + 0.5) - 1))]


async def idle_suspend_seconds(custom: client.CustomObjectsApi, namespace: str, name: str, idle: float,
                               timeout: float) -> float:
    """Seconds from the idle deadline (status.lastActivity + autoSuspendAfter) to phase Suspended."""
    from datetime import datetime

    deadline = time.monotonic() + timeout
    last: str | None = None
    while time.monotonic() < deadline:
        obj = await asyncio.to_thread(custom.get_namespaced_custom_object, API_GROUP, API_VERSION, namespace,
                                      "xtrinodes", name)
        status = obj.get("status") or {}
        last = status.get("lastActivity") or last
        if status.get("phase") == "Suspended" and last:
            due = datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp() + idle
            return time.time() - due
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{namespace}/{name} not Suspended within {timeout}s")


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


async def print_resume_timeline(temporal: Any, workflow_id: str) -> None:
    """Events of the last resume, in ms after the update was accepted: where the resume time goes."""
    from temporalio.api.enums.v1 import EventType

    parent = await temporal.get_workflow_handle(workflow_id).fetch_history()
    events = list(parent.events)
    accepted = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    if not accepted:
        return
    start = accepted[-1].event_time.ToDatetime()
    children = [e for e in events if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
                and e.event_time.ToDatetime() >= start]
    rows = [("parent", e) for e in events if e.event_time.ToDatetime() >= start]
    for child in children[-1:]:
        child_id = child.start_child_workflow_execution_initiated_event_attributes.workflow_id
        rows += [("child ", e) for e in (await temporal.get_workflow_handle(child_id).fetch_history()).events]
    rows.sort(key=lambda row: row[1].event_time.ToDatetime())
    print("last resume, ms after the update was accepted:")
    for who, event in rows:
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        detail = ""
        for attrs in ("activity_task_scheduled_event_attributes",):
            if event.HasField(attrs):
                detail = getattr(event, attrs).activity_type.name
        at = (event.event_time.ToDatetime() - start).total_seconds() * 1000
        print(f"  {at:7.0f}  {who} {name} {detail}")


class Processes:
    """The components as subprocesses, logs in the state dir, stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.procs: list[subprocess.Popen[bytes]] = []
        self.names: list[str] = []

    def start(self, name: str, *argv: str) -> None:
        log = (self.state / f"{name}.log").open("wb")
        self.procs.append(subprocess.Popen([sys.executable, *argv], stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True))
        self.names.append(name)
        log.close()

    def cpu_seconds(self) -> dict[str, float]:
        """user + system CPU of each component process and its reaped children (pod processes), so far."""
        import os

        tick = os.sysconf("SC_CLK_TCK")
        out = {}
        for name, proc in zip(self.names, self.procs):
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[name] = sum(int(v) for v in fields[11:15]) / tick  # utime, stime, cutime, cstime
        return out

    def stop(self) -> None:
        import os
        import signal

        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runtimes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--timeline", action="store_true",
                        help="print the event timeline of the last resume (parent and ResumeRuntime child)")
    parser.add_argument("--nodes", choices=("process", "in-process"), default="in-process",
                        help="how the kubelet runs each pod's emulated Trino: its own OS process, or inside the "
                             "kubelet (--in-process-nodes, the scale-test mode; default)")
    args = parser.parse_args()
    in_process = args.nodes == "in-process"
    state = Path(tempfile.mkdtemp(prefix="xtrinode-bench-"))
    baseline = [await coordinator_start_seconds(in_process) for _ in range(args.rounds)]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        data_converter=pydantic_data_converter, search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_extra_args=dynamic_config_args())
    processes = Processes(state)
    try:
        kube_port = _free_port()
        kubeconfig = state / "kubeconfig"
        processes.start("kubeapi", "-m", "devstack.kubeapi", "--port", str(kube_port),
                        "--kubeconfig", str(kubeconfig))
        while not kubeconfig.exists():
            await asyncio.sleep(0.05)
        api = config.new_client_from_config(config_file=str(kubeconfig))
        ext, core, custom = client.ApiextensionsV1Api(api), client.CoreV1Api(api), client.CustomObjectsApi(api)
        import yaml

        for path in sorted((REPO / "deploy" / "crds").rglob("*.yaml")):
            ext.create_custom_resource_definition(yaml.safe_load(path.read_text()))
        for ns in ("xtrinode-gateway", "xtrinode-system", "bench-resume", "bench-scale"):
            core.create_namespace({"metadata": {"name": ns}})
        address = env.client.service_client.config.target_host
        processes.start("kubelet", "-m", "devstack.kubelet", "--kubeconfig", str(kubeconfig),
                        "--state-dir", str(state / "kubelet"), "--readiness-poll-interval", "100ms",
                        *(["--in-process-nodes"] if in_process else []))
        processes.start("worker", "-m", "devstack.worker", "--temporal-address", address,
                        "--task-queue", "bench-lifecycle", "--kubeconfig", str(kubeconfig),
                        "--services-file", str(state / "kubelet" / "services.json"))
        processes.start("operator", "-m", "xtrinode.cli", "operator", "--temporal-address", address,
                        "--kubeconfig", str(kubeconfig), "--task-queue", "bench-lifecycle")
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

        idle_body = runtime("bench-resume", "idle")
        idle_body["spec"].update(maxWorkers=1, autoSuspendAfter="2s", gracefulShutdown={"maxDrainSeconds": 30})
        await asyncio.to_thread(custom.create_namespaced_custom_object, API_GROUP, API_VERSION,
                                "bench-resume", "xtrinodes", idle_body)
        idle_suspend = await idle_suspend_seconds(custom, "bench-resume", "idle", 2.0, 120)

        if args.timeline:
            await print_resume_timeline(env.client, "xtrinode/bench-resume/r")
        started = time.perf_counter()
        for i in range(args.runtimes):
            await asyncio.to_thread(custom.create_namespaced_custom_object, API_GROUP, API_VERSION,
                                    "bench-scale", "xtrinodes", runtime("bench-scale", f"r{i:03d}"))
        created = time.perf_counter() - started
        ready = await wait_all_ready(custom, "bench-scale", args.runtimes, args.timeout)
        total = created + ready
        cpu = processes.cpu_seconds()
        api.close()
    except BaseException:
        print(f"bench failed; component logs kept in {state}", file=sys.stderr)
        try:
            from temporalio.api.enums.v1 import EventType

            runs = [w async for w in env.client.list_workflows("WorkflowId = 'xtrinode/bench-resume/r'")]
            closed = [w for w in runs if w.close_time is not None]
            print("runs:", [(w.run_id, w.status) for w in runs], file=sys.stderr)
            handle = env.client.get_workflow_handle("xtrinode/bench-resume/r", run_id=closed[0].run_id if closed else None)
            history = await handle.fetch_history()
            for event in list(history.events)[-14:]:
                print("  ", EventType.Name(event.event_type), str(event)[:600].replace("\n", " "), file=sys.stderr)
        except Exception as e:  # diagnostics only
            print(f"(no history: {e})", file=sys.stderr)
        state = None  # type: ignore[assignment]
        raise
    finally:
        processes.stop()
        await env.shutdown()
        if state is not None:
            shutil.rmtree(state, ignore_errors=True)
    base, resume = statistics.median(baseline), statistics.median(resumes)
    overheads = sorted(r - base for r in resumes)
    print(f"pod nodes: {args.nodes}")
    print(f"coordinator start (baseline), median of {args.rounds}:         {base * 1000:8.0f} ms")
    print(f"resume update -> Ready, median of {args.rounds}:             {resume * 1000:8.0f} ms")
    print(f"control-plane overhead of a resume (resume - baseline):      p50 {_quantile(overheads, 0.5) * 1000:.0f} ms,"
          f" p90 {_quantile(overheads, 0.9) * 1000:.0f} ms   (target <= 300 ms; ratio resume/baseline = "
          f"{resume / base:.2f}x)")
    print(f"idle autosuspend, default 120 s grace: deadline -> Suspended {idle_suspend:8.1f} s   (target <= 15 s)")
    print(f"{args.runtimes} runtimes created at once -> all Ready:             {total:8.1f} s"
          f"   (target <= 60 s; creating the objects took {created:.1f} s)")
    print("CPU seconds per process over the run (user+system, pod processes included in the kubelet's):")
    for name, seconds in cpu.items():
        print(f"  {name:10s} {seconds:8.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
