"""Rules over `spec.valuesOverlay`: the whole tree is searched, keys and `k=v` strings alike.

Rejects HTTP port or HTTP-off overrides, HTTPS server mode, HTTP auth other than PASSWORD (and PASSWORD
without control credentials), and pod or Service settings that break a runtime's isolation.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from xtrinode.admission.findings import Change, Loc, Report, format_path, get, is_false, is_set, is_true, show

__all__ = [
    "MAX_OVERLAY_DEPTH",
    "OVERLAY_RULES",
    "Setting",
    "check_auth",
    "check_depth",
    "check_http",
    "check_isolation",
    "iter_settings",
    "overlay_depth",
]

OVERLAY: Loc = ("spec", "valuesOverlay")
# `key=value` or `key: value` lines, also JVM system properties (`-Dkey=value`) that Trino's config reads.
_KEY_CONTEXT = 8
MAX_OVERLAY_DEPTH = 32
_PROPERTY_LINE = re.compile(r"^\s*(?:-D)?([A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*[=:]\s*(.*?)\s*$")


@dataclass(frozen=True)
class Setting:
    """One key/value found in the overlay: a mapping entry, a `name`/`value` pair or a `k=v` line."""

    loc: Loc
    key: str
    """Dotted, lower-cased key path (`coordinator.config.http-server.http.port`) or property name."""
    leaf: str
    """The last key as written, lower-cased (`hostnetwork`)."""
    parent: str
    value: Any
    from_text: bool = False

    def is_property(self, name: str) -> bool:
        """True when this setting is Trino property `name`, flat or nested (`a.b.c` or `{a: {b: {c: }}}`)."""
        return self.key == name or self.key.endswith("." + name)


def iter_settings(overlay: Any) -> Iterator[Setting]:
    """Every setting in the overlay tree, breadth first; iterative, so deep trees cannot overflow."""
    queue: deque[tuple[Loc, tuple[str, ...], Any]] = deque([(OVERLAY, (), overlay)])
    while queue:
        loc, keys, value = queue.popleft()
        if isinstance(value, Mapping):
            pair_name, pair_value = value.get("name"), value.get("value")
            if isinstance(pair_name, str) and "value" in value:
                yield Setting(loc, pair_name.lower(), pair_name.lower(), "", pair_value)
            parent = keys[-1] if keys else ""
            for raw_key, item in value.items():
                key = str(raw_key).lower()
                path = (*keys[-_KEY_CONTEXT:], key)  # property names need only the last few keys
                yield Setting((*loc, str(raw_key)), ".".join(path), key, parent, item)
                queue.append(((*loc, str(raw_key)), path, item))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                queue.append(((*loc, index), keys, item))
        elif isinstance(value, str):
            for line in value.splitlines():
                match = _PROPERTY_LINE.match(line)
                if match:
                    name = match.group(1).lower()
                    yield Setting(loc, name, name, "", match.group(2), from_text=True)


def overlay_depth(overlay: Any) -> int:
    """How deeply mappings and lists nest in the overlay (a scalar is depth 0)."""
    deepest = 0
    stack: list[tuple[int, Any]] = [(0, overlay)]
    while stack:
        depth, value = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(value, Mapping):
            stack.extend((depth + 1, item) for item in value.values())
        elif isinstance(value, list):
            stack.extend((depth + 1, item) for item in value)
    return deepest


def _overlay(change: Change) -> Any:
    """The overlay to search; an absurdly deep one is only reported by check_depth."""
    overlay = change.spec.get("valuesOverlay")
    return None if overlay_depth(overlay) > MAX_OVERLAY_DEPTH else overlay


def check_depth(change: Change, report: Report) -> None:
    """Overlays are Helm-like values, a few levels deep; absurd nesting is refused outright."""
    depth = overlay_depth(change.spec.get("valuesOverlay"))
    if depth > MAX_OVERLAY_DEPTH:
        report.reject(
            OVERLAY,
            f"nests {depth} levels deep, more than the {MAX_OVERLAY_DEPTH} accepted; flatten it",
        )


def check_http(change: Change, report: Report) -> None:
    """Trino keeps plain HTTP on the rendered port; TLS ends at the gateway."""
    for setting in iter_settings(_overlay(change)):
        nested = isinstance(setting.value, (Mapping, list))
        shown = f"{setting.key}={show(setting.value)}" if setting.from_text else show(setting.value)
        if setting.is_property("http-server.http.port"):
            report.reject(
                setting.loc,
                f"{shown} overrides Trino's HTTP port (http-server.http.port), which Services, probes and "
                "the gateway depend on; use valuesOverlay.service.port to change the port",
            )
        elif setting.is_property("http-server.http.enabled") and not is_true(setting.value):
            report.reject(
                setting.loc,
                f"{shown} turns off Trino's HTTP server (http-server.http.enabled), which the gateway and "
                "the operator use; remove it (TLS ends at the gateway; use valuesOverlay.service.port "
                "to change the port)",
            )
        elif setting.is_property("https.enabled") and not is_false(setting.value):
            report.reject(
                setting.loc,
                f"{shown} turns on Trino's HTTPS server mode, which XTrinode does not run; remove it: "
                "clients reach Trino through the gateway, which terminates TLS",
            )
        elif "http-server.https." in f".{setting.key}" and not nested and not setting.is_property("https.enabled"):
            report.reject(
                setting.loc,
                f"{shown} configures Trino's HTTPS server ({setting.key}), which XTrinode does not run; "
                "remove it: clients reach Trino through the gateway, which terminates TLS",
            )


def _auth_types(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    types: list[str] = []
    for item in items:
        if isinstance(item, str):
            types.extend(part.strip().upper() for part in item.split(",") if part.strip())
        elif item is not None:
            types.append(show(item))
    return types


def check_auth(change: Change, report: Report) -> None:
    """HTTP auth is none or PASSWORD; PASSWORD needs credentials for the operator's control calls."""
    password_at: Loc | None = None
    for setting in iter_settings(_overlay(change)):
        if not (setting.is_property("http-server.authentication.type") or setting.leaf == "authenticationtype"):
            continue
        types = _auth_types(setting.value)
        others = [t for t in types if t != "PASSWORD"]
        if others:
            report.reject(
                setting.loc,
                f"HTTP authentication type {', '.join(others)} is not supported: the operator's control "
                "calls and the gateway speak PASSWORD (or no auth) to Trino; use PASSWORD with "
                "spec.trinoControlAuth.passwordSecret, and authenticate users at the gateway (gateway.auth)",
            )
        if "PASSWORD" in types and password_at is None:
            password_at = setting.loc
    secret = get(change.spec, "trinoControlAuth", "passwordSecret")
    if password_at is not None and not isinstance(secret, Mapping):
        report.reject(
            ("spec", "trinoControlAuth", "passwordSecret"),
            f"is not set, but {format_path(password_at)} turns on PASSWORD authentication, "
            "so the operator's control calls (readiness, graceful shutdown) would be refused; set "
            "spec.trinoControlAuth.passwordSecret: {name: <secret>, key: <key>} (and username if not "
            "'xtrinode-operator')",
        )


_HOST_NAMESPACES = {"hostnetwork": "network", "hostpid": "process", "hostipc": "IPC"}
_CONTAINER_KEYS = {"sidecars", "sidecarcontainers", "extracontainers", "initcontainers", "extrainitcontainers"}
_EXPOSING_SERVICE_TYPES = {"LoadBalancer", "NodePort"}


def _isolation_problem(setting: Setting) -> str | None:
    leaf, value = setting.leaf, setting.value
    if leaf in _HOST_NAMESPACES and is_set(value):
        return (
            f"{show(value)} shares the node's {_HOST_NAMESPACES[leaf]} namespace with Trino, which breaks "
            "the runtime's isolation; remove it"
        )
    if leaf == "privileged" and is_set(value):
        return f"{show(value)} runs Trino as a privileged container; remove it (Trino needs no privileges)"
    if leaf == "allowprivilegeescalation" and is_set(value):
        return f"{show(value)} lets processes gain privileges; remove it or set allowPrivilegeEscalation: false"
    if leaf == "add" and setting.parent == "capabilities" and is_set(value):
        return f"{show(value)} adds Linux capabilities; remove it (Trino needs none)"
    if leaf == "hostpath" and value is not None:
        return (
            "a hostPath volume exposes the node's filesystem to Trino; use a configMap, secret, emptyDir "
            "or persistentVolumeClaim volume instead"
        )
    if leaf == "hostport" and is_set(value):
        return f"{show(value)} binds a port on the node; remove it and reach Trino through the gateway"
    if leaf == "type" and isinstance(value, str) and value.strip() in _EXPOSING_SERVICE_TYPES:
        return (
            f"Service type {value.strip()!r} exposes the runtime outside the gateway; use ClusterIP (the "
            "default) and reach Trino through the gateway"
        )
    if leaf == "externalips" and is_set(value):
        return f"{show(value)} exposes the runtime outside the gateway; remove it and use the gateway"
    if leaf == "envfrom" and is_set(value):
        return (
            "envFrom imports every key of a Secret or ConfigMap into Trino's environment; use env entries "
            "that name each variable, and catalog propertySecretRefs for catalog secrets"
        )
    if leaf in _CONTAINER_KEYS and is_set(value):
        return (
            "extra containers in Trino pods run outside XTrinode's control (same network, service account "
            "and volumes); bake the tool into the image (valuesOverlay image) or run it as its own workload"
        )
    return None


def check_isolation(change: Change, report: Report) -> None:
    """Pod and Service settings that would let a runtime escape its namespace or bypass the gateway."""
    for setting in iter_settings(_overlay(change)):
        if setting.from_text:
            continue
        problem = _isolation_problem(setting)
        if problem is not None:
            report.reject(setting.loc, problem)


OVERLAY_RULES = (check_depth, check_http, check_auth, check_isolation)
