"""Builders for XTrinode and XTrinodeCatalog objects and the deploy/examples loader shared by render tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from xtrinode.models import XTrinode, XTrinodeCatalog
from xtrinode.render import Manifest

EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"


def fixed_uid(kind: str, namespace: str, name: str) -> str:
    """A stable uid for objects written without one (the examples)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"xtrinode-test/{kind}/{namespace}/{name}"))


def build_runtime(name: str = "demo", namespace: str = "analytics", uid: str | None = "uid-rt", **spec: Any) -> XTrinode:
    """An XTrinode; size xs unless given, camelCase spec keys as on the wire."""
    spec.setdefault("size", "xs")
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if uid is not None:
        metadata["uid"] = uid
    return XTrinode.model_validate({"metadata": metadata, "spec": spec})


def build_catalog(
    name: str = "sales",
    connector: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    namespace: str = "analytics",
    uid: str | None = "uid-cat",
    **spec: Any,
) -> XTrinodeCatalog:
    """An XTrinodeCatalog labelled team=a (tpch unless `connector` is given)."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if uid is not None:
        metadata["uid"] = uid
    body = {"labels": {"team": "a"} if labels is None else labels, "connector": connector or {"tpch": {}}, **spec}
    return XTrinodeCatalog.model_validate({"metadata": metadata, "spec": body})


SELECT_TEAM_A: dict[str, Any] = {"matchLabels": {"team": "a"}}

PG = {
    "postgres": {
        "connectionURL": "jdbc:postgresql://db:5432/sales",
        "connectionUser": "trino",
        "connectionPasswordSecret": {"name": "pg", "key": "password"},
        "propertySecretRefs": {"connection-ssl-key-password": {"name": "pg", "key": "ssl"}},
        "properties": {"case-insensitive-name-matching": "true"},
    }
}


def by_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [m for m in by_kind(manifests, kind) if name is None or m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[m['metadata']['name'] for m in found]}"
    return found[0]


def deployment(manifests: list[Manifest], role: str) -> Manifest:
    return next(m for m in by_kind(manifests, "Deployment") if m["metadata"]["name"].endswith(f"-{role}"))


def container(manifests: list[Manifest], role: str) -> dict[str, Any]:
    c: dict[str, Any] = deployment(manifests, role)["spec"]["template"]["spec"]["containers"][0]
    return c


def config_data(manifests: list[Manifest], role: str) -> dict[str, str]:
    name = deployment(manifests, role)["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
    data: dict[str, str] = one(manifests, "ConfigMap", name)["data"]
    return data


def parse_properties(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def example_objects() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in example_files():
        for doc in load_documents(path):
            yield path, doc


def with_uid(doc: dict[str, Any]) -> dict[str, Any]:
    meta = dict(doc["metadata"])
    meta.setdefault("uid", fixed_uid(doc["kind"], meta.get("namespace", "default"), meta["name"]))
    return {**doc, "metadata": meta}


def example_catalogs() -> list[XTrinodeCatalog]:
    """Every catalog of every example, as `kubectl apply -f deploy/examples/` would create them."""
    return [XTrinodeCatalog.model_validate(with_uid(d)) for _, d in example_objects() if d["kind"] == "XTrinodeCatalog"]
