"""Checks and defaults applied to every write: names, metadata, built-in defaults, CRD schemas.

Each check raises the `ApiError` the apiserver would answer with (422 Invalid naming the field).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from . import schema as crd_schema
from devstack.qos import qos_class

from .errors import ApiError, bad_request, invalid
from .resources import CRD_GROUP_RESOURCE, ResourceType

JsonDict = dict[str, Any]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PATH_SEGMENT_KINDS = {"roles", "rolebindings", "clusterroles", "clusterrolebindings"}
_LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (at most 63 characters)"
)
_SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cause(reason: str, message: str, field: str) -> JsonDict:
    return {"reason": reason, "message": message, "field": field}


def check_name(rt: ResourceType, name: str) -> None:
    """RBAC kinds take any path segment, namespaces and services a DNS label, the rest a DNS subdomain."""
    if not name:
        required = _cause("FieldValueRequired", "Required value: name or generateName is required", "metadata.name")
        raise invalid(rt.kind, rt.group, "", [required])
    if rt.plural in _PATH_SEGMENT_KINDS:
        ok = name not in (".", "..") and "/" not in name and "%" not in name
        rule = "may not be '.' or '..' and may not contain '/' or '%'"
    elif rt.group_resource == ("", "services") and "." in name:
        ok, rule = False, "must not contain dots"
    elif rt.group_resource == ("", "services"):  # an RFC 1123 label since v1.34 (digits may lead)
        ok, rule = len(name) <= 63 and bool(_DNS_LABEL.match(name)), _LABEL_RULE
    elif rt.plural == "namespaces":
        ok, rule = len(name) <= 63 and bool(_DNS_LABEL.match(name)), _LABEL_RULE
    else:
        ok, rule = len(name) <= 253 and bool(_DNS_SUBDOMAIN.match(name)), _SUBDOMAIN_RULE
    if not ok:
        cause = _cause("FieldValueInvalid", f"Invalid value: {json.dumps(name)}: {rule}", "metadata.name")
        raise invalid(rt.kind, rt.group, name, [cause])


_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_KEY_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix "
    "and '/' (e.g. 'example.com/MyName')"
)


def qualified_name_ok(key: str) -> bool:
    """A label or annotation key: `[prefix/]name`, name at most 63 chars, prefix a DNS subdomain."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_LABEL_NAME.match(name))


def label_value_causes(labels: Any, field: str) -> list[JsonDict]:
    """Causes for invalid label keys and values under `field` (metadata.labels, selectors, ...)."""
    causes = []
    for k, v in (labels or {}).items():
        if not qualified_name_ok(k):
            causes.append(_cause("FieldValueInvalid", f"Invalid value: {json.dumps(k)}: {_KEY_RULE}", field))
        if not isinstance(v, str):
            causes.append(_cause("FieldValueInvalid", f"Invalid value: {json.dumps(v)}: must be a string", f"{field}.{k}"))
        elif len(v) > 63 or not _LABEL_VALUE.match(v):
            message = f"Invalid value: {json.dumps(v)}: {_LABEL_VALUE_RULE}"
            if len(v) > 63:
                message = f"Invalid value: {json.dumps(v)}: must be no more than 63 characters"
            causes.append(_cause("FieldValueInvalid", message, field))
    return causes


_META_SHAPES: dict[str, type | tuple[type, ...]] = {
    "name": str, "generateName": str, "namespace": str, "resourceVersion": str, "uid": str,
    "labels": dict, "annotations": dict, "finalizers": list, "ownerReferences": list,
}
_BUILTIN_MAPS = ("spec", "status", "data", "binaryData", "stringData")


def check_shapes(rt: ResourceType, obj: JsonDict) -> None:
    """400 for fields of the wrong JSON type, as the apiserver's typed decoding answers."""
    def refuse(field: str, value: Any, expected: str) -> None:
        raise bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {field} must be '
            f"{expected}, not {type(value).__name__} {json.dumps(value)[:60]}"
        )

    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        refuse("metadata", meta, "a map")
        return
    for key, expected in _META_SHAPES.items():
        if meta.get(key) is not None and not isinstance(meta[key], expected):
            refuse(f"metadata.{key}", meta[key], "a map" if expected is dict else "a list" if expected is list else "a string")
    for key in ("finalizers",):
        for item in meta.get(key) or []:
            if not isinstance(item, str):
                refuse(f"metadata.{key}[]", item, "a string")
    for ref in meta.get("ownerReferences") or []:
        if not isinstance(ref, dict) or not all(isinstance(ref.get(k), str) for k in ("apiVersion", "kind", "name", "uid")):
            refuse("metadata.ownerReferences[]", ref, "a map with apiVersion, kind, name and uid strings")
    if not rt.custom:
        for key in _BUILTIN_MAPS:
            if obj.get(key) is not None and not isinstance(obj[key], dict):
                refuse(key, obj[key], "a map")


def metadata_causes(obj: JsonDict) -> list[JsonDict]:
    """Label keys and values as the apiserver checks them; annotation keys and string values."""
    meta = obj["metadata"]
    causes = label_value_causes(meta.get("labels"), "metadata.labels")
    controllers = [r for r in meta.get("ownerReferences") or [] if r.get("controller") is True]
    if len(controllers) > 1:
        shown = json.dumps(meta["ownerReferences"], separators=(",", ":"))
        names = " and ".join(f"{r.get('kind')}/{r.get('name')}" for r in controllers)
        causes.append(_cause("FieldValueInvalid", f'Invalid value: {shown}: Only one reference can have Controller set '
                             f'to true. Found "true" in references for {names}', "metadata.ownerReferences"))
    for k, v in (meta.get("annotations") or {}).items():
        if not qualified_name_ok(k):
            causes.append(_cause("FieldValueInvalid", f"Invalid value: {json.dumps(k)}: {_KEY_RULE}", "metadata.annotations"))
        if not isinstance(v, str):
            causes.append(_cause("FieldValueInvalid", f"Invalid value: {json.dumps(v)}: must be a string", f"metadata.annotations.{k}"))
    return causes


def apply_builtin_defaults(rt: ResourceType, obj: JsonDict, old: JsonDict | None, allocate_ip: Callable[[], str]) -> None:
    """Server-side defaults of built-in kinds that clients rely on."""
    gr = rt.group_resource
    if gr == ("", "secrets") and "stringData" in obj:
        data = dict(obj.get("data") or {})
        for k, v in (obj.pop("stringData") or {}).items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        obj["data"] = data
    elif gr == ("", "namespaces"):
        obj["status"] = {"phase": "Active", **(obj.get("status") or {})}
        labels = dict(obj["metadata"].get("labels") or {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        obj["metadata"]["labels"] = labels
    elif gr == ("", "services"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        if "clusterIP" not in spec:
            ip = ((old or {}).get("spec") or {}).get("clusterIP") or allocate_ip()
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
    elif gr in (("apps", "deployments"), ("apps", "statefulsets")):
        obj.setdefault("spec", {}).setdefault("replicas", 1)
        if gr == ("apps", "deployments"):
            from .specs import omit_zero_counts

            omit_zero_counts(obj)
    elif gr == ("", "pods"):
        status = obj.setdefault("status", {})
        status.setdefault("phase", "Pending")
        if old is None:  # set on create from the containers' resources; kube-apiserver keeps it for good
            status["qosClass"] = qos_class(obj.get("spec") or {})


def check_against_schema(rt: ResourceType, obj: JsonDict, field_validation: str, warnings: list[str]) -> JsonDict:
    """CRDs are checked structurally; custom objects defaulted, pruned and validated by their schema."""
    if rt.group_resource == CRD_GROUP_RESOURCE:
        check_crd(obj)
        return obj
    if not rt.custom or not rt.schema:
        return obj
    try:
        outcome = crd_schema.process(obj, rt.schema)
    except (TypeError, AttributeError, ValueError, re.error) as e:
        raise bad_request(
            f"the schema of {rt.qualified()} cannot be evaluated against this object ({type(e).__name__}: {e}); "
            "check the CRD's openAPIV3Schema"
        ) from e
    if outcome.unknown and field_validation == "Strict":
        fields = ", ".join(f'unknown field "{u}"' for u in outcome.unknown)
        raise bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: strict decoding error: {fields}'
        )
    if outcome.unknown and field_validation != "Ignore":
        warnings.extend(f'unknown field "{u}"' for u in outcome.unknown)
    causes = outcome.causes + _scale_causes(rt, outcome.obj)
    if causes:
        raise invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), causes)
    return outcome.obj


_GO_TYPES = {str: "string", float: "float64", bool: "bool", dict: "map[string]interface {}", list: "[]interface {}"}


def _scale_causes(rt: ResourceType, obj: JsonDict) -> list[JsonDict]:
    """A scale subresource's specReplicasPath holding something else than an integer: kube-apiserver adds
    its own cause (`.spec.replicas accessor error: ...`) after the schema's."""
    if rt.scale is None:
        return []
    path = rt.scale.spec_replicas
    value: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(value, dict) or part not in value:
            return []
        value = value[part]
    if isinstance(value, int) and not isinstance(value, bool):
        return []
    shown = str(value).lower() if isinstance(value, bool) else value
    go_type = _GO_TYPES.get(type(value), type(value).__name__)
    return [_cause("FieldValueInvalid",
                   f"Invalid value: 0: {path} accessor error: {shown} is of the type {go_type}, expected int64", path)]


def _check_crd_shape(spec: JsonDict) -> None:
    versions = spec.get("versions") or []
    if not isinstance(spec.get("names") or {}, dict) or not isinstance(versions, list):
        raise bad_request("CustomResourceDefinition spec.names must be a map and spec.versions a list")
    for v in versions:
        schema = (v.get("schema") or {}) if isinstance(v, dict) else None
        if not isinstance(schema, dict) or not isinstance(schema.get("openAPIV3Schema") or {}, dict):
            raise bad_request("each CustomResourceDefinition version must be a map whose schema.openAPIV3Schema is a map")


def _json_kind(value: Any) -> str:
    """How Go's encoding/json names a JSON value's type in an unmarshal error."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _undecodable(value: Any, go_path: str, go_type: str) -> ApiError:
    return bad_request(
        'CustomResourceDefinition in version "v1" cannot be handled as a CustomResourceDefinition: json: cannot '
        f"unmarshal {_json_kind(value)} into Go struct field JSONSchemaProps.{go_path} of type {go_type}")


def _check_schema_decodes(node: Any, go_path: str) -> None:
    """An openAPIV3Schema whose parts have the wrong JSON type cannot be decoded: 400 BadRequest naming the Go
    field path, as kube-apiserver answers (every sub-schema must be a map, `required` a list, ...)."""
    if not isinstance(node, dict):
        raise _undecodable(node, go_path, "v1.JSONSchemaProps")
    props = node.get("properties")
    if props is not None:
        if not isinstance(props, dict):
            raise _undecodable(props, f"{go_path}.properties", "map[string]v1.JSONSchemaProps")
        for sub in props.values():
            _check_schema_decodes(sub, f"{go_path}.properties")
    for key in ("items", "additionalProperties"):
        sub = node.get(key)
        if sub is None or isinstance(sub, bool) or (key == "items" and isinstance(sub, list)):
            continue
        _check_schema_decodes(sub, f"{go_path}.{key}")
    for key, go_type in (("required", "[]string"), ("enum", "[]v1.JSON")):
        if node.get(key) is not None and not isinstance(node[key], list):
            raise _undecodable(node[key], f"{go_path}.{key}", go_type)


def check_crd(crd: JsonDict) -> None:
    spec = crd.get("spec") or {}
    _check_crd_shape(spec)
    for version in spec.get("versions") or []:
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is not None:
            _check_schema_decodes(schema, "spec.versions.schema.openAPIV3Schema")
    names = spec.get("names") or {}
    causes = [
        _cause("FieldValueRequired", "Required value", path)
        for path, value in (
            ("spec.group", spec.get("group")),
            ("spec.names.plural", names.get("plural")),
            ("spec.names.kind", names.get("kind")),
        )
        if not value
    ]
    if not spec.get("versions"):
        causes.append(_cause("FieldValueRequired", "Required value: must have at least one version", "spec.versions"))
    for i, version in enumerate(spec.get("versions") or []):
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is not None:
            causes += crd_schema.rule_errors(schema, f"spec.versions[{i}].schema.openAPIV3Schema")
    name = crd["metadata"].get("name", "")
    if not causes and name != f"{names.get('plural')}.{spec.get('group')}":
        message = f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'
        causes.append(_cause("FieldValueInvalid", message, "metadata.name"))
    if causes:
        raise invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, causes)


def crd_status(crd: JsonDict) -> JsonDict:
    """The status the apiextensions controller would give a new CRD: established, names accepted."""
    spec = crd.get("spec") or {}
    stamp = now_iso()
    conditions = [
        {"type": t, "status": "True", "lastTransitionTime": stamp, "reason": r, "message": m}
        for t, r, m in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        )
    ]
    versions = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
    return {"acceptedNames": spec.get("names") or {}, "conditions": conditions, "storedVersions": versions}
