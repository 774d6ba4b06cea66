"""Rules over `spec.valuesOverlay`: the whole tree is searched, keys and `k=v` strings alike.

Rejects HTTP port or HTTP-off overrides, HTTPS server mode, HTTP auth other than PASSWORD, JWT and
OAUTH2 (and auth without control credentials), pod or Service settings that break a runtime's
isolation, keys render does not support, plaintext secrets in Trino properties, and any overlay that
render would refuse (the runtime would otherwise fail later with a RenderError).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from xtrinode.admission.catalog_rules import looks_secret
from xtrinode.admission.findings import Change, Loc, Report, format_path, get, is_false, is_set, is_true, show
from xtrinode.models import XTrinode
from xtrinode.models.overlay import AUTH_TYPES, SUPPORTED_KEYS, ValuesOverlay, parse_property_line
from xtrinode.render import RenderError, render_runtime

__all__ = [
    "MAX_OVERLAY_DEPTH",
    "OVERLAY_RULES",
    "Setting",
    "check_auth",
    "check_depth",
    "check_http",
    "check_isolation",
    "check_known_keys",
    "check_plaintext_properties",
    "check_renders",
    "iter_settings",
    "overlay_depth",
]

OVERLAY: Loc = ("spec", "valuesOverlay")
# `key=value` or `key: value` lines, also JVM system properties (`-Dkey=value`) that Trino's config reads.
_KEY_CONTEXT = 8
MAX_OVERLAY_DEPTH = 32
_PROPERTY_LINE = re.compile(r"^\s*(?:-D)?([A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*[=:]\s*(.*?)\s*$")
# `-Dkey=value` anywhere in a line: JVM options in one string (JAVA_TOOL_OPTIONS, JAVA_OPTS).
_SYSTEM_PROPERTY = re.compile(r"(?:^|[\s=\"'])-D([A-Za-z0-9_][A-Za-z0-9_.\-]*)=([^\s\"']*)")


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
                found: set[tuple[str, str]] = set()
                match = _PROPERTY_LINE.match(line)
                if match:
                    found.add((match.group(1).lower(), match.group(2)))
                    yield Setting(loc, match.group(1).lower(), match.group(1).lower(), "", match.group(2), from_text=True)
                for flag in _SYSTEM_PROPERTY.finditer(line):
                    name = flag.group(1).lower()
                    if (name, flag.group(2)) not in found:
                        found.add((name, flag.group(2)))
                        yield Setting(loc, name, name, "", flag.group(2), from_text=True)


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
    """HTTP auth is none, or PASSWORD, JWT and OAUTH2; any of them needs credentials for the operator's
    control calls, and JWT or OAUTH2 need PASSWORD next to them (the control calls send a password)."""
    first_at: Loc | None = None
    types: list[str] = []
    for setting in iter_settings(_overlay(change)):
        if not (setting.is_property("http-server.authentication.type") or setting.leaf == "authenticationtype"):
            continue
        found = _auth_types(setting.value)
        others = [t for t in found if t not in AUTH_TYPES]
        if others:
            report.reject(
                setting.loc,
                f"HTTP authentication type {', '.join(others)} is not supported: XTrinode runs Trino with "
                f"{', '.join(AUTH_TYPES)} (or no authentication); use one of those, with "
                "spec.trinoControlAuth.passwordSecret for the operator's control calls, or authenticate users at "
                "the gateway (gateway.auth)",
            )
        if found and first_at is None:
            first_at = setting.loc
        types.extend(t for t in found if t in AUTH_TYPES and t not in types)
    if first_at is None or not types:
        return
    secret = get(change.spec, "trinoControlAuth", "passwordSecret")
    if not isinstance(secret, Mapping):
        report.reject(
            ("spec", "trinoControlAuth", "passwordSecret"),
            f"is not set, but {format_path(first_at)} turns on {','.join(types)} authentication, "
            "so the operator's control calls (readiness, graceful shutdown) would be refused; set "
            "spec.trinoControlAuth.passwordSecret: {name: <secret>, key: <key>} (and username if not "
            "'xtrinode-operator'), and list the control user in the auth.passwordAuthSecret password file",
        )
    if "PASSWORD" not in types:
        report.reject(
            first_at,
            f"{','.join(types)} authentication without PASSWORD: the operator's control calls authenticate "
            f"with spec.trinoControlAuth's password; write {','.join([*types, 'PASSWORD'])} and set "
            "auth.passwordAuthSecret (a password file listing the control user)",
        )


_HOST_NAMESPACES = {"hostnetwork": "network", "hostpid": "process", "hostipc": "IPC"}
# Extra containers outside valuesOverlay.sidecarContainers (which runs them under the gate, each searched
# like the rest of the overlay for the settings above).
_CONTAINER_KEYS = {"sidecars", "extracontainers", "initcontainers", "extrainitcontainers"}
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
    if leaf == "envfrom" and is_set(value) and setting.loc != (*OVERLAY, "envFrom"):
        return (
            "envFrom is supported only as valuesOverlay.envFrom (the Trino container of both roles); remove "
            "it here"
        )
    if leaf in _CONTAINER_KEYS and is_set(value):
        return (
            "extra containers in Trino pods run outside XTrinode's control (same network, service account "
            "and volumes); use valuesOverlay.sidecarContainers.{coordinator,worker} (under the valuesOverlay "
            "permission), bake the tool into the image, or run it as its own workload"
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


def check_known_keys(change: Change, report: Report) -> None:
    """Only the keys render applies (Trino Helm chart names): nothing in the overlay is silently ignored."""
    overlay = _overlay(change)
    if overlay is None:
        return
    if not isinstance(overlay, Mapping):
        report.reject(OVERLAY, f"{show(overlay)} is not a mapping; write keys such as {', '.join(SUPPORTED_KEYS[:4])}")
        return
    try:
        ValuesOverlay.model_validate(overlay)
    except ValidationError as e:
        errors = e.errors(include_url=False)
    else:
        return
    covered = report.covered()
    for error in errors:
        loc: Loc = (*OVERLAY, *(str(p) if not isinstance(p, int) else p for p in error["loc"]))
        if loc in covered or any(loc[: len(c)] == c and len(c) > len(OVERLAY) for c in covered):
            continue  # a more specific rule already said what to do about this key
        report.reject(loc, _key_problem(loc, error))


# Chart keys whose job a typed field does: say which one instead of only "unsupported".
_TYPED_INSTEAD = {
    "resources": "spec.resources.{coordinator,worker}",
    "nodeselector": "spec.placement.{coordinator,worker}.nodeSelector",
    "tolerations": "spec.placement.{coordinator,worker}.tolerations",
    "affinity": "spec.placement.{coordinator,worker}.affinity",
    "replicas": "spec.minWorkers / spec.maxWorkers",
    "workers": "spec.minWorkers / spec.maxWorkers",
    "jvm": "spec.resources (the heap follows the memory limit) or trino.jvm for other JVM flags",
    "catalogs": "XTrinodeCatalog objects selected by spec.catalogSelector",
}


def _key_problem(loc: Loc, error: Any) -> str:
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if error.get("type") != "extra_forbidden":
        return f"{message} (got {show(error.get('input'))})" if error.get("type") != "value_error" else message
    key = str(loc[-1])
    instead = _TYPED_INSTEAD.get(key.lower())
    hint = f"use {instead}; " if instead else ""
    return (
        f"{key!r} is not a supported valuesOverlay key, so it would be ignored; {hint}the supported keys are "
        + ", ".join(SUPPORTED_KEYS)
    )


_SECRET_PROPERTY_HINT = (
    "Trino properties are stored in plain text in a ConfigMap; write the value as ${ENV:NAME} and add "
    "valuesOverlay.env: [{name: NAME, valueFrom: {secretKeyRef: {name: <secret>, key: <key>}}}]"
)


def check_plaintext_properties(change: Change, report: Report) -> None:
    """Secret-looking Trino properties (passwords, client secrets, shared secrets) must come from Secrets."""
    overlay = _overlay(change)
    if not isinstance(overlay, Mapping):
        return
    trino_config = get(overlay, "trino", "config")
    if isinstance(trino_config, Mapping):
        for key, value in trino_config.items():
            if looks_secret(str(key)) and not _is_placeholder(value):
                report.reject((*OVERLAY, "trino", "config", str(key)), f"{str(key)!r} looks like a secret; {_SECRET_PROPERTY_HINT}")
    for where in ((), ("coordinator",), ("worker",)):
        lines = get(overlay, *where, "additionalConfigProperties")
        if not isinstance(lines, list):
            continue
        for index, line in enumerate(lines):
            parsed = parse_property_line(line) if isinstance(line, str) else None
            if parsed is not None and looks_secret(parsed[0]) and not _is_placeholder(parsed[1]):
                report.reject((*OVERLAY, *where, "additionalConfigProperties", index),
                              f"{parsed[0]!r} looks like a secret; {_SECRET_PROPERTY_HINT}")


def _is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"\$\{(ENV|FILE):[^}]+\}", value.strip()))


def check_renders(change: Change, report: Report) -> None:
    """An overlay the other rules let through must also render: what render refuses would only show
    up later, as a runtime in phase Error. Runs last, and only when nothing else was found."""
    if report.findings or not change.spec.get("valuesOverlay"):
        return
    try:
        runtime = XTrinode.model_validate(change.new)
    except (ValidationError, ArithmeticError, RecursionError):
        return  # the schema check explains it
    try:
        render_runtime(runtime, [])
    except RenderError as e:
        report.reject(OVERLAY, str(e).removeprefix("valuesOverlay").lstrip(".: ") or str(e))


OVERLAY_RULES = (check_depth, check_http, check_auth, check_isolation, check_plaintext_properties, check_known_keys,
                 check_renders)
