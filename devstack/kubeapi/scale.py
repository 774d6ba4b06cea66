"""The `scale` subresource: autoscaling/v1 Scale views of Deployments, StatefulSets and CRs.

Reads and writes go through the parent object, so a scale write bumps its RV and generation.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from .errors import bad_request, invalid, not_found
from .patch import merge_patch
from .resources import ResourceType, ScalePaths

if TYPE_CHECKING:
    from .cluster import Cluster, WriteOptions

JsonDict = dict[str, Any]
_SCALE_TYPE = ResourceType("autoscaling", "v1", "scale", "scale", "Scale", True)


def _dig(obj: JsonDict, path: str) -> Any:
    node: Any = obj
    for key in path.lstrip(".").split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _set(obj: JsonDict, path: str, value: Any) -> None:
    keys = path.lstrip(".").split(".")
    node = obj
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def _paths(rt: ResourceType, name: str) -> ScalePaths:
    if rt.scale is None:
        raise not_found(rt.plural, rt.group, name)
    return rt.scale


def get_scale(cluster: Cluster, rt: ResourceType, namespace: str, name: str) -> JsonDict:
    paths = _paths(rt, name)
    obj = cluster.current(rt, namespace, name)
    meta = obj["metadata"]
    status: JsonDict = {"replicas": _dig(obj, paths.status_replicas) or 0}
    if paths.label_selector:
        selector = _dig(obj, paths.label_selector)
        if isinstance(selector, dict):
            selector = ",".join(f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items())
        if selector:
            status["selector"] = selector
    kept = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in kept if k in meta},
        "spec": {"replicas": _dig(obj, paths.spec_replicas) or 0},
        "status": status,
    }


def update_scale(cluster: Cluster, rt: ResourceType, namespace: str, name: str, scale: Any, opts: WriteOptions) -> JsonDict:
    paths = _paths(rt, name)
    if not isinstance(scale, dict) or not all(isinstance(scale.get(k) or {}, dict) for k in ("spec", "metadata")):
        raise bad_request("the request body must be a Scale object (autoscaling/v1) with spec and metadata maps")
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        message = f"Invalid value: {json.dumps(replicas)}: must be a non-negative integer"
        cause = {"reason": "FieldValueInvalid", "message": message, "field": "spec.replicas"}
        raise invalid("Scale", "autoscaling", name, [cause])
    old = cluster.current(rt, namespace, name)
    new = copy.deepcopy(old)
    sent_rv = (scale.get("metadata") or {}).get("resourceVersion")
    new["metadata"]["resourceVersion"] = sent_rv or old["metadata"]["resourceVersion"]
    _set(new, paths.spec_replicas, replicas)
    cluster.commit(rt, old, new, opts)
    return get_scale(cluster, rt, namespace, name)


def patch_scale(
    cluster: Cluster, rt: ResourceType, namespace: str, name: str, content_type: str, body: Any,
    opts: WriteOptions,
) -> JsonDict:
    from .cluster import APPLY_PATCH

    current = get_scale(cluster, rt, namespace, name)
    if content_type == APPLY_PATCH:
        patched = merge_patch(current, body if isinstance(body, dict) else {})
    else:
        patched = cluster.patched(_SCALE_TYPE, current, content_type, body)
    return update_scale(cluster, rt, namespace, name, patched, opts)
