"""`xtrinode dev up --in-process-nodes`: the kubelet hosts the demo runtime's Trino nodes in its own
process. The printed query answers through the gateway, the pods report in-process containers and no
pod process exists, and Ctrl-C still leaves no process behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from devstack_helpers import alive, start_demo


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_dev_up_with_in_process_nodes_runs_the_demo_without_pod_processes(tmp_path: Path) -> None:
    stack = start_demo(tmp_path / "state", "--in-process-nodes")
    try:
        query_demo = next(line.strip() for line in stack.lines if "import trino" in line)
        assert "ALGERIA" in stack.sh(query_demo)
        pods = json.loads(stack.sh(".venv/bin/kubectl get pods -n analytics -o json"))["items"]
        container_ids = [p["status"]["containerStatuses"][0]["containerID"] for p in pods]
        assert len(container_ids) >= 2 and all("://in-process/" in cid for cid in container_ids), container_ids
        assert stack.status()["pod_pids"] == {}, "no pod runs as its own process"
        pids = stack.pids()
    except BaseException:
        stack.kill()
        raise
    code = stack.stop()
    assert "xtrinode dev up: stopped" in stack.lines, f"`make demo` exited {code}:\n" + "\n".join(stack.lines[-20:])
    left = {name: pid for name, pid in pids.items() if alive(pid)}
    assert not left, f"left after Ctrl-C: {left}"
