"""What a container spec means locally: env with secretKeyRef values, probe target, preStop shutdown.

Pure functions over the pod and the objects it references; secret values go into the returned env
only, never into messages or logs.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .volumes import PodConfigError

__all__ = [
    "HttpProbe",
    "ShutdownHook",
    "container_port",
    "parse_properties",
    "readiness_probe",
    "referenced_objects",
    "resolve_env",
    "shutdown_hook",
]


def parse_properties(text: str) -> dict[str, str]:
    """`key=value` / `key: value` lines of a Java properties file (comments skipped, no continuations)."""
    result: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"^([^=:\s]+)\s*[=:\s]\s*(.*)$", line)
        if match:
            result[match.group(1)] = match.group(2).strip()
        else:
            result[line] = ""
    return result


def referenced_objects(container: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(ConfigMap names, Secret names) the container's env and envFrom read."""
    config_maps: set[str] = set()
    secrets: set[str] = set()
    for entry in container.get("env") or []:
        source = entry.get("valueFrom") or {}
        if "secretKeyRef" in source:
            secrets.add(str(source["secretKeyRef"].get("name")))
        if "configMapKeyRef" in source:
            config_maps.add(str(source["configMapKeyRef"].get("name")))
    for entry in container.get("envFrom") or []:
        if "secretRef" in entry:
            secrets.add(str(entry["secretRef"].get("name")))
        if "configMapRef" in entry:
            config_maps.add(str(entry["configMapRef"].get("name")))
    return config_maps, secrets


def _secret_data(secret: Mapping[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode("utf-8", errors="replace") for k, v in (secret.get("data") or {}).items()}
    data.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
    return data


def _field_value(path: str, pod: Mapping[str, Any], pod_ip: str, host_ip: str) -> str:
    meta = pod.get("metadata") or {}
    simple = {
        "metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"), "metadata.uid": meta.get("uid"),
        "spec.nodeName": (pod.get("spec") or {}).get("nodeName"),
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName"),
        "status.podIP": pod_ip, "status.podIPs": pod_ip, "status.hostIP": host_ip, "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path] or "")
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise PodConfigError(f"fieldRef {path!r} is not supported by the devstack kubelet; use metadata.name or status.podIP")


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` references to earlier variables; `$$(VAR)` stays literal."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)


def resolve_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    config_maps: Mapping[str, Mapping[str, Any]],
    secrets: Mapping[str, Mapping[str, Any]],
    pod_ip: str = "127.0.0.1",
    host_ip: str = "127.0.0.1",
) -> dict[str, str]:
    """The container's environment as the kubelet would set it (HOSTNAME included); fieldRefs to
    `status.podIP` and `status.hostIP` get `pod_ip` and `host_ip`."""
    env: dict[str, str] = {"HOSTNAME": str(pod["metadata"]["name"])}
    for entry in container.get("envFrom") or []:
        prefix = str(entry.get("prefix") or "")
        if "configMapRef" in entry:
            ref = entry["configMapRef"]
            cm = config_maps.get(str(ref.get("name")))
            if cm is None and not ref.get("optional"):
                raise PodConfigError(f'configmap "{ref.get("name")}" not found (envFrom); create it or mark it optional')
            env.update({prefix + k: str(v) for k, v in ((cm or {}).get("data") or {}).items()})
        if "secretRef" in entry:
            ref = entry["secretRef"]
            secret = secrets.get(str(ref.get("name")))
            if secret is None and not ref.get("optional"):
                raise PodConfigError(f'secret "{ref.get("name")}" not found (envFrom); create it or mark it optional')
            env.update({prefix + k: v for k, v in _secret_data(secret or {}).items()})
    for entry in container.get("env") or []:
        name = str(entry["name"])
        source = entry.get("valueFrom")
        if source is None:
            env[name] = _expand(str(entry.get("value") or ""), env)
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = secrets.get(str(ref.get("name")))
            data = _secret_data(secret) if secret is not None else None
            if data is None or ref.get("key") not in data:
                if ref.get("optional"):
                    continue
                what = f'secret "{ref.get("name")}"' if data is None else f'key {ref.get("key")!r} in secret "{ref.get("name")}"'
                raise PodConfigError(f"env {name}: {what} not found; create it or mark the secretKeyRef optional")
            env[name] = data[str(ref["key"])]
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            data = (config_maps.get(str(ref.get("name"))) or {}).get("data") or {}
            if ref.get("key") not in data:
                if ref.get("optional"):
                    continue
                raise PodConfigError(f'env {name}: key {ref.get("key")!r} in configmap "{ref.get("name")}" not found')
            env[name] = str(data[ref["key"]])
        elif "fieldRef" in source:
            env[name] = _field_value(str(source["fieldRef"].get("fieldPath")), pod, pod_ip, host_ip)
        else:
            kinds = ", ".join(sorted(source))
            raise PodConfigError(f"env {name}: valueFrom {kinds} is not supported by the devstack kubelet")
    return env


def container_port(container: Mapping[str, Any], port: int | str) -> int:
    """A probe or Service targetPort (number or port name) as the container port number."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise PodConfigError(f"container {container.get('name')!r} declares no port named {port!r}; add it to ports")


@dataclass(frozen=True, slots=True)
class HttpProbe:
    """An httpGet readiness probe, or a tcpSocket one when `path` is None."""

    port: int
    path: str | None = "/"
    scheme: str = "HTTP"
    headers: tuple[tuple[str, str], ...] = ()
    period_seconds: float = 10.0
    """`periodSeconds` (Kubernetes' default 10): how often a pod that is ready is probed again."""


def _period(probe: Mapping[str, Any]) -> float:
    try:
        return max(1.0, float(probe.get("periodSeconds") or 10))
    except (TypeError, ValueError):
        return 10.0


def readiness_probe(container: Mapping[str, Any]) -> HttpProbe | None:
    """The readiness probe to poll; None means ready as soon as the process runs (as without a probe)."""
    probe = container.get("readinessProbe") or {}
    if "httpGet" in probe:
        get = probe["httpGet"]
        headers = tuple((str(h["name"]), str(h["value"])) for h in get.get("httpHeaders") or [])
        return HttpProbe(container_port(container, get["port"]), str(get.get("path") or "/"),
                         str(get.get("scheme") or "HTTP"), headers, _period(probe))
    if "tcpSocket" in probe:
        return HttpProbe(container_port(container, probe["tcpSocket"]["port"]), None, period_seconds=_period(probe))
    return None


@dataclass(frozen=True, slots=True)
class ShutdownHook:
    """A preStop hook as the kubelet runs it here: an HTTP request to the container, then waiting for exit.

    For the Trino worker hook: PUT "SHUTTING_DOWN" to /v1/info/state as `user`, with the password
    from env var `password_env` when the hook sends one.
    """

    port: int
    path: str
    method: str = "PUT"
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    user: str | None = None
    password_env: str | None = None
    wait_for_exit: bool = True


_TRINO_STATE = re.compile(r"https?://(?:localhost|127\.0\.0\.1)(?::(\d+))?(/v1/info/state)")
_TRINO_USER = re.compile(r"X-Trino-User:\s*([^'\"\s]+)")
_BASIC = re.compile(r"-u\s+'?([^:'\"\s]+):'?\s*\"?\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def shutdown_hook(container: Mapping[str, Any]) -> ShutdownHook | None:
    """The container's preStop hook when it is one this kubelet can run (Trino shutdown, or httpGet)."""
    pre_stop = (container.get("lifecycle") or {}).get("preStop") or {}
    if "httpGet" in pre_stop:
        get = pre_stop["httpGet"]
        headers = tuple((str(h["name"]), str(h["value"])) for h in get.get("httpHeaders") or [])
        return ShutdownHook(container_port(container, get["port"]), str(get.get("path") or "/"), "GET",
                            headers=headers, wait_for_exit=False)
    command = " ".join(str(part) for part in (pre_stop.get("exec") or {}).get("command") or [])
    match = _TRINO_STATE.search(command)
    if match is None or "SHUTTING_DOWN" not in command:
        return None
    user = _TRINO_USER.search(command)
    basic = _BASIC.search(command)
    return ShutdownHook(
        port=int(match.group(1) or 80),
        path=match.group(2),
        body='"SHUTTING_DOWN"',
        headers=(("Content-Type", "application/json"),),
        user=user.group(1) if user else (basic.group(1) if basic else None),
        password_env=basic.group(2) if basic else None,
    )
