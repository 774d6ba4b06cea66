"""`LocalProcess`: one child process of the kubelet, in its own process group, output to a log file.

Exit is noticed through a pidfd on the event loop (no waiter threads); stopping is SIGTERM, then
SIGKILL of the whole group after a deadline. The env may hold secret values: it is never logged.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

__all__ = ["LocalProcess", "PodProcess", "stop_container"]


class PodProcess(Protocol):
    """A running pod container as the kubelet supervises it: an OS process, or a node hosted in the
    kubelet's own process (`inprocess.InProcessNode`)."""

    pid: int | None
    """The OS process id; None for a node hosted inside the kubelet."""
    started_at: str

    @property
    def container_id(self) -> str: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self, timeout: float | None = None) -> int | None: ...

    def send(self, signum: int) -> None: ...

    async def stop(self, grace: float) -> int: ...


async def stop_container(container: PodProcess, grace: float) -> int:
    """What a kubelet does to stop a container: SIGTERM, up to `grace` seconds, then SIGKILL; the exit code."""
    container.send(signal.SIGTERM)
    code = await container.wait(max(grace, 0.0))
    if code is None:
        container.send(signal.SIGKILL)
        code = await container.wait()
    assert code is not None
    return code


class LocalProcess:
    """A started child; `await wait()` returns its exit code, `stop(grace)` ends it for sure."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid: int | None = popen.pid
        self._os_pid = popen.pid
        self.started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pidfd: int | None = None
        self._poller: asyncio.Task[None] | None = None
        self._watch_exit()

    @classmethod
    async def spawn(
        cls, argv: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path | None = None
    ) -> LocalProcess:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
            log.write(f"--- {stamp} kubelet: starting {' '.join(argv)}\n".encode())
            log.flush()
            popen = subprocess.Popen(
                list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True,
            )
        return cls(popen)

    def _watch_exit(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._pidfd = os.pidfd_open(self._os_pid)
        except (AttributeError, OSError):
            self._poller = loop.create_task(self._poll_exit(), name=f"kubelet-wait-{self._os_pid}")
            return
        loop.add_reader(self._pidfd, self._reap)

    def _reap(self) -> None:
        code = self._popen.poll()
        if code is None:
            return
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if not self._exited.done():
            self._exited.set_result(code)

    async def _poll_exit(self) -> None:
        while (code := self._popen.poll()) is None:
            await asyncio.sleep(0.1)
        if not self._exited.done():
            self._exited.set_result(code)

    @property
    def container_id(self) -> str:
        return f"xtrinode-devstack://{self._os_pid}"

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    async def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None when `timeout` seconds passed first."""
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(self._exited)
        except TimeoutError:
            return None

    def send(self, signum: int) -> None:
        """Signal the process group (the process and anything it started)."""
        if self.returncode is not None:
            return
        try:
            os.killpg(self._os_pid, signum)
        except ProcessLookupError:
            pass

    async def stop(self, grace: float) -> int:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL; returns the exit code."""
        return await stop_container(self, grace)
