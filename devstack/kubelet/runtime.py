"""How a pod's Trino container runs on this machine: the `PodRuntime` seam and the emulator runtime.

`EmulatorRuntime` starts `python -m devstack.trino` with CLI overrides for what only works
in a cluster (port, bind address, discovery URI); `LauncherRuntime` starts a real Trino install with the
same overrides as system properties; `inprocess.InProcessRuntime` hosts emulated nodes in the kubelet.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import xtrinode

from .podspec import parse_properties
from .process import LocalProcess, PodProcess

__all__ = ["EmulatorRuntime", "LauncherRuntime", "PodLaunch", "PodRuntime", "base_environment", "map_container_path", "node_flags"]

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
    mounts: tuple[tuple[str, Path], ...] = ()
    """Container mount path -> local directory, longest first: a path the config names (`/etc/trino/x`)
    is found on this machine under the directory of the mount that holds it."""


def map_container_path(value: str, mounts: Sequence[tuple[str, Path]]) -> Path | None:
    """The local path of an absolute container path under one of the mounts; None for anything else."""
    if not value.startswith("/"):
        return None
    for container_path, local in mounts:
        if value == container_path or value.startswith(container_path.rstrip("/") + "/"):
            return local / value[len(container_path):].lstrip("/")
    return None


def node_flags(launch: PodLaunch, extra_args: Sequence[str] = ()) -> list[str]:
    """The emulator's flags for a pod: what only works in a cluster (port, bind address, discovery.uri)
    made local, then the kubelet's extra flags. Both the process and the in-process runtime use them."""
    flags = ["--role", launch.role, "--port", str(launch.port), "--host", launch.host,
             "--config-dir", str(launch.config_dir)]
    if launch.discovery_uri:
        flags += ["--discovery-uri", launch.discovery_uri]
    for container_path, local in launch.mounts:
        flags += ["--path-map", f"{container_path}={local}"]
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
        return [self.python, "-m", "devstack.trino", *node_flags(launch, self.extra_args)]

    async def start(self, launch: PodLaunch) -> LocalProcess:
        env = {**base_environment(), **launch.env}
        return await LocalProcess.spawn(self.argv(launch), env, launch.log_path, cwd=launch.config_dir)


class LauncherRuntime:
    """A real Trino install: `<trino_home>/bin/launcher run` per pod, on the pod's own etc directory.

    What only works in a cluster is given as `-D` system properties, which Trino's bootstrap puts over
    config.properties and node.properties: the HTTP port and bind address (`node.bind-ip`, so each pod
    listens on its own podIP), `node.internal-address`, `discovery.uri` (through the Service proxy, as
    the cluster routes it; the pod's own address when it names no Service), the data directory, the catalog directory, and a
    per-pod plugin directory holding only the plugins the pod's catalogs name (loading all ~70 plugins
    would double the JVM's start). `${ENV:...}` placeholders are Trino's own and are read from the pod
    env. Needs a Java that the Trino version supports (Trino 476: Java 24+), from `java_home` or
    `JAVA_HOME`.
    """

    def __init__(self, trino_home: Path, java_home: Path | None = None) -> None:
        launcher = trino_home / "bin" / "launcher"
        if not launcher.is_file():
            raise ValueError(
                f"trino_home {str(trino_home)!r} has no bin/launcher; point it at an unpacked trino-server "
                "tarball (scripts/fetch-trino.sh downloads one)"
            )
        self.trino_home = trino_home
        if java_home is None and os.environ.get("JAVA_HOME"):
            java_home = Path(os.environ["JAVA_HOME"])
        if java_home is not None and not (java_home / "bin" / "java").is_file():
            raise ValueError(f"java_home {str(java_home)!r} has no bin/java; give a JDK directory (Trino 476 "
                             "needs Java 24 or newer)")
        self.java_home = java_home

    def plugin_dirs(self, config_dir: Path) -> list[Path]:
        """The plugins the pod needs: one per catalog's connector.name (its directory under plugin/),
        plus the password authenticators when PASSWORD auth is on; every plugin when a connector's
        directory cannot be found (a connector whose plugin is named differently)."""
        available = {p.name: p for p in (self.trino_home / "plugin").iterdir() if p.is_dir()}
        wanted: set[str] = set()
        for catalog in sorted((config_dir / "catalog").glob("*.properties")):
            connector = parse_properties(catalog.read_text()).get("connector.name", "").strip()
            name = next((n for n in (connector, connector.replace("_", "-")) if n in available), None)
            if name is None:
                return sorted(available.values())
            wanted.add(name)
        config = config_dir / "config.properties"
        props = parse_properties(config.read_text()) if config.is_file() else {}
        if props.get("http-server.authentication.type", "").upper() == "PASSWORD":
            wanted.add("password-authenticators")
        return [available[name] for name in sorted(wanted) if name in available]

    def argv(self, launch: PodLaunch, data_dir: Path, plugin_dir: Path) -> list[str]:
        own = f"http://{launch.host}:{launch.port}"
        overrides = {
            "http-server.http.port": str(launch.port),
            "node.bind-ip": launch.host,
            "node.internal-address": launch.host,
            "node.data-dir": str(data_dir),
            "catalog.config-dir": str(launch.config_dir / "catalog"),
            "plugin.dir": str(plugin_dir),
            "discovery.uri": launch.discovery_uri or own,
        }
        argv = [str(self.trino_home / "bin" / "launcher"), "run", "--etc-dir", str(launch.config_dir),
                "--data-dir", str(data_dir)]
        if self.java_home is not None:
            argv += ["--jvm-dir", str(self.java_home)]
        return argv + [f"-D{key}={value}" for key, value in overrides.items()]

    @staticmethod
    def localize_paths(launch: PodLaunch) -> None:
        """Rewrite property values that are container paths (`security.config-file=/etc/trino/rules.json`)
        to where the kubelet put those files: Trino reads them itself, and there is no mount namespace here."""
        files = [*launch.config_dir.glob("*.properties"), *launch.config_dir.glob("catalog/*.properties")]
        for path in files:
            lines = path.read_text().splitlines()
            changed = False
            for i, line in enumerate(lines):
                key, sep, value = line.partition("=")
                local = map_container_path(value.strip(), launch.mounts) if sep and not key.startswith("#") else None
                if local is not None:
                    lines[i], changed = f"{key}={local}", True
            if changed:
                path.write_text("\n".join(lines) + "\n")

    async def start(self, launch: PodLaunch) -> LocalProcess:
        self.localize_paths(launch)
        work = launch.config_dir / "_kubelet"
        data_dir, plugin_dir = work / "data", work / "plugin"
        shutil.rmtree(plugin_dir, ignore_errors=True)
        plugin_dir.mkdir(parents=True)
        data_dir.mkdir(parents=True, exist_ok=True)
        for plugin in self.plugin_dirs(launch.config_dir):
            (plugin_dir / plugin.name).symlink_to(plugin, target_is_directory=True)
        env = {**base_environment(), **launch.env}
        if self.java_home is not None:
            env["JAVA_HOME"] = str(self.java_home)
            env["PATH"] = os.pathsep.join([str(self.java_home / "bin"), env.get("PATH", "")])
        return await LocalProcess.spawn(self.argv(launch, data_dir, plugin_dir), env, launch.log_path,
                                        cwd=launch.config_dir)
