"""Just enough Kubernetes protobuf decoding for the bodies kubectl sends that way.

`kubectl create namespace|configmap|secret|deployment` and `kubectl auth can-i|whoami` POST protobuf;
other kinds get 415.
"""

from __future__ import annotations

import base64
from typing import Any

from .errors import ApiError

PROTOBUF = "application/vnd.kubernetes.protobuf"
JsonDict = dict[str, Any]
Fields = dict[int, list[Any]]


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Fields:
    """Top-level fields of a message: number -> values (ints or raw bytes)."""
    out: Fields = {}
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _str(f: Fields, n: int) -> str | None:
    return f[n][0].decode() if n in f else None


def _map(f: Fields, n: int, binary: bool = False) -> dict[str, str]:
    out = {}
    for entry in f.get(n, []):
        e = fields(entry)
        value = e.get(2, [b""])[0]
        out[e.get(1, [b""])[0].decode()] = base64.b64encode(value).decode() if binary else value.decode()
    return out


def _meta(raw: bytes) -> JsonDict:
    f = fields(raw)
    meta: JsonDict = {}
    for key, n in (("name", 1), ("generateName", 2), ("namespace", 3)):
        if v := _str(f, n):
            meta[key] = v
    for key, n in (("labels", 11), ("annotations", 12)):
        if n in f:
            meta[key] = _map(f, n)
    return meta


def _review(raw: JsonDict, f: Fields) -> JsonDict:
    spec = fields(f[2][0]) if 2 in f else {}
    out: JsonDict = {}
    if 1 in spec:
        a = fields(spec[1][0])
        names = ("namespace", "verb", "group", "version", "resource", "subresource", "name")
        out["resourceAttributes"] = {k: _str(a, i + 1) for i, k in enumerate(names) if i + 1 in a}
    if 2 in spec:
        a = fields(spec[2][0])
        out["nonResourceAttributes"] = {k: _str(a, i + 1) for i, k in enumerate(("path", "verb")) if i + 1 in a}
    return {**raw, "spec": out}


def _strings(f: Fields, n: int) -> list[str]:
    return [v.decode() for v in f.get(n, [])]


def _container(raw: bytes) -> JsonDict:
    f = fields(raw)
    out: JsonDict = {"name": _str(f, 1) or ""}
    if image := _str(f, 2):
        out["image"] = image
    for key, n in (("command", 3), ("args", 4)):
        if n in f:
            out[key] = _strings(f, n)
    ports = []
    for p in f.get(6, []):
        pf = fields(p)
        port: JsonDict = {"containerPort": pf.get(3, [0])[0]}
        if proto := _str(pf, 4):
            port["protocol"] = proto
        if name := _str(pf, 1):
            port["name"] = name
        ports.append(port)
    if ports:
        out["ports"] = ports
    env = [{"name": _str(fields(e), 1) or "", "value": _str(fields(e), 2) or ""} for e in f.get(7, [])]
    if env:
        out["env"] = env
    if policy := _str(f, 14):
        out["imagePullPolicy"] = policy
    return out


def _deployment_spec(raw: bytes) -> JsonDict:
    """replicas, selector.matchLabels and the pod template's labels and containers."""
    f = fields(raw)
    spec: JsonDict = {}
    if 1 in f:
        spec["replicas"] = f[1][0]
    if 2 in f:
        spec["selector"] = {"matchLabels": _map(fields(f[2][0]), 1)}
    if 3 in f:
        template = fields(f[3][0])
        pod = fields(template[2][0]) if 2 in template else {}
        spec["template"] = {
            "metadata": _meta(template[1][0]) if 1 in template else {},
            "spec": {"containers": [_container(c) for c in pod.get(2, [])]},
        }
    return spec


def decode_protobuf(data: bytes) -> JsonDict:
    """The JSON form of a protobuf-encoded Namespace, ConfigMap, Secret, Deployment or review."""
    if not data.startswith(b"k8s\x00"):
        raise ValueError("protobuf body without the k8s\\0 prefix")
    unknown = fields(data[4:])
    type_meta = fields(unknown.get(1, [b""])[0])
    api_version, kind = _str(type_meta, 1) or "", _str(type_meta, 2) or ""
    f = fields(unknown.get(2, [b""])[0])
    obj: JsonDict = {"apiVersion": api_version, "kind": kind, "metadata": _meta(f[1][0]) if 1 in f else {}}
    if kind == "Namespace":
        return obj
    if kind == "ConfigMap":
        if 2 in f:
            obj["data"] = _map(f, 2)
        if 3 in f:
            obj["binaryData"] = _map(f, 3, binary=True)
        return obj
    if kind == "Secret":
        if 2 in f:
            obj["data"] = _map(f, 2, binary=True)
        if (t := _str(f, 3)) is not None:
            obj["type"] = t
        return obj
    if kind in ("SelfSubjectAccessReview", "SubjectAccessReview"):
        return _review(obj, f)
    if kind == "SelfSubjectReview":
        return obj
    if kind == "Deployment":
        obj["spec"] = _deployment_spec(f[2][0]) if 2 in f else {}
        return obj
    raise ApiError(
        415,
        f"the kubeapi emulator cannot decode a protobuf {kind or 'object'}; write it as YAML and use "
        "`kubectl apply -f` or `kubectl create -f` instead",
        reason="UnsupportedMediaType",
    )
