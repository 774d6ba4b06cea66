"""How a pod's Trino container runs on this machine: the `PodRuntime` seam and the emulator runtime.

`EmulatorRuntime` starts `python -m xtrinode.devstack.trino` with CLI overrides for what only works
in a cluster (port, discovery URI). A real-Trino runtime (bin/launcher) would plug in here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import xtrinode

from .process import LocalProcess, PodProcess

__all__ = ["EmulatorRuntime", "PodLaunch", "PodRuntime", "base_environment", "node_flags"]

Role = Literal["coordinator", "worker"]

_INHERITED_ENV = ("PATH", "PYTHONPATH", "VIRTUAL_ENV", "LANG", "LC_ALL", "TZ", "TMPDIR", "HOME")


def base_environment() -> dict[str, str]:
    """The few variables of the kubelet's own environment a local process needs to run at all, with the
    directory holding the `xtrinode` package on PYTHONPATH (so a checkout runs without installing)."""
    env = {name: os.environ[name] for name in _INHERITED_ENV if name in os.environ}
    source_root = str(Path(xtrinode.__file__).resolve().parent.parent)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([source_root, *[p for p in paths if p != source_root]])
    return env


@dataclass(frozen=True, slots=True)
class PodLaunch:
    """Everything needed to start one pod's Trino container locally."""

    namespace: str
    pod: str
    role: Role
    config_dir: Path
    """The pod's /etc/trino (catalog/ below it)."""
    port: int
    """Local port for Trino's HTTP server (the container's http-server.http.port)."""
    host: str
    """The pod's own loopback address (its podIP): the server binds and advertises it."""
    log_path: Path
    env: Mapping[str, str] = field(repr=False, default_factory=dict)
    """Container env, secret values included: only for the process, never logged."""
    discovery_uri: str | None = None
    """discovery.uri with the Service address already made local."""


def node_flags(launch: PodLaunch, extra_args: Sequence[str] = ()) -> list[str]:
    """The emulator's flags for a pod: what only works in a cluster (port, bind address, discovery.uri)
    made local, then the kubelet's extra flags. Both the process and the in-process runtime use them."""
    flags = ["--role", launch.role, "--port", str(launch.port), "--host", launch.host,
             "--config-dir", str(launch.config_dir)]
    if launch.discovery_uri:
        flags += ["--discovery-uri", launch.discovery_uri]
    return flags + list(extra_args)


class PodRuntime(Protocol):
    """Starts the container of one pod; the kubelet supervises and stops it through `PodProcess`."""

    async def start(self, launch: PodLaunch) -> PodProcess: ...


class EmulatorRuntime:
    """The built-in Trino protocol emulator, one OS process per pod."""

    def __init__(self, python: str, extra_args: Sequence[str] = ()) -> None:
        self.python = python
        self.extra_args = tuple(extra_args)

    def argv(self, launch: PodLaunch) -> list[str]:
        return [self.python, "-m", "xtrinode.devstack.trino", *node_flags(launch, self.extra_args)]

    async def start(self, launch: PodLaunch) -> LocalProcess:
        env = {**base_environment(), **launch.env}
        return await LocalProcess.spawn(self.argv(launch), env, launch.log_path, cwd=launch.config_dir)


class LauncherRuntime:
    """A real Trino install (`<trino_home>/bin/launcher run --etc-dir ...`): not implemented yet.

    It would need the http port and discovery.uri rewritten in config.properties (Trino has no
    CLI overrides for them) and a JVM per pod; the kubelet refuses the setting until then.
    """

    def __init__(self, trino_home: Path) -> None:
        raise NotImplementedError(
            f"running a real Trino from {str(trino_home)!r} is not implemented in the devstack kubelet yet; "
            "leave trino_home unset to run the built-in emulator"
        )

    async def start(self, launch: PodLaunch) -> LocalProcess:
        raise NotImplementedError("LauncherRuntime is not implemented")
