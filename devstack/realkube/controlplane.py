"""`ControlPlane`: the real Kubernetes control plane of `xtrinode dev up --kube real` and of the tests.

etcd, kube-apiserver (static tokens, RBAC, service-account keys, a serving certificate from the
devstack's own CA), kube-controller-manager (the controllers the product relies on) and
kube-scheduler, built by `scripts/fetch-kubernetes.sh`. This module says how to run them (argv,
ports, readiness) and writes their kubeconfigs; `dev up` supervises the processes as components,
`RealControlPlane` (runner.py) runs them for tests. Everything lives under one directory
(`<state-dir>/kube/`) and survives a restart: etcd data, keys, tokens, the ports chosen.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack.ports import NoFreePort, free_port

from .pki import ADMIN, CONTROLLER_MANAGER, SCHEDULER, Pki, TokenUser, ensure_pki

__all__ = [
    "BINARIES",
    "CONTROLLERS",
    "ControlPlane",
    "ControlPlaneError",
    "ProcessSpec",
    "find_binaries",
    "kubeconfig_document",
]

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
CONTROLLERS = (
    "deployment-controller", "replicaset-controller", "endpoints-controller", "endpointslice-controller",
    "garbage-collector-controller", "namespace-controller", "serviceaccount-controller",
    "serviceaccount-token-controller", "clusterrole-aggregation-controller", "node-lifecycle-controller",
)
"""kube-controller-manager --controllers: Deployments -> ReplicaSets -> Pods, Endpoints and
EndpointSlices, garbage collection of owned objects, namespace deletion, each namespace's `default`
ServiceAccount (and legacy token Secrets), aggregated ClusterRoles, and node health (it lifts the not-ready taint a new Node gets once the kubelet reports it Ready, and
taints a Node whose kubelet stopped renewing its Lease, so nothing is scheduled there). Not the
root-CA publisher: no devstack pod mounts a service-account token, and a `kube-root-ca.crt` in
every namespace would be the one object the emulator lacks."""
SERVICE_CIDR = "10.96.0.0/16"
CONTEXT = "xtrinode-devstack"
FETCH_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fetch-kubernetes.sh"


class ControlPlaneError(RuntimeError):
    """The control plane cannot be prepared or started as asked; the message says what to do."""


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One control-plane process: its argv and the URL that answers 200 once it is ready."""

    name: str
    argv: list[str]
    health_url: str


def find_binaries(bin_dir: Path | None) -> Path:
    """The directory holding the four binaries: `bin_dir`, else `$XTRINODE_KUBE_BIN`, else the cache of
    `scripts/fetch-kubernetes.sh` (which builds it the first time, ~13 minutes)."""
    if bin_dir is None and os.environ.get("XTRINODE_KUBE_BIN"):
        bin_dir = Path(os.environ["XTRINODE_KUBE_BIN"])
    if bin_dir is None:
        if not FETCH_SCRIPT.exists():
            raise ControlPlaneError("no --kube-bin given and scripts/fetch-kubernetes.sh is missing; pass --kube-bin DIR")
        result = subprocess.run(["bash", str(FETCH_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
        if result.returncode != 0:
            raise ControlPlaneError(
                f"scripts/fetch-kubernetes.sh failed (exit {result.returncode}, its messages are above); it builds "
                "the control plane from the Go module proxy and needs `go` on PATH")
        bin_dir = Path(result.stdout.strip().splitlines()[-1])
    missing = [b for b in BINARIES if not os.access(bin_dir / b, os.X_OK)]
    if missing:
        raise ControlPlaneError(
            f"{bin_dir} lacks {', '.join(missing)}; pass a --kube-bin directory with {', '.join(BINARIES)} "
            "(scripts/fetch-kubernetes.sh builds them and prints one)")
    return bin_dir


def _free_port(taken: set[int]) -> int:
    """Below the ephemeral range (devstack.ports): etcd and kube-apiserver bind it only seconds later."""
    try:
        return free_port(taken)
    except NoFreePort as e:
        raise ControlPlaneError(f"no loopback port for the control plane: {e}") from None


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def kubeconfig_document(server: str, ca_pem: bytes, token: str, user: str = CONTEXT,
                        namespace: str = "default") -> dict[str, Any]:
    """A kubeconfig: the server with its CA (never insecure-skip-tls-verify) and a bearer token."""
    import base64

    return {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {
            "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user, "namespace": namespace}}],
        "current-context": CONTEXT,
        "preferences": {},
    }


class ControlPlane:
    """One control plane's files and flags under `root`; `ControlPlane.prepare(...)` makes the files."""

    def __init__(self, bin_dir: Path, root: Path, pki: Pki, ports: dict[str, int]) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.pki = pki
        self.ports = ports

    @classmethod
    def prepare(cls, bin_dir: Path, root: Path, apiserver_port: int = 0) -> ControlPlane:
        """Keys, tokens, ports and kubeconfigs under `root` (kept from an earlier run where possible).

        `apiserver_port` 0 keeps the port of the last run when it is free, else picks one.
        """
        root = root.absolute()
        root.mkdir(parents=True, exist_ok=True)
        pki = ensure_pki(root / "pki")
        ports_file = root / "ports.json"
        try:
            previous: dict[str, int] = json.loads(ports_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {}
        ports: dict[str, int] = {}
        if apiserver_port:
            ports["apiserver"] = apiserver_port
        for name in ("apiserver", "etcd-client", "etcd-peer", "controller-manager", "scheduler"):
            if name in ports:
                continue
            old = previous.get(name)
            # etcd keeps its peer URL in its data: reuse it even when it is in use (the old etcd then fails
            # to start with a message, rather than a new etcd silently diverging from its data).
            if old and (name == "etcd-peer" or _bindable(old)) and old not in ports.values():
                ports[name] = old
            else:
                ports[name] = _free_port(set(ports.values()))
        ports_file.write_text(json.dumps(ports, indent=1), encoding="utf-8")
        plane = cls(bin_dir, root, pki, ports)
        for user, path in ((CONTROLLER_MANAGER, plane.controller_manager_kubeconfig),
                           (SCHEDULER, plane.scheduler_kubeconfig)):
            plane.write_kubeconfig(path, user)
        return plane

    # -- where things are ------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['etcd-client']}"

    @property
    def etcd_dir(self) -> Path:
        return self.root / "etcd"

    @property
    def controller_manager_kubeconfig(self) -> Path:
        return self.root / "controller-manager.kubeconfig"

    @property
    def scheduler_kubeconfig(self) -> Path:
        return self.root / "scheduler.kubeconfig"

    @property
    def admin_token(self) -> str:
        return self.pki.token(ADMIN)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pki.ca_cert))

    def write_kubeconfig(self, path: Path, user: TokenUser = ADMIN, namespace: str = "default") -> Path:
        """A kubeconfig for `user` (default: the devstack admin), private to the caller (0600)."""
        doc = kubeconfig_document(self.url, self.pki.ca_cert.read_bytes(), self.pki.token(user),
                                  user.name, namespace)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        os.replace(tmp, path)
        return path

    # -- the processes ---------------------------------------------------------------------
    def processes(self) -> list[ProcessSpec]:
        """etcd, kube-apiserver, kube-controller-manager, kube-scheduler: start in this order, each once
        the one before is ready (the last two may start together)."""
        p, pki, b = self.ports, self.pki, self.bin_dir
        peer = f"http://127.0.0.1:{p['etcd-peer']}"
        tls = [f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}"]
        etcd = ProcessSpec("etcd", [
            str(b / "etcd"), "--name=devstack", f"--data-dir={self.etcd_dir}",
            f"--listen-client-urls={self.etcd_url}", f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=devstack={peer}", "--log-level=warn",
            # A throwaway cluster on a shared disk: no fsync (a crash loses the last writes, as a restart of
            # the devstack from scratch would); keeps every write well under a millisecond.
            "--unsafe-no-fsync", "--quota-backend-bytes=2147483648",
        ], f"{self.etcd_url}/health")
        apiserver = ProcessSpec("kube-apiserver", [
            str(b / "kube-apiserver"), f"--etcd-servers={self.etcd_url}", "--bind-address=127.0.0.1",
            f"--secure-port={p['apiserver']}", *tls, f"--client-ca-file={pki.ca_cert}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.sa_pub}", f"--service-account-signing-key-file={pki.sa_key}",
            f"--token-auth-file={pki.tokens_file}", "--authorization-mode=RBAC",
            f"--service-cluster-ip-range={SERVICE_CIDR}", f"--cert-dir={self.root / 'apiserver-certs'}",
            "--profiling=false",
            # The front-proxy headers trusted from our CA only (no proxy holds such a certificate); without them
            # the controller manager and scheduler log a missing client CA every few seconds.
            f"--requestheader-client-ca-file={pki.ca_cert}", "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        ], f"{self.url}/readyz")
        common = ["--bind-address=127.0.0.1", *tls, "--leader-elect=false", f"--client-ca-file={pki.ca_cert}"]
        controller_manager = ProcessSpec("kube-controller-manager", [
            str(b / "kube-controller-manager"), f"--kubeconfig={self.controller_manager_kubeconfig}",
            f"--authentication-kubeconfig={self.controller_manager_kubeconfig}",
            f"--authorization-kubeconfig={self.controller_manager_kubeconfig}",
            f"--secure-port={p['controller-manager']}", *common,
            f"--controllers={','.join(CONTROLLERS)}", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki.sa_key}", f"--root-ca-file={pki.ca_cert}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # Owned objects and pods of deleted owners go within a second or two, not at the default pace.
            "--concurrent-gc-syncs=10", "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
        ], f"https://127.0.0.1:{p['controller-manager']}/healthz")
        scheduler = ProcessSpec("kube-scheduler", [
            str(b / "kube-scheduler"), f"--kubeconfig={self.scheduler_kubeconfig}",
            f"--authentication-kubeconfig={self.scheduler_kubeconfig}",
            f"--authorization-kubeconfig={self.scheduler_kubeconfig}",
            f"--secure-port={p['scheduler']}", *common,
        ], f"https://127.0.0.1:{p['scheduler']}/healthz")
        return [etcd, apiserver, controller_manager, scheduler]

    def healthy(self, spec: ProcessSpec, timeout: float = 1.0) -> bool:
        """Whether the process answers its health URL with 200 (the apiserver: with the admin token)."""
        request = urllib.request.Request(spec.health_url)
        context = None
        if spec.health_url.startswith("https"):
            context = self.ssl_context()
            if spec.name == "kube-apiserver":
                request.add_header("Authorization", f"Bearer {self.admin_token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                return int(response.status) == 200
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def wipe(self) -> None:
        """Forget the cluster (etcd data); keys and tokens stay."""
        shutil.rmtree(self.etcd_dir, ignore_errors=True)
