"""A few plain HTTP calls to the devstack's Kubernetes API: server-side apply, create, get, list.

`dev up` and `dev status` need only these, so they skip the official client's discovery and start-up
cost. `KubeClient.from_kubeconfig(path)` speaks what the kubeconfig says: plain HTTP to the emulator,
or TLS verified with the kubeconfig's CA plus a bearer token to the real kube-apiserver.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from xtrinode.models import API_GROUP, API_VERSION

__all__ = ["KubeClient", "KubeError", "crd_path", "custom_path", "established", "http_ok", "is_up", "namespace_path"]

MANAGER = "xtrinode-devstack"


class KubeError(OSError):
    """The API answered with an error; the message carries its status and reason."""


def namespace_path(name: str) -> str:
    return f"/api/v1/namespaces/{name}"


def crd_path(name: str) -> str:
    return f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"


def custom_path(namespace: str | None, plural: str, name: str | None = None) -> str:
    base = f"/apis/{API_GROUP}/{API_VERSION}"
    path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
    return f"{path}/{name}" if name else path


def established(crd: dict[str, Any] | None) -> bool:
    """Whether a CustomResourceDefinition has condition Established=True (its resources are served)."""
    conditions = ((crd or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except (OSError, ValueError):
        return False


def coordinator_ready(gateway_url: str, runtime: str, timeout: float = 2.0) -> bool:
    """The runtime's coordinator answers `/v1/info` through the gateway and is not starting (wakes nothing:
    the gateway answers 409 for a suspended runtime)."""
    request = urllib.request.Request(f"{gateway_url}/v1/info", headers={"X-Trino-XTrinode": runtime,
                                                                         "X-Trino-User": "devstack"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            info = json.loads(response.read())
            return int(response.status) == 200 and isinstance(info, dict) and info.get("starting") is False
    except (OSError, ValueError):
        return False


def is_up(base_url: str) -> bool:
    return http_ok(f"{base_url}/version")


def _kubeconfig_access(path: Path) -> tuple[str, ssl.SSLContext | None, str | None]:
    """Server URL, TLS context (the kubeconfig's CA) and bearer token of the current context."""
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise KubeError(0, f"cannot read kubeconfig {str(path)!r}: {e}") from e

    def named(section: str, name: str) -> dict[str, Any]:
        for item in doc.get(section) or []:
            if item.get("name") == name:
                found: dict[str, Any] = item.get(section[:-1]) or {}
                return found
        raise KubeError(0, f"kubeconfig {str(path)!r} has no {section[:-1]} {name!r}")

    context = named("contexts", str(doc.get("current-context") or ""))
    cluster = named("clusters", str(context.get("cluster") or ""))
    user = named("users", str(context.get("user") or "")) if context.get("user") else {}
    server = str(cluster.get("server") or "")
    tls: ssl.SSLContext | None = None
    if server.startswith("https"):
        if cluster.get("certificate-authority-data"):
            tls = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        elif cluster.get("certificate-authority"):
            tls = ssl.create_default_context(cafile=str(cluster["certificate-authority"]))
        else:
            tls = ssl.create_default_context()
    token = user.get("token")
    return server, tls, str(token) if token else None


class KubeClient:
    def __init__(self, base_url: str, timeout: float = 10.0, *, ssl_context: ssl.SSLContext | None = None,
                 token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._ssl = ssl_context
        self._token = token

    @classmethod
    def from_kubeconfig(cls, path: Path | str, timeout: float = 10.0) -> KubeClient:
        """The API server of the kubeconfig's current context, with its CA and token."""
        server, tls, token = _kubeconfig_access(Path(path))
        return cls(server, timeout, ssl_context=tls, token=token)

    def is_up(self) -> bool:
        """Whether the server answers `/version` (authenticated)."""
        try:
            self._call("GET", "/version")
        except OSError:
            return False
        return True

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._ssl) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            detail = e.read()[:300].decode(errors="replace")
            raise KubeError(e.code, f"{method} {path}: HTTP {e.code}: {detail}") from e

    def apply(self, path: str, body: dict[str, Any]) -> Any:
        """Server-side apply as field manager `xtrinode-devstack` (conflicts forced)."""
        return self._call("PATCH", f"{path}?fieldManager={MANAGER}&force=true", body, "application/apply-patch+yaml")

    def create_if_missing(self, collection: str, body: dict[str, Any]) -> bool:
        """Create the object; False when it exists already (left as it is)."""
        try:
            self._call("POST", f"{collection}?fieldManager={MANAGER}", body)
        except KubeError as e:
            if e.errno == 409:
                return False
            raise
        return True

    def get(self, path: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self._call("GET", path)
        except KubeError as e:
            if e.errno == 404:
                return None
            raise
        return found

    def items(self, path: str) -> list[dict[str, Any]]:
        body = self.get(path) or {}
        items: list[dict[str, Any]] = body.get("items") or []
        return items

    def runtimes(self) -> list[dict[str, Any]]:
        """Every XTrinode: namespace, name, phase, suspended flag and status message."""
        out = []
        for obj in self.items(custom_path(None, "xtrinodes")):
            meta, status = obj.get("metadata") or {}, obj.get("status") or {}
            out.append({"namespace": meta.get("namespace"), "name": meta.get("name"),
                        "phase": status.get("phase", "Pending"), "suspended": bool((obj.get("spec") or {}).get("suspended")),
                        "message": status.get("message", "")})
        return out

    def pod_pids(self) -> dict[str, int]:
        """`namespace/pod` -> pid of each running devstack pod process (from its containerID)."""
        pids: dict[str, int] = {}
        for pod in self.items("/api/v1/pods"):
            meta = pod.get("metadata") or {}
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                # `xtrinode-devstack://<pid>`; nodes hosted in the kubelet (`.../in-process/...`) have no pid.
                pid = str(status.get("containerID") or "").removeprefix("xtrinode-devstack://")
                if pid.isdigit():
                    pids[f"{meta.get('namespace')}/{meta.get('name')}"] = int(pid)
        return pids
