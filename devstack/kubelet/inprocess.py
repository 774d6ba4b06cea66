"""Many emulated Trino nodes in the kubelet's own process: `InProcessRuntime` and `InProcessNode`.

The same node code as a pod process (`TrinoNode` from the settings `settings_from_argv` builds from
the argv the process would get), one aiohttp server per pod, no OS process. Each node's log lines go
to its pod's log file: the node runs in its own `contextvars` context, which the servers' tasks and
callbacks inherit, and `PodLogRouter` picks the file from it.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import signal
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from devstack.trino.__main__ import settings_from_argv
from devstack.trino.config import ConfigError
from devstack.trino.logs import JsonFormatter
from devstack.trino.node import TrinoNode
from devstack.trino.settings import NodeSettings

from .process import stop_container
from .runtime import PodLaunch, node_flags

__all__ = ["InProcessNode", "InProcessRuntime", "PodLogRouter"]

_NODE_LOGGER = "devstack.trino"
_CURRENT_LOG: contextvars.ContextVar[_PodLog | None] = contextvars.ContextVar("xtrinode_pod_log", default=None)
_KILLED = -int(signal.SIGKILL)


class _PodLog:
    """One pod's log file with the fields a node process puts on every line (role, node_id)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.formatter: logging.Formatter = JsonFormatter()
        self._file: IO[str] | None = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write_line(self, line: str) -> None:
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class PodLogRouter(logging.Handler):
    """Installed on the node logger while in-process nodes run: a record goes to the log file of the node
    whose context logged it; records from outside any node go to the root logger's handlers as before."""

    def __init__(self) -> None:
        super().__init__()
        self._users = 0
        self._saved_propagate = True

    def emit(self, record: logging.LogRecord) -> None:
        pod_log = _CURRENT_LOG.get()
        if pod_log is None:
            for handler in logging.getLogger().handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)
            return
        try:
            pod_log.write_line(pod_log.formatter.format(record))
        except Exception:  # a full disk must not take the kubelet down
            self.handleError(record)

    def acquire_logger(self) -> None:
        node_logger = logging.getLogger(_NODE_LOGGER)
        if self._users == 0:
            self._saved_propagate = node_logger.propagate
            node_logger.addHandler(self)
            node_logger.propagate = False
            if node_logger.level == logging.NOTSET:
                node_logger.setLevel(logging.INFO)
        self._users += 1

    def release_logger(self) -> None:
        self._users -= 1
        if self._users == 0:
            node_logger = logging.getLogger(_NODE_LOGGER)
            node_logger.removeHandler(self)
            node_logger.propagate = self._saved_propagate


_ROUTER = PodLogRouter()
_IDS = itertools.count(1)


class InProcessNode:
    """One pod's node running as a task of the kubelet's loop; behaves like `LocalProcess` to the kubelet:
    SIGTERM/SIGINT stop it cleanly (exit 0), SIGKILL cancels it (exit -9), a finished graceful shutdown
    (`PUT /v1/info/state SHUTTING_DOWN`) ends it with 0, a refused config with 2, a failed bind with 1."""

    pid: int | None = None

    def __init__(self, launch: PodLaunch, settings: NodeSettings | None, refusal: str | None = None) -> None:
        self.started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._id = f"{launch.namespace}/{launch.pod}-{next(_IDS)}"
        self._terminate = asyncio.Event()
        self._log = _PodLog(launch.log_path)
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        self._log.write_line(f"--- {stamp} kubelet: starting in-process node {self._id} "
                             f"(role {launch.role}, {launch.host}:{launch.port})")
        if settings is not None:
            self._log.formatter = JsonFormatter({"role": "coordinator" if settings.coordinator else "worker",
                                                 "node_id": settings.node_id})
        context = contextvars.copy_context()
        context.run(_CURRENT_LOG.set, self._log)
        _ROUTER.acquire_logger()
        self._task: asyncio.Task[int] = asyncio.get_running_loop().create_task(
            self._run(settings, refusal), name=f"trino-node-{self._id}", context=context)
        self._task.add_done_callback(self._finished)

    @property
    def container_id(self) -> str:
        return f"xtrinode-devstack://in-process/{self._id}"

    async def _run(self, settings: NodeSettings | None, refusal: str | None) -> int:
        node_log = logging.getLogger(_NODE_LOGGER)
        if settings is None:
            self._log.write_line(f"xtrinode trino emulator: {refusal}")
            return 2
        node_log.info("starting", extra={"port": settings.port, "catalogs": [c.name for c in settings.catalogs]})
        try:
            async with TrinoNode(settings) as node:
                node_log.info("listening", extra={"uri": node.url, "coordinator": settings.coordinator})
                stopped = asyncio.ensure_future(self._terminate.wait())
                exited = asyncio.ensure_future(node.exit_requested.wait())
                try:
                    await asyncio.wait({stopped, exited}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in (stopped, exited):
                        waiter.cancel()
                node_log.info("stopping", extra={"reason": "signal" if self._terminate.is_set()
                                                 else "graceful shutdown"})
        except OSError as e:
            node_log.error("cannot listen", extra={"host": settings.host, "port": settings.port, "error": str(e)})
            return 1
        except Exception:
            node_log.exception("node failed")
            return 1
        return 0

    def _finished(self, task: asyncio.Task[int]) -> None:
        _ROUTER.release_logger()
        self._log.close()

    @property
    def returncode(self) -> int | None:
        if not self._task.done():
            return None
        return _KILLED if self._task.cancelled() else self._task.result()

    async def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None when `timeout` seconds passed first."""
        try:
            async with asyncio.timeout(timeout):
                await asyncio.wait({self._task})
        except TimeoutError:
            return None
        return self.returncode

    def send(self, signum: int) -> None:
        if self._task.done():
            return
        if signum in (signal.SIGTERM, signal.SIGINT):
            self._terminate.set()
        elif signum == signal.SIGKILL:
            self._task.cancel()

    async def stop(self, grace: float) -> int:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL; returns the exit code."""
        return await stop_container(self, grace)


class InProcessRuntime:
    """Hosts each pod's emulated node in this process; the flags are those `EmulatorRuntime` passes."""

    def __init__(self, extra_args: Sequence[str] = ()) -> None:
        self.extra_args = tuple(extra_args)

    async def start(self, launch: PodLaunch) -> InProcessNode:
        try:
            settings, _ = settings_from_argv(node_flags(launch, self.extra_args), env=dict(launch.env))
        except (ConfigError, ValueError) as e:
            return InProcessNode(launch, None, refusal=str(e))
        return InProcessNode(launch, settings)
