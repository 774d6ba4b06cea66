"""Run the devstack the way the README says (`make demo`) on free ports and a temporary state dir.

`RunningDevstack` holds the process group, the printed lines and `devstack.json`; `stop()` sends
SIGINT to the whole group (what Ctrl-C does) and returns every pid that must be gone afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
READY = "xtrinode devstack ready"


@dataclass
class RunningDevstack:
    process: subprocess.Popen[str]
    state_dir: Path
    lines: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    reader: threading.Thread | None = None

    def _close(self) -> None:
        if self.reader is not None:
            self.reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    @property
    def env(self) -> dict[str, str]:
        """The environment the README's `export` lines give a user's shell."""
        env = dict(os.environ)
        for line in self.lines:
            if line.startswith("export "):
                key, value = line[len("export "):].split("=", 1)
                env[key] = value
        return env

    def printed(self, prefix: str) -> str:
        for line in self.lines:
            if line.strip().startswith(prefix):
                return line.strip()
        raise AssertionError(f"`dev up` printed no line starting with {prefix!r}:\n" + "\n".join(self.lines))

    def sh(self, command: str, *, input: str | None = None, timeout: float = 60, check: bool = True) -> str:
        """Run a README command in bash from the repository root with the exported variables."""
        env = self.env
        env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
        result = subprocess.run(["bash", "-c", command], cwd=REPO, env=env, input=input, capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"`{command}` failed with rc {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result.stdout + result.stderr

    def status(self) -> dict[str, Any]:
        out = self.sh(f"{BIN}/xtrinode dev status --json --state-dir {self.state_dir}")
        return dict(json.loads(out))

    def phase(self, namespace: str, name: str) -> str | None:
        for rt in self.status()["runtimes"]:
            if rt["namespace"] == namespace and rt["name"] == name:
                return str(rt["phase"])
        return None

    def wait_phase(self, namespace: str, name: str, phase: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            seen = self.phase(namespace, name)
            if seen == phase:
                return
            time.sleep(0.5)
        raise AssertionError(f"{namespace}/{name} is {seen}, expected {phase} within {timeout}s")

    def pids(self) -> dict[str, int]:
        """Supervisor, components and every kubelet pod process seen so far."""
        info = json.loads((self.state_dir / "devstack.json").read_text())
        pids = {"supervisor": info["supervisor_pid"]}
        pids.update({name: c["pid"] for name, c in info["components"].items()})
        pids.update({f"pod {k}": v for k, v in info["pod_pids"].items()})
        return pids

    def stop(self, timeout: float = 90) -> int:
        """Ctrl-C: SIGINT to the process group; the exit code of `make demo`."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        code = self.process.wait(timeout)
        self._close()
        return code

    def kill(self) -> None:
        """Last resort after a failed test: nothing may outlive it."""
        pids: dict[str, int] = {}
        try:
            pids = self.pids()
        except (OSError, ValueError, KeyError):
            pass
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGINT)
                self.process.wait(60)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._close()
        for pid in pids.values():
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def start_demo(state_dir: Path, *extra: str, timeout: float = 240) -> RunningDevstack:
    """`make demo` with test ports and state dir (XTRINODE_DEV_UP_ARGS), until it prints the ready line."""
    args = ["--state-dir", str(state_dir), "--gateway-port", "0", "--api-port", "0", "--temporal-port", "0",
            "--temporal-ui-port", "0", "--kube-port", "0", *extra]
    env = {**os.environ, "XTRINODE_DEV_UP_ARGS": " ".join(args)}
    process = subprocess.Popen(["make", "--no-print-directory", "demo"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    running = RunningDevstack(process, state_dir)
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            running.lines.append(line.rstrip("\n"))
            if line.strip() == READY:
                ready.set()
        ready.set()

    running.reader = threading.Thread(target=pump, name="devstack-output", daemon=True)
    running.reader.start()
    # The reader also sets `ready` at end of output: a `dev up` that exited is reported with what it printed.
    if not ready.wait(timeout) or READY not in (line.strip() for line in running.lines) or process.poll() is not None:
        running.kill()
        raise AssertionError(f"`make demo` did not print {READY!r} within {timeout}s:\n" + "\n".join(running.lines))
    running.info = json.loads((state_dir / "devstack.json").read_text())
    return running
