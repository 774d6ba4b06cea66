"""Discovery documents: /version, aggregated and legacy /api and /apis, and a minimal /openapi/v3.

The openapi documents carry no schemas: they only tell kubectl that the server validates fields.
"""

from __future__ import annotations

from typing import Any

from .resources import Registry, ResourceType

JsonDict = dict[str, Any]

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
VERSION = {
    "major": "1",
    "minor": "37",
    "gitVersion": "v1.37.0-xtrinode",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_SUB_VERBS = ["get", "patch", "update"]


def wants_aggregated(accept: str) -> bool:
    return "as=APIGroupDiscoveryList" in accept and "apidiscovery.k8s.io" in accept


def _kind_ref(t: ResourceType) -> JsonDict:
    return {"group": t.group, "version": t.version, "kind": t.kind}


def _aggregated_resource(t: ResourceType) -> JsonDict:
    subresources = []
    if t.status:
        subresources.append({"subresource": "status", "responseKind": _kind_ref(t), "verbs": _SUB_VERBS})
    if t.scale is not None:
        subresources.append({
            "subresource": "scale",
            "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "verbs": _SUB_VERBS,
        })
    out: JsonDict = {
        "resource": t.plural,
        "responseKind": _kind_ref(t),
        "scope": "Namespaced" if t.namespaced else "Cluster",
        "singularResource": t.singular,
        "verbs": list(t.verbs),
    }
    if t.short_names:
        out["shortNames"] = list(t.short_names)
    if t.categories:
        out["categories"] = list(t.categories)
    if subresources:
        out["subresources"] = subresources
    return out


def _aggregated_group(registry: Registry, group: str, versions: list[str]) -> JsonDict:
    return {
        "metadata": {"name": group, "creationTimestamp": None},
        "versions": [
            {
                "version": v,
                "resources": [_aggregated_resource(t) for t in registry.in_group_version(group, v)],
                "freshness": "Current",
            }
            for v in versions
        ],
    }


def aggregated(registry: Registry, core: bool) -> JsonDict:
    """The APIGroupDiscoveryList for /api (core only) or /apis (named groups)."""
    groups = {"": ["v1"]} if core else registry.groups()
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": [_aggregated_group(registry, g, vs) for g, vs in groups.items()],
    }


def api_versions(host: str) -> JsonDict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


def api_group(group: str, versions: list[str]) -> JsonDict:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry: Registry) -> JsonDict:
    groups = [
        {k: v for k, v in api_group(g, vs).items() if k not in ("kind", "apiVersion")}
        for g, vs in registry.groups().items()
    ]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(registry: Registry, group: str, version: str) -> JsonDict:
    """The legacy APIResourceList of one group/version (subresources as `plural/sub` entries)."""
    resources = []
    for t in registry.in_group_version(group, version):
        entry: JsonDict = {
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": list(t.verbs),
        }
        if t.short_names:
            entry["shortNames"] = list(t.short_names)
        if t.categories:
            entry["categories"] = list(t.categories)
        resources.append(entry)
        if t.status:
            resources.append({
                "name": f"{t.plural}/status", "singularName": "", "namespaced": t.namespaced,
                "kind": t.kind, "verbs": _SUB_VERBS,
            })
        if t.scale is not None:
            resources.append({
                "name": f"{t.plural}/scale", "singularName": "", "namespaced": t.namespaced,
                "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": _SUB_VERBS,
            })
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_root(registry: Registry) -> JsonDict:
    gvs = {("", "v1")} | {(t.group, t.version) for t in registry.all()}
    return {
        "paths": {
            _gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash=0"}
            for g, v in sorted(gvs)
        }
    }


def openapi_group_version(registry: Registry, group: str, version: str) -> JsonDict | None:
    """A schema-less document whose PATCH operations announce server-side field validation."""
    types = registry.in_group_version(group, version)
    if not types:
        return None
    paths: JsonDict = {}
    prefix = "/" + _gv_path(group, version)
    for t in types:
        if t.virtual:
            continue
        ns = "/namespaces/{namespace}" if t.namespaced else ""
        paths[f"{prefix}{ns}/{t.plural}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{t.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": _kind_ref(t),
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }
