"""Labels, owner references, annotations and content hashes shared by every rendered object.

Everything a runtime owns carries `app.kubernetes.io/{name,instance,component,managed-by}` and a
controller owner reference to its XTrinode (left out while the object has no uid yet).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from xtrinode.models import GROUP_VERSION, XTrinode, XTrinodeCatalog

__all__ = [
    "Manifest",
    "APP_NAME",
    "MANAGED_BY",
    "LABEL_NAME",
    "LABEL_INSTANCE",
    "LABEL_COMPONENT",
    "LABEL_MANAGED_BY",
    "LABEL_CATALOG",
    "CONFIG_HASH_ANNOTATION",
    "SECRET_REFS_ANNOTATION",
    "selector_labels",
    "runtime_labels",
    "owner_references",
    "runtime_metadata",
    "content_hash",
]

Manifest = dict[str, Any]
"""One Kubernetes object as a JSON-ready dict (apiVersion, kind, metadata, ...)."""

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_CATALOG = "xtrinode.io/catalog"
APP_NAME = "trino"
MANAGED_BY = "xtrinode"

CONFIG_HASH_ANNOTATION = "xtrinode.io/config-hash"
"""Pod-template annotation: hash of configs, catalogs, Secret references and Secret versions."""
SECRET_REFS_ANNOTATION = "xtrinode.io/secret-refs"
"""Pod-template annotation: sorted `secret/key` pairs (comma separated) the pods read; never values."""


def selector_labels(runtime: XTrinode | str, component: str | None = None) -> dict[str, str]:
    """Immutable selector labels (Deployment selectors, Service selectors, PDBs, NetworkPolicy)."""
    name = runtime if isinstance(runtime, str) else runtime.name
    labels = {LABEL_NAME: APP_NAME, LABEL_INSTANCE: name}
    if component is not None:
        labels[LABEL_COMPONENT] = component
    return labels


def runtime_labels(runtime: XTrinode | str, component: str) -> dict[str, str]:
    """The full label set of an object a runtime owns."""
    return {**selector_labels(runtime, component), LABEL_MANAGED_BY: MANAGED_BY}


def owner_references(owner: XTrinode | XTrinodeCatalog) -> list[dict[str, Any]]:
    """A controller owner reference to `owner`, or none while it has no uid (not created yet)."""
    if not owner.metadata.uid:
        return []
    return [
        {
            "apiVersion": GROUP_VERSION,
            "kind": owner.kind,
            "name": owner.name,
            "uid": owner.metadata.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def runtime_metadata(
    runtime: XTrinode,
    name: str,
    component: str,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """ObjectMeta of an object owned by `runtime`."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": runtime.namespace,
        "labels": runtime_labels(runtime, component),
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    refs = owner_references(runtime)
    if refs:
        meta["ownerReferences"] = refs
    return meta


def content_hash(*parts: Any, length: int = 10) -> str:
    """First `length` hex digits of the SHA-256 of the canonical JSON of `parts`."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]
