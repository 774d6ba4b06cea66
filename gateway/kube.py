"""Reaching the Kubernetes API from the gateway with aiohttp: server, token and TLS from a kubeconfig or in-cluster.

Only what a read-only watcher needs: bearer tokens (re-read from the service-account file each time),
client certificates and CA data. Exec credential plugins are not supported (the error says so).
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["KubeAccess", "KubeConfigError", "kube_access"]

_SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeConfigError(ValueError):
    """The kubeconfig or the in-cluster environment does not say how to reach the API server."""


@dataclass(frozen=True)
class KubeAccess:
    """Base URL, TLS context and how to get the bearer token for API requests."""

    server: str
    ssl_context: ssl.SSLContext | bool
    token: str | None = None
    token_file: Path | None = None

    def headers(self) -> dict[str, str]:
        token = self.token
        if self.token_file is not None:
            token = self.token_file.read_text(encoding="utf-8").strip()
        out = {"Accept": "application/json", "Accept-Encoding": "identity"}
        if token:
            out["Authorization"] = f"Bearer {token}"
        return out


def _pick(items: Any, name: str, what: str, source: str) -> Mapping[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            found = item.get(what)
            return found if isinstance(found, dict) else {}
    raise KubeConfigError(f"kubeconfig {source!r} has no {what} named {name!r}; check current-context")


def _data_or_file(section: Mapping[str, Any], key: str, base: Path) -> bytes | None:
    if section.get(f"{key}-data"):
        return base64.b64decode(section[f"{key}-data"])
    if section.get(key):
        path = Path(section[key])
        return (path if path.is_absolute() else base / path).read_bytes()
    return None


def _ssl_context(cluster: Mapping[str, Any], user: Mapping[str, Any], base: Path) -> ssl.SSLContext | bool:
    server = str(cluster.get("server", ""))
    if not server.startswith("https"):
        return False
    if cluster.get("insecure-skip-tls-verify"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        ca = _data_or_file(cluster, "certificate-authority", base)
        context = ssl.create_default_context(cadata=ca.decode() if ca else None)
    cert = _data_or_file(user, "client-certificate", base)
    key = _data_or_file(user, "client-key", base)
    if cert and key:
        with tempfile.TemporaryDirectory() as tmp:
            cert_path, key_path = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
            cert_path.write_bytes(cert)
            key_path.write_bytes(key)
            context.load_cert_chain(cert_path, key_path)
    return context


def _from_kubeconfig(path: str, context_name: str | None) -> KubeAccess:
    source = Path(path).expanduser()
    try:
        config = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise KubeConfigError(f"cannot read kubeconfig {path!r}: {e}; set kube.kubeconfig to a readable file") from e
    name = context_name or config.get("current-context")
    if not name:
        raise KubeConfigError(f"kubeconfig {path!r} has no current-context; set kube.context")
    context = _pick(config.get("contexts"), name, "context", path)
    cluster = _pick(config.get("clusters"), context.get("cluster", ""), "cluster", path)
    user = _pick(config.get("users"), context.get("user", ""), "user", path) if context.get("user") else {}
    if "exec" in user or "auth-provider" in user:
        raise KubeConfigError(
            f"kubeconfig {path!r} user {context.get('user')!r} uses an exec/auth-provider plugin, which the gateway "
            "does not run; use a service-account token (kubectl create token) or run in-cluster"
        )
    server = str(cluster.get("server", "")).rstrip("/")
    if not server:
        raise KubeConfigError(f"kubeconfig {path!r} cluster {context.get('cluster')!r} has no server")
    token_file = Path(user["tokenFile"]) if user.get("tokenFile") else None
    return KubeAccess(server, _ssl_context(cluster, user, source.parent), user.get("token"), token_file)


def _in_cluster() -> KubeAccess:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise KubeConfigError(
            "not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no kube.kubeconfig given; "
            "set kube.kubeconfig (or XTRINODE_GATEWAY__KUBE__KUBECONFIG)"
        )
    host = f"[{host}]" if ":" in host else host
    context = ssl.create_default_context(cafile=str(_SA_DIR / "ca.crt"))
    return KubeAccess(f"https://{host}:{port}", context, token_file=_SA_DIR / "token")


def kube_access(kubeconfig: str | None, context: str | None = None) -> KubeAccess:
    """From the kubeconfig file when given, else the pod's service account."""
    return _from_kubeconfig(kubeconfig, context) if kubeconfig else _in_cluster()
