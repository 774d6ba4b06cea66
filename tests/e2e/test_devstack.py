"""The README quickstart as a newcomer runs it: `make demo`, then the five-minute tour.

Checks: the ready line and what it prints; the printed trino query through the gateway, and
`SELECT count(*) FROM tpch.tiny.lineitem` (60175, as Trino); autosuspend
after a short idle time (Temporal list by XTrinodePhase); resume on the next query, and `dev traces
--last` showing it as one trace from the gateway to the activities; `dev status`;
`kubectl get`/`apply`/`wait`/`patch`/`delete` (nothing of the deleted runtime left behind);
`temporal workflow update`/`query`; Ctrl-C (SIGINT to the process group) leaves no process behind,
Trino pod processes included. Every tour command is checked to appear verbatim in README.md. The
tour runs on both Kubernetes backends: `make demo` and `XTRINODE_DEV_UP_ARGS="--kube real" make demo`.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devstack_helpers import REPO, RunningDevstack, alive, start_demo
from devstack.realkube import find_binaries

# The tour's commands exactly as README.md shows them (the gateway port is 8080 there).
KUBECTL_GET = ".venv/bin/kubectl get xtrinodes -A"
KUBECTL_APPLY = """.venv/bin/kubectl apply -f - <<'EOF'
apiVersion: analytics.xtrinode.io/v1
kind: XTrinode
metadata: {name: second, namespace: analytics}
spec:
  size: xs
  maxWorkers: 1
  autoSuspendAfter: 10m
  gracefulShutdown: {gracePeriodSeconds: 2}
  catalogSelector: {matchLabels: {catalog-set: demo}}
EOF"""
KUBECTL_WAIT_READY = (".venv/bin/kubectl wait xtrinode/second -n analytics "
                      "--for=jsonpath='{.status.phase}'=Ready --timeout=90s")
KUBECTL_WAIT_SUSPENDED = (".venv/bin/kubectl wait xtrinode/second -n analytics "
                          "--for=jsonpath='{.status.phase}'=Suspended --timeout=90s")
QUERY_SECOND = (""".venv/bin/python -c "import trino; cur = trino.dbapi.connect(host='127.0.0.1', port=8080, """
                """user='demo', http_headers={'X-Trino-XTrinode': 'analytics/second'}).cursor(); """
                """cur.execute('SELECT count(*) FROM tpch.tiny.region'); print(cur.fetchall())\"""")
PATCH_SUSPEND = """.venv/bin/kubectl patch xtrinode second -n analytics --type merge -p '{"spec":{"suspended":true}}'"""
PATCH_RESUME = """.venv/bin/kubectl patch xtrinode second -n analytics --type merge -p '{"spec":{"suspended":false}}'"""
LIST_SUSPENDED = """.venv/bin/temporal workflow list --query "XTrinodePhase='Suspended'\""""
LIST_READY = """.venv/bin/temporal workflow list --query "XTrinodePhase='Ready'\""""
UPDATE_SUSPEND = (".venv/bin/temporal workflow update execute --workflow-id xtrinode/analytics/demo "
                  """--name suspend --input '{"reason": "cli"}'""")
UPDATE_RESUME = (".venv/bin/temporal workflow update execute --workflow-id xtrinode/analytics/demo "
                 """--name resume --input '{"reason": "cli"}'""")
QUERY_STATUS = ".venv/bin/temporal workflow query --workflow-id xtrinode/analytics/demo --name status"
SIGNAL_SUSPEND = (".venv/bin/temporal workflow signal --workflow-id xtrinode/analytics/demo "
                  """--name request_suspend --input '{"reason": "cli"}'""")
SIGNAL_RESUME = (".venv/bin/temporal workflow signal --workflow-id xtrinode/analytics/demo "
                 """--name request_resume --input '{"reason": "cli"}'""")
DEV_STATUS = ".venv/bin/xtrinode dev status"
DEV_TRACES = ".venv/bin/xtrinode dev traces --last"
KUBECTL_DELETE = ".venv/bin/kubectl delete xtrinode second -n analytics"
KUBECTL_LEFT = ".venv/bin/kubectl get all,configmaps,endpointslices -n analytics -l app.kubernetes.io/instance=second"
TOUR = [KUBECTL_GET, KUBECTL_APPLY, KUBECTL_WAIT_READY, KUBECTL_WAIT_SUSPENDED, QUERY_SECOND, PATCH_SUSPEND,
        PATCH_RESUME, LIST_SUSPENDED, LIST_READY, UPDATE_SUSPEND, UPDATE_RESUME, QUERY_STATUS, SIGNAL_SUSPEND,
        SIGNAL_RESUME, DEV_STATUS, DEV_TRACES, KUBECTL_DELETE, KUBECTL_LEFT]


def test_every_tour_command_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [c for c in TOUR if c not in readme]
    assert not missing, "README.md lacks these tour commands (keep test and README in step):\n" + "\n".join(missing)


def _wait_traced_resume(stack: RunningDevstack, timeout: float) -> None:
    """`dev traces --last` shows the resume from the gateway to the activities (spans are written in batches)."""
    wanted = ("gateway statement", "gateway held statement", "StartWorkflowUpdate:resume",
              "RunWorkflow:ResumeRuntime", "kubernetes apply_runtime", "trino wait_coordinator_ready")
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = stack.sh(f"{DEV_TRACES} --state-dir {stack.state_dir}", check=False)
        if all(name in out for name in wanted) and "analytics/demo" in out.splitlines()[0]:
            return
        time.sleep(1)
    raise AssertionError(f"dev traces --last did not show the resume ({', '.join(wanted)}) within {timeout}s:\n{out}")


def _wait_listed(stack: RunningDevstack, command: str, workflow_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = stack.sh(command)
        if any(line.split()[1:2] == [workflow_id] for line in out.splitlines() if line.strip()):
            return
        time.sleep(0.5)
    raise AssertionError(f"{workflow_id} not listed by `{command}` within {timeout}s:\n{out}")


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_readme_tour_then_ctrl_c_leaves_no_process(tmp_path: Path, kube_backend: str,
                                                    request: pytest.FixtureRequest) -> None:
    kube: list[str] = []
    if kube_backend == "real":
        option = request.config.getoption("--kube-bin")
        kube = ["--kube", "real", "--kube-bin", str(find_binaries(Path(option) if option else None))]
    started_at = time.monotonic()
    stack = start_demo(tmp_path / "state", "--auto-suspend-after", "8s", *kube)
    print(f"{kube_backend}: devstack ready in {time.monotonic() - started_at:.1f}s (make demo included)")
    try:
        assert stack.status()["kube"] == kube_backend
        port = stack.info["gateway_url"].rsplit(":", 1)[1]
        assert stack.printed("export KUBECONFIG=") == f"export KUBECONFIG={tmp_path / 'state' / 'kubeconfig'}"
        assert stack.printed("Temporal UI:").split()[2] == stack.info["temporal_ui_url"]
        query_demo = next(line.strip() for line in stack.lines if "import trino" in line)
        assert query_demo.replace(f"port={port}", "port=8080") in (REPO / "README.md").read_text()

        # 1. The printed query, through the gateway; the emulated Trino has the whole of tpch (DuckDB's tpch).
        assert "ALGERIA" in stack.sh(query_demo)
        assert stack.phase("analytics", "demo") == "Ready"
        lineitem = query_demo.replace("SELECT name FROM tpch.tiny.nation ORDER BY name LIMIT 3",
                                      "SELECT count(*) FROM tpch.tiny.lineitem")
        assert "[[60175]]" in stack.sh(lineitem)

        # 2. Idle for 8s: the workflow suspends the runtime; the Temporal list shows it.
        _wait_listed(stack, LIST_SUSPENDED, "xtrinode/analytics/demo", timeout=60)
        stack.wait_phase("analytics", "demo", "Suspended", timeout=30)

        # 3. Query again: the gateway holds it, the workflow resumes the runtime, the query answers.
        assert "ALGERIA" in stack.sh(query_demo, timeout=120)
        _wait_listed(stack, LIST_READY, "xtrinode/analytics/demo", timeout=30)
        # 3b. The resume as one trace: gateway request -> held statement -> update -> step -> activities.
        _wait_traced_resume(stack, timeout=30)

        # 4. kubectl: list, apply a new runtime, query it, suspend and resume it with spec.suspended.
        assert "demo" in stack.sh(KUBECTL_GET)
        assert "created" in stack.sh(KUBECTL_APPLY)
        stack.sh(KUBECTL_WAIT_READY, timeout=100)
        assert "[[5]]" in stack.sh(QUERY_SECOND.replace("port=8080", f"port={port}"))
        stack.sh(PATCH_SUSPEND)
        stack.sh(KUBECTL_WAIT_SUSPENDED, timeout=100)
        stack.sh(PATCH_RESUME)
        stack.sh(KUBECTL_WAIT_READY, timeout=100)
        assert "second" in stack.sh(KUBECTL_GET)

        # 5. temporal workflow update: suspend and resume answer with the new phase.
        assert "phase:Suspended" in stack.sh(UPDATE_SUSPEND, timeout=100)
        assert '"phase":"Suspended"' in stack.sh(QUERY_STATUS)
        assert "phase:Ready" in stack.sh(UPDATE_RESUME, timeout=100)
        # ... and the signals, fire and forget: the phase follows.
        stack.sh(SIGNAL_SUSPEND)
        _wait_listed(stack, LIST_SUSPENDED, "xtrinode/analytics/demo", timeout=100)
        stack.sh(SIGNAL_RESUME)
        _wait_listed(stack, LIST_READY, "xtrinode/analytics/demo", timeout=100)
        status = stack.sh(f"{DEV_STATUS} --state-dir {stack.state_dir}")
        assert "analytics/second: Ready" in status and "gateway" in status
        pids = stack.pids()
        assert sum(1 for name in pids if name.startswith("pod ")) >= 4, pids
        second_pods = {name: pid for name, pid in pids.items() if name.startswith("pod analytics/trino-second-")}

        # 6. kubectl delete: the runtime drains and goes, and nothing of it is left behind.
        assert "deleted" in stack.sh(KUBECTL_DELETE, timeout=120)
        deadline = time.monotonic() + 60
        while (left := stack.sh(KUBECTL_LEFT).strip()) != "No resources found in analytics namespace.":
            assert time.monotonic() < deadline, f"left behind by the deleted runtime:\n{left}"
            time.sleep(0.5)
        assert "second" not in stack.sh(KUBECTL_GET)
        assert second_pods and not [pid for pid in second_pods.values() if alive(pid)], "its Trino processes ended"
    except BaseException:
        stack.kill()
        raise

    # 6. Ctrl-C: everything stops, nothing is left.
    started = time.monotonic()
    code = stack.stop(timeout=90)
    took = time.monotonic() - started
    left = {name: pid for name, pid in pids.items() if alive(pid)}
    assert not left, f"processes left after Ctrl-C: {left}"
    assert "xtrinode dev up: stopped" in stack.lines, f"`make demo` exited {code}:\n" + "\n".join(stack.lines[-20:])
    assert not (stack.state_dir / "devstack.json").exists()
    print(f"stopped in {took:.1f}s")
