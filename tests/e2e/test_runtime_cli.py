"""`xtrinode runtime ...` and the API server's curl examples against `make demo`, as the README shows them.

Checks: `list` prints a table with the demo runtime Ready; `status` its workers and workflow; `suspend
--wait` ends Suspended; `resume --wait` shows its progress (phase and step lines) on stderr and ends
Ready; `events` lists the steps; `-o json` is machine-readable; exit code 3 for an unknown runtime and 4
for a wrong token; the README's two curl commands answer. Every command is in README.md verbatim.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from devstack_helpers import BIN, REPO, start_demo

LIST = ".venv/bin/xtrinode runtime list"
STATUS = ".venv/bin/xtrinode runtime status analytics/demo"
SUSPEND = ".venv/bin/xtrinode runtime suspend analytics/demo --wait"
RESUME = ".venv/bin/xtrinode runtime resume analytics/demo --wait"
EVENTS = ".venv/bin/xtrinode runtime events analytics/demo"
CURL_LIST = 'curl -s -H "Authorization: Bearer $(cat .xtrinode/api-token)" http://127.0.0.1:8081/v1/runtimes'
CURL_RESUME = ('curl -s -X POST -H "Authorization: Bearer $(cat .xtrinode/api-token)" '
               '"http://127.0.0.1:8081/v1/runtimes/analytics/demo/resume?wait=true"')
COMMANDS = [LIST, STATUS, SUSPEND, RESUME, EVENTS, CURL_LIST, CURL_RESUME]


def test_every_runtime_cli_command_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [c for c in COMMANDS if c not in readme]
    assert not missing, "README.md lacks these commands:\n" + "\n".join(missing)


def _run(command: str, state: Path, api_url: str) -> subprocess.CompletedProcess[str]:
    command = command.replace(".xtrinode/", f"{state}/").replace("http://127.0.0.1:8081", api_url)
    if command.startswith(".venv/bin/xtrinode runtime"):
        command = command.replace("runtime ", f"runtime --state-dir {state} ", 1)
    return subprocess.run(["bash", "-c", command], cwd=REPO, capture_output=True, text=True, timeout=180,
                          env={"PATH": f"{BIN}:/usr/bin:/bin"})


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_runtime_cli_and_curl_against_the_devstack(tmp_path: Path) -> None:
    state = tmp_path / "state"
    stack = start_demo(state)
    try:
        api_url = stack.info["api_url"]
        assert stack.printed("API server:").split()[2] == api_url
        listed = _run(LIST, state, api_url)
        assert listed.returncode == 0, listed.stderr
        header, *rows = listed.stdout.splitlines()
        assert header.split()[:3] == ["NAMESPACE", "NAME", "PHASE"]
        assert any(row.split()[:3] == ["analytics", "demo", "Ready"] for row in rows), listed.stdout
        status = _run(STATUS, state, api_url)
        assert status.returncode == 0 and "phase:          Ready" in status.stdout and "xtrinode/analytics/demo" in status.stdout

        suspended = _run(SUSPEND, state, api_url)
        assert suspended.returncode == 0, suspended.stderr
        assert "analytics/demo: Suspended after" in suspended.stdout
        resumed = _run(RESUME, state, api_url)
        assert resumed.returncode == 0, resumed.stderr
        assert "analytics/demo: Ready after" in resumed.stdout
        progress = [line for line in resumed.stderr.splitlines() if line.strip().endswith(")") or "step" in line]
        assert any("Resuming" in line and "ResumeRuntime" in line for line in progress), resumed.stderr
        events = _run(EVENTS, state, api_url)
        assert events.returncode == 0 and "ResumeRuntime" in events.stdout and "SuspendRuntime" in events.stdout

        as_json = _run(LIST + " -o json", state, api_url)
        assert json.loads(as_json.stdout)["items"][0]["name"] == "demo"
        missing = _run(".venv/bin/xtrinode runtime status analytics/nope", state, api_url)
        assert missing.returncode == 3 and "not found" in missing.stderr
        denied = _run(".venv/bin/xtrinode runtime --token wrong-token-123456 list", state, api_url)
        assert denied.returncode == 4

        assert json.loads(_run(CURL_LIST, state, api_url).stdout)["items"][0]["phase"] == "Ready"
        answer = json.loads(_run(CURL_RESUME, state, api_url).stdout)
        assert answer["state"] == "done" and answer["runtime"]["phase"] == "Ready"
    finally:
        stack.stop(timeout=90)
