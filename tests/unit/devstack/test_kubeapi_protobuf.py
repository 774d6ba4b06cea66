"""Pure tests of the protobuf decoding kubectl's create and auth commands need.

Builds messages with a tiny encoder and checks Namespace, ConfigMap, Secret (bytes to base64),
Deployment (replicas, selector, containers with ports and command), SelfSubjectAccessReview, and
the 415 hint for kinds the emulator does not decode.
"""

from __future__ import annotations

import pytest

from devstack.kubeapi.errors import ApiError
from devstack.kubeapi.protobuf import decode_protobuf


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _bytes(field: int, value: bytes | str) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(raw)) + raw


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _entry(field: int, key: str, value: bytes | str) -> bytes:
    return _bytes(field, _bytes(1, key) + _bytes(2, value))


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return b"k8s\x00" + _bytes(1, _bytes(1, api_version) + _bytes(2, kind)) + _bytes(2, raw)


def _meta(name: str, **labels: str) -> bytes:
    return _bytes(1, _bytes(1, name) + b"".join(_entry(11, k, v) for k, v in labels.items()))


def test_namespace_and_configmap() -> None:
    assert decode_protobuf(_envelope("v1", "Namespace", _meta("ns", team="a"))) == {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns", "labels": {"team": "a"}},
    }
    cm = decode_protobuf(_envelope("v1", "ConfigMap", _meta("c") + _entry(2, "k", "v")))
    assert cm["data"] == {"k": "v"}


def test_secret_bytes_become_base64() -> None:
    secret = decode_protobuf(_envelope("v1", "Secret", _meta("s") + _entry(2, "pw", b"\x00hi") + _bytes(3, "Opaque")))
    assert secret["data"] == {"pw": "AGhp"} and secret["type"] == "Opaque"


def test_deployment_spec() -> None:
    container = _bytes(1, "app") + _bytes(2, "img:1") + _bytes(3, "run") + _bytes(6, _int(3, 8080) + _bytes(4, "TCP"))
    template = _bytes(1, _bytes(11, _bytes(1, "app") + _bytes(2, "web"))) + _bytes(2, _bytes(2, container))
    spec = _int(1, 2) + _bytes(2, _entry(1, "app", "web")) + _bytes(3, template)
    d = decode_protobuf(_envelope("apps/v1", "Deployment", _meta("web") + _bytes(2, spec)))
    assert d["spec"]["replicas"] == 2 and d["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert d["spec"]["template"]["metadata"] == {"labels": {"app": "web"}}
    assert d["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "image": "img:1", "command": ["run"], "ports": [{"containerPort": 8080, "protocol": "TCP"}]}
    ]


def test_self_subject_access_review() -> None:
    attrs = _bytes(2, "delete") + _bytes(5, "namespaces")
    review = decode_protobuf(_envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", _bytes(2, _bytes(1, attrs))))
    assert review["spec"] == {"resourceAttributes": {"verb": "delete", "resource": "namespaces"}}


def test_unknown_kind_is_415_with_a_hint() -> None:
    with pytest.raises(ApiError) as e:
        decode_protobuf(_envelope("v1", "Pod", _meta("p")))
    assert e.value.code == 415 and "kubectl apply -f" in e.value.message
