"""Settings of the devstack kubelet: where the cluster is, where pod state lives, how often to look.

Built by `__main__` from flags or directly by tests and the devstack; durations are `timedelta`.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from xtrinode.durations import Duration

__all__ = ["KubeletSettings"]


class KubeletSettings(BaseModel):
    """One local kubelet; defaults suit the devstack, tests shorten the intervals."""

    model_config = ConfigDict(frozen=True)

    kubeconfig: Path = Field(description="kubeconfig of the Kubernetes API (the emulator writes one)")
    state_dir: Path = Field(description="pod directories, logs/<ns>_<pod>.log and services.json go here")
    node_name: str = Field("xtrinode-devstack", description="spec.nodeName of the pods this kubelet runs")
    namespaces: tuple[str, ...] = Field(
        (), description="only manage these namespaces (default: all); lets tests run one kubelet each"
    )
    resync_period: Duration = Field(
        timedelta(minutes=5), description="re-list everything this often, as informers do (default 5m)"
    )
    readiness_poll_interval: Duration = Field(
        timedelta(seconds=1), description="readiness probe period of a pod that is not ready yet or is terminating "
        "(default 1s; initialDelaySeconds is not honoured, to keep the devstack quick); a ready pod is probed again "
        "after its probe's periodSeconds"
    )
    probe_timeout: Duration = Field(timedelta(seconds=2), description="one readiness probe request (default 2s)")
    restart_backoff_max: Duration = Field(
        timedelta(seconds=10), description="cap of the crash restart back-off, doubling from 0.5s (default 10s)"
    )
    stop_grace: Duration = Field(
        timedelta(seconds=5), description="on kubelet stop, SIGTERM then SIGKILL after this long (default 5s)"
    )
    node_heartbeat: Duration = Field(
        timedelta(seconds=10), description="node agent (real control plane): how often the Node's Lease is renewed "
        "(default 10s, as a kubelet does; the Lease lasts 40s); Node status is rewritten every 6th beat"
    )
    python: str = Field(sys.executable, description="interpreter that runs the Trino emulator")
    emulator_args: tuple[str, ...] = Field(
        (), description="extra flags for every emulator process, e.g. ('--announce-interval', '1s')"
    )
    in_process_nodes: bool = Field(
        False, description="host every pod's emulated Trino node inside the kubelet's own process (one server "
        "per pod, the same node code and flags) instead of one OS process per pod: for scale tests with hundreds "
        "of runtimes; crash tests need the default, since a node here cannot be killed on its own"
    )
    trino_home: Path | None = Field(
        None, description="an unpacked trino-server tarball: pods then run real Trino (`bin/launcher run`) "
        "instead of the emulator; scripts/fetch-trino.sh downloads one"
    )
    java_home: Path | None = Field(
        None, description="the JDK real Trino runs on (Trino 476 needs Java 24+); default: $JAVA_HOME, then the "
        "`java` on PATH"
    )

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pods_dir(self) -> Path:
        return self.state_dir / "pods"

    @property
    def services_file(self) -> Path:
        return self.state_dir / "services.json"

    def manages(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces
