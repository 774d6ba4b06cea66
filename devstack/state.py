"""The devstack's state directory: where logs, data and `devstack.json` live.

`devstack.json` is written by `xtrinode dev up` and read by `dev status` and `dev down`: the
supervisor's pid, each component's pid, log and URL, and the URLs a user needs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, Field

__all__ = ["ComponentInfo", "DevstackInfo", "StateDir", "pid_alive"]

DEFAULT_STATE_DIR = Path(".xtrinode")


class ComponentInfo(BaseModel):
    """One supervised process."""

    pid: int
    url: str | None = Field(default=None, description="Where it serves, when it serves something.")
    log: str = Field(description="Its log file (JSON lines where the component supports it).")


class DevstackInfo(BaseModel):
    """What a running `xtrinode dev up` publishes in `<state-dir>/devstack.json`."""

    supervisor_pid: int
    ready: bool = False
    gateway_url: str
    gateway_internal_url: str | None = None
    """The gateway's internal listener (demand and load endpoints), on loopback."""
    api_url: str | None = None
    """The API server (`xtrinode runtime`, curl)."""
    api_token_file: str | None = None
    """A file holding an admin token of the API server (never the token itself here)."""
    temporal_address: str
    temporal_ui_url: str
    kube_url: str
    kubeconfig: str
    kube_backend: str = Field(default="emulator", description="`emulator` or `real` (dev up --kube).")
    jaeger_url: str | None = Field(default=None, description="Jaeger's query API (dev up --traces).")
    components: dict[str, ComponentInfo] = Field(default_factory=dict)
    pod_pids: dict[str, int] = Field(default_factory=dict, description="`ns/pod` -> pid of kubelet pod processes seen.")


class StateDir:
    """Paths inside one devstack state directory (default `.xtrinode/`)."""

    def __init__(self, root: Path | str = DEFAULT_STATE_DIR) -> None:
        self.root = Path(root).absolute()

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def traces(self) -> Path:
        """Spans of every process as OTLP-JSON lines (`xtrinode dev traces` reads them)."""
        return self.root / "traces"

    @property
    def info_file(self) -> Path:
        return self.root / "devstack.json"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def kube_state(self) -> Path:
        return self.root / "kubeapi-state.json"

    @property
    def temporal_db(self) -> Path:
        return self.root / "temporal.db"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def services_file(self) -> Path:
        return self.kubelet_dir / "services.json"

    @property
    def gateway_config(self) -> Path:
        return self.root / "gateway.yaml"

    @property
    def api_config(self) -> Path:
        return self.root / "api-server.yaml"

    @property
    def api_tokens(self) -> Path:
        """The API server's token file (the devstack's admin token), mode 0600."""
        return self.root / "api-tokens.yaml"

    @property
    def api_token(self) -> Path:
        """The admin token alone, for `xtrinode runtime` and curl (mode 0600)."""
        return self.root / "api-token"

    def log_file(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def create(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.kubelet_dir.mkdir(parents=True, exist_ok=True)

    def read_info(self) -> DevstackInfo | None:
        """The published info, or None when no devstack ever ran here."""
        try:
            text = self.info_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return DevstackInfo.model_validate(json.loads(text))

    def write_info(self, info: DevstackInfo) -> None:
        tmp = self.info_file.with_suffix(".tmp")
        tmp.write_text(info.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, self.info_file)

    def running_supervisor(self) -> int | None:
        """The pid of a live `dev up` using this directory, if any."""
        info = self.read_info()
        if info is not None and pid_alive(info.supervisor_pid):
            return info.supervisor_pid
        return None


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (zombies of our own children count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
