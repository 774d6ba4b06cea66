"""Validation of built-in kinds' specs, for the mistakes rendering code makes, in the apiserver's words.

Deployments and StatefulSets (selector vs template labels, containers), Pods, Services (ports),
ConfigMap/Secret keys and Secret base64 data; each problem is a 422 cause naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from .errors import bad_request, invalid
from .resources import ResourceType
from .validation import label_value_causes

JsonDict = dict[str, Any]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
_NAME_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character"
)
_KEY_RULE = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
    "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
_PORT_RULE = "must be between 1 and 65535, inclusive"
_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _required(field: str) -> JsonDict:
    return {"reason": "FieldValueRequired", "message": "Required value", "field": field}


def _bad(field: str, value: Any, detail: str) -> JsonDict:
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {json.dumps(value)}: {detail}", "field": field}


def _duplicate(field: str, value: Any) -> JsonDict:
    return {"reason": "FieldValueDuplicate", "message": f"Duplicate value: {json.dumps(value)}", "field": field}


def _port_ok(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def _containers(spec: JsonDict, path: str) -> list[JsonDict]:
    causes: list[JsonDict] = []
    if not spec.get("containers"):
        causes.append(_required(f"{path}.containers"))
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            p = f"{path}.{group}[{i}]"
            name = c.get("name") if isinstance(c, dict) else None
            if not name:
                causes.append(_required(f"{p}.name"))
            elif not (len(name) <= 63 and _DNS_LABEL.match(name)):
                causes.append(_bad(f"{p}.name", name, _NAME_RULE))
            if isinstance(c, dict) and not c.get("image"):
                causes.append(_required(f"{p}.image"))
            if name and name in seen:  # after the container's own fields, as kube-apiserver orders them
                causes.append(_duplicate(f"{p}.name", name))
            elif name:
                seen.add(name)
            for j, port in enumerate((c.get("ports") or []) if isinstance(c, dict) else []):
                if not _port_ok(port.get("containerPort")):
                    causes.append(_bad(f"{p}.ports[{j}].containerPort", port.get("containerPort"), _PORT_RULE))
            for j, env in enumerate((c.get("env") or []) if isinstance(c, dict) else []):
                if not env.get("name"):
                    causes.append(_required(f"{p}.env[{j}].name"))
    return causes


def _workload(obj: JsonDict) -> list[JsonDict]:
    spec = obj.get("spec") or {}
    causes: list[JsonDict] = []
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        causes.append(_bad("spec.replicas", replicas, "must be greater than or equal to 0"))
    template = spec.get("template") or {}
    template_labels = (template.get("metadata") or {}).get("labels") or {}
    causes += label_value_causes(template_labels, "spec.template.metadata.labels")
    selector = spec.get("selector")
    if not selector:
        causes.append(_required("spec.selector"))
    else:
        match = selector.get("matchLabels") or {}
        causes += label_value_causes(match, "spec.selector.matchLabels")
        if not match and not selector.get("matchExpressions"):
            causes.append(_bad("spec.selector", selector, "empty selector is invalid for deployment"))
        elif any(template_labels.get(k) != v for k, v in match.items()):
            detail = "`selector` does not match template `labels`"
            causes.append(_bad("spec.template.metadata.labels", template_labels, detail))
    causes += _containers(template.get("spec") or {}, "spec.template.spec")
    return causes


def _service(obj: JsonDict) -> list[JsonDict]:
    spec = obj.get("spec") or {}
    causes: list[JsonDict] = []
    kind = spec.get("type", "ClusterIP")
    if kind not in _SERVICE_TYPES:
        supported = ", ".join(json.dumps(t) for t in _SERVICE_TYPES)
        message = f"Unsupported value: {json.dumps(kind)}: supported values: {supported}"
        causes.append({"reason": "FieldValueNotSupported", "message": message, "field": "spec.type"})
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(_required("spec.ports"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        if not _port_ok(port.get("port")):
            causes.append(_bad(f"spec.ports[{i}].port", port.get("port"), _PORT_RULE))
            target = port.get("targetPort", port.get("port"))  # defaults to the port, so it is checked too
            if isinstance(target, int) and not _port_ok(target):
                causes.append(_bad(f"spec.ports[{i}].targetPort", target, _PORT_RULE))
        name = port.get("name")
        if len(ports) > 1 and not name:
            causes.append(_required(f"spec.ports[{i}].name"))
        elif name and name in names:
            causes.append(_duplicate(f"spec.ports[{i}].name", name))
        if name:
            names.add(name)
    causes += label_value_causes(spec.get("selector"), "spec.selector")
    return causes


def _config_keys(obj: JsonDict) -> list[JsonDict]:
    causes = []
    for field in ("data", "binaryData"):
        for key in obj.get(field) or {}:
            if len(key) > 253 or not _CONFIG_KEY.match(key):
                causes.append(_bad(f"{field}[{key}]", key, _KEY_RULE))
    return causes


_MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$")
_MICRO_TIME_FIELDS = {
    ("coordination.k8s.io", "leases"): (("spec", "acquireTime"), ("spec", "renewTime")),
    ("", "events"): (("eventTime",), ("series", "lastObservedTime")),
}
_DEPLOYMENT_COUNTS = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas",
                      "terminatingReplicas")


def _check_micro_times(rt: ResourceType, obj: JsonDict) -> None:
    """MicroTime fields must be `2006-01-02T15:04:05.000000Z07:00` exactly (six fraction digits): anything
    else cannot even be decoded (400), as kube-apiserver answers. The Python client's typed calls turn
    `...00.000000Z` into `...00+00:00` (no fraction when it is zero), which is refused."""
    for path in _MICRO_TIME_FIELDS.get(rt.group_resource, ()):
        node: Any = obj
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is None or (isinstance(node, str) and _MICRO_TIME.match(node)):
            continue
        text = str(node)
        rest = text[19:] if len(text) > 19 else text
        raise bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: parsing time "{text}" as '
            f'"2006-01-02T15:04:05.000000Z07:00": cannot parse "{rest}" as ".000000"')


def _deployment_status(obj: JsonDict) -> list[JsonDict]:
    """The counts of a Deployment's status: not negative, none above `replicas`, available not above ready."""
    status = obj.get("status") or {}
    causes: list[JsonDict] = []
    for field in (*_DEPLOYMENT_COUNTS, "observedGeneration"):
        value = status.get(field)
        if isinstance(value, int) and value < 0:
            causes.append({"reason": "FieldValueInvalid", "field": f"status.{field}",
                           "message": f"Invalid value: {value}: must be greater than or equal to 0"})
    replicas = int(status.get("replicas") or 0)
    for field in ("updatedReplicas", "readyReplicas", "availableReplicas"):
        value = int(status.get(field) or 0)
        if value > replicas:
            causes.append({"reason": "FieldValueInvalid", "field": f"status.{field}",
                           "message": f"Invalid value: {value}: cannot be greater than status.replicas"})
    available, ready = int(status.get("availableReplicas") or 0), int(status.get("readyReplicas") or 0)
    if available > ready:
        causes.append({"reason": "FieldValueInvalid", "field": "status.availableReplicas",
                       "message": f"Invalid value: {available}: cannot be greater than readyReplicas"})
    return causes


def omit_zero_counts(obj: JsonDict) -> None:
    """Deployment status counts are `omitempty` in the API: a zero is stored (and returned) as absent."""
    status = obj.get("status")
    if isinstance(status, dict):
        for field in (*_DEPLOYMENT_COUNTS, "observedGeneration", "collisionCount"):
            if status.get(field) == 0:
                del status[field]


def update_causes(rt: ResourceType, old: JsonDict, new: JsonDict) -> list[JsonDict]:
    """Fields the apiserver refuses to change: workload selectors, Service cluster IPs, immutable data."""
    gr = rt.group_resource
    causes: list[JsonDict] = []
    if gr in (("apps", "deployments"), ("apps", "statefulsets")):
        before, after = (old.get("spec") or {}).get("selector"), (new.get("spec") or {}).get("selector")
        if before != after:
            causes.append(_bad("spec.selector", after, "field is immutable"))
    elif gr == ("", "services"):
        before, after = (old.get("spec") or {}).get("clusterIP"), (new.get("spec") or {}).get("clusterIP")
        if before and after != before:
            causes.append(_bad("spec.clusterIP", after, "field is immutable"))
    elif gr == ("", "pods"):
        before, after = (old.get("status") or {}).get("qosClass"), (new.get("status") or {}).get("qosClass")
        if before and after != before:
            causes.append(_bad("status.qosClass", after, "field is immutable"))
    elif gr in (("", "configmaps"), ("", "secrets")) and old.get("immutable"):
        message = "Forbidden: field is immutable when `immutable` is set"
        for field in ("data", "binaryData", "immutable"):
            if old.get(field) != new.get(field):
                causes.append({"reason": "FieldValueForbidden", "message": message, "field": field})
    return causes


def check_builtin(rt: ResourceType, obj: JsonDict, causes: list[JsonDict]) -> None:
    """Raise 422 with `causes` plus the spec's own (400 for undecodable Secret data) when refused."""
    try:
        _check_builtin(rt, obj, causes)
    except (AttributeError, TypeError) as e:  # a field of the wrong JSON type somewhere in the spec
        raise bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: a field has the wrong '
            f"type ({e}); compare the object with the {rt.kind} API reference"
        ) from e


def _check_builtin(rt: ResourceType, obj: JsonDict, causes: list[JsonDict]) -> None:
    gr = rt.group_resource
    _check_micro_times(rt, obj)
    if gr in (("apps", "deployments"), ("apps", "statefulsets")):
        causes = causes + _workload(obj)
        if gr == ("apps", "deployments"):
            causes = causes + _deployment_status(obj)
    elif gr == ("", "pods"):
        causes = causes + _containers(obj.get("spec") or {}, "spec")
    elif gr == ("", "services"):
        causes = causes + _service(obj)
    elif gr in (("", "configmaps"), ("", "secrets")):
        causes = causes + _config_keys(obj)
    if gr == ("", "secrets"):
        for key, value in (obj.get("data") or {}).items():
            try:
                base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError) as e:
                text = str(value)
                offset = next((i for i, ch in enumerate(text) if ch not in _BASE64), len(text))
                raise bad_request(  # Go's decoder names the first byte it could not take
                    f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte {offset}'
                ) from e
    if causes:
        raise invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), causes)
