"""`xtrinode dev up` supervision: a component that dies stops the whole devstack; a restart keeps state.

Checks: `dev status --json` reports every component alive with its URL; after SIGKILL of the
operator the supervisor says which component exited and where its log is, exits 1, and no
process it started is left. A second `make demo` on the same state dir finds the same workflow
run, the objects created before and the demo runtime Ready again. Ctrl-C while it starts stops what
was started (no process mentions the state dir afterwards).
"""

from __future__ import annotations

import json
import urllib.request
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from devstack_helpers import BIN, REPO, alive, start_demo

COMPONENTS = {"temporal", "kubeapi", "webhook", "kubelet", "worker", "operator", "gateway", "api"}


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_dead_component_stops_the_devstack_and_is_named(tmp_path: Path) -> None:
    state = tmp_path / "state"
    process = subprocess.Popen(
        [str(BIN / "xtrinode"), "dev", "up", "--state-dir", str(state), "--no-examples", "--gateway-port", "0",
         "--temporal-port", "0", "--temporal-ui-port", "0", "--kube-port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    pids: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 90
        status: dict[str, object] = {}
        while time.monotonic() < deadline and process.poll() is None:
            out = subprocess.run([str(BIN / "xtrinode"), "dev", "status", "--json", "--state-dir", str(state)],
                                 capture_output=True, text=True, cwd=REPO)
            if out.returncode == 0 and (status := json.loads(out.stdout)).get("ready"):
                break
            time.sleep(0.5)
        assert status.get("ready"), f"not ready in 90s: {status}"
        components = status["components"]
        assert isinstance(components, dict) and set(components) == COMPONENTS
        assert all(c["alive"] for c in components.values())
        assert status["gateway_url"] == components["gateway"]["url"]
        assert status["kubeconfig"] == str(state / "kubeconfig") and status["runtimes"] == []
        pids = {name: c["pid"] for name, c in components.items()}
        pids["supervisor"] = process.pid

        os.kill(pids["operator"], signal.SIGKILL)
        _, err = process.communicate(timeout=90)
        assert process.returncode == 1, err
        assert "operator exited with code -9" in err and str(state / "logs" / "operator.log") in err
        left = {name: pid for name, pid in pids.items() if alive(pid)}
        assert not left, f"left after the devstack stopped: {left}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.communicate(timeout=60)
        for pid in pids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_restart_on_the_same_state_dir_keeps_history_and_cluster(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = start_demo(state)
    try:
        describe = ".venv/bin/temporal workflow describe --workflow-id xtrinode/analytics/demo -o json"
        run_id = json.loads(first.sh(describe))["workflowExecutionInfo"]["execution"]["runId"]
        first.sh(".venv/bin/kubectl create configmap kept-across-restarts -n analytics --from-literal=a=b")
        first.sh(f".venv/bin/xtrinode dev down --state-dir {state}", timeout=120)
        first.stop()
    except BaseException:
        first.kill()
        raise
    second = start_demo(state)
    try:
        # "ready" means the demo runtime answers now, not that its status still says Ready from the last run
        info = urllib.request.Request(second.info["gateway_url"] + "/v1/info",
                                      headers={"X-Trino-XTrinode": "analytics/demo", "X-Trino-User": "t"})
        with urllib.request.urlopen(info, timeout=5) as response:
            assert json.loads(response.read())["starting"] is False
        assert json.loads(second.sh(describe))["workflowExecutionInfo"]["execution"]["runId"] == run_id
        assert "kept-across-restarts" in second.sh(".venv/bin/kubectl get configmaps -n analytics")
        provisions = second.sh(""".venv/bin/temporal workflow list --query "WorkflowType='ProvisionRuntime'\"""")
        assert "xtrinode/analytics/demo/ProvisionRuntime-" in provisions
        second.wait_phase("analytics", "demo", "Ready", timeout=60)
        pids = second.pids()
    except BaseException:
        second.kill()
        raise
    second.stop()
    assert not [p for p in pids.values() if alive(p)]


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and alive(int(entry.name)):
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ctrl_c_during_start_stops_what_was_started(tmp_path: Path) -> None:
    state = tmp_path / "state"
    process = subprocess.Popen(
        [str(BIN / "xtrinode"), "dev", "up", "--state-dir", str(state), "--gateway-port", "0", "--temporal-port", "0",
         "--temporal-ui-port", "0", "--kube-port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (state / "logs" / "kubeapi.log").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_mentioning(str(state)), "nothing started within 30s"
        os.killpg(process.pid, signal.SIGINT)
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0, out
        assert "xtrinode dev up: stopped" in out
        assert not _processes_mentioning(str(state))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)
