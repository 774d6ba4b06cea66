"""`RealControlPlane`: start and stop the real control plane from Python (tests, `python -m devstack.realkube`).

`with RealControlPlane(bin_dir, root) as plane:` runs etcd, kube-apiserver, kube-controller-manager
and kube-scheduler as child processes (each in its own session, logs in `<root>/logs/<name>.log`),
returns once all are healthy and stops them in reverse order (SIGTERM, then SIGKILL).
`xtrinode dev up --kube real` runs the same processes under its own supervisor instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from .controlplane import ControlPlane, ControlPlaneError, ProcessSpec

__all__ = ["RealControlPlane"]


class RealControlPlane:
    """The four processes of one control plane, started in order and stopped in reverse."""

    def __init__(self, bin_dir: Path, root: Path, *, apiserver_port: int = 0, start_timeout: float = 90.0) -> None:
        self.plane = ControlPlane.prepare(bin_dir, root, apiserver_port)
        self.start_timeout = start_timeout
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = self.plane.root / "logs"

    @property
    def url(self) -> str:
        return self.plane.url

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        return self.plane.write_kubeconfig(path, namespace=namespace)

    def start(self) -> float:
        """Start everything; returns the seconds it took. Raises `ControlPlaneError` naming the log to read."""
        began = time.monotonic()
        self.logs.mkdir(parents=True, exist_ok=True)
        specs = self.plane.processes()
        try:
            for group in (specs[:1], specs[1:2], specs[2:]):
                for spec in group:
                    self._launch(spec)
                self._wait(group, began + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - began

    def _launch(self, spec: ProcessSpec) -> None:
        with open(self.logs / f"{spec.name}.log", "ab") as log:
            self.processes[spec.name] = subprocess.Popen(
                spec.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                close_fds=True)

    def _wait(self, specs: list[ProcessSpec], deadline: float) -> None:
        waiting = list(specs)
        while waiting:
            for spec in list(waiting):
                code = self.processes[spec.name].poll()
                if code is not None:
                    raise ControlPlaneError(f"{spec.name} exited with code {code}; see {self.logs / spec.name}.log")
                if self.plane.healthy(spec):
                    waiting.remove(spec)
            if waiting and time.monotonic() > deadline:
                names = ", ".join(s.name for s in waiting)
                raise ControlPlaneError(f"{names} not healthy in time; see the logs in {self.logs}")
            if waiting:
                time.sleep(0.2)

    def restart(self, name: str) -> float:
        """Stop one process and start it again (a kube-apiserver restart drops its watch cache: watches from
        older resourceVersions then get 410 Gone); returns once it is healthy again."""
        spec = next(s for s in self.plane.processes() if s.name == name)
        process = self.processes.pop(name)
        began = time.monotonic()
        try:
            os.killpg(process.pid, signal.SIGTERM)
            try:  # kube-apiserver waits up to its request timeout (60 s) for its clients' requests
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(30)
        self._launch(spec)
        self._wait([spec], time.monotonic() + self.start_timeout)
        return time.monotonic() - began

    def alive(self) -> bool:
        return bool(self.processes) and all(p.poll() is None for p in self.processes.values())

    def stop(self, timeout: float = 15.0) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(5)
        self.processes.clear()

    def __enter__(self) -> RealControlPlane:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
