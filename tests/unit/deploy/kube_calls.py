"""What each XTrinode process asks the Kubernetes API, read from its source code.

`component_permissions(component)` walks the modules of a component with `ast` and returns the
permissions its calls need, as `Permission(scope, group, resource, verb, name)`:

- Official client calls (`client.CoreV1Api(api).read_namespaced_secret(...)` and the like): the API
  class comes from the assignment that built it; the HTTP method and path come from the client's own
  `_<method>_serialize` source (so `patch_namespaced_deployment_scale` is `patch deployments/scale`).
  A list method handed over as a function (to `functools.partial`, for an Informer) is list + watch.
  Custom-object calls take their group and plural from the call's arguments (module constants, string
  literals, or the plurals of our CRDs named in the same function).
- The DynamicClient: `server_side_apply` of every kind render makes is patch + create (an apply that
  creates the object is authorized as create too); `delete_owned` lists and deletes `_OWNED_KINDS`.
- The gateway's aiohttp route watch: list + watch of the routes ConfigMap by name.

Scopes: `runtime` (the namespaces of the runtimes), `system` (the operator's Lease), `gateway` (the
routes ConfigMap, by name) and `cluster` (cluster-scoped resources such as SubjectAccessReviews).
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import client

REPO = Path(__file__).resolve().parents[3]

COMPONENT_MODULES = {
    "operator": ["workers/operator.py", "workers/lease.py", "workers/informer.py", "workers/webhook.py",
                 "workers/admission_clients.py"],
    "worker": ["activities/kube.py", "activities/trino.py", "workers/lifecycle.py", "workers/deployments.py",
               "workers/informer.py"],
    "api-server": ["workers/apiserver.py", "workers/api/app.py", "workers/api/runtimes.py", "workers/api/auth.py"],
    "gateway": ["gateway/app.py", "gateway/kube.py", "gateway/routewatch.py"],
}
"""The modules that make up each process (their Kubernetes calls are its permissions)."""

ROUTES_CONFIGMAP = "trino-gateway-routes"
LEASE_NAME = "xtrinode-operator"


@dataclass(frozen=True, order=True)
class Permission:
    scope: str
    group: str
    resource: str
    verb: str
    name: str | None = None

    def __str__(self) -> str:
        where = f"/{self.name}" if self.name else ""
        return f"{self.scope}: {self.verb} {self.group or 'core'}/{self.resource}{where}"


@functools.cache
def _our_plurals() -> frozenset[str]:
    plurals = set()
    for path in (REPO / "deploy" / "crds").rglob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        plurals.add(crd["spec"]["names"]["plural"])
    return frozenset(plurals)


@functools.cache
def _client_call(api_class: str, method: str) -> tuple[str, str]:
    """(HTTP method, resource path) of an official client method, from its generated serializer."""
    cls = getattr(client, api_class)
    source = inspect.getsource(getattr(cls, f"_{method}_serialize"))
    http = re.search(r"method='([A-Z]+)'", source)
    path = re.search(r"resource_path='([^']+)'", source)
    assert http and path, f"cannot read {api_class}.{method}"
    return http.group(1), path.group(1)


def _verbs(http: str, path: str, passed_as_function: bool) -> list[str]:
    named = path.rstrip("/").split("/")[-1] == "{name}" or "/{name}/" in path
    if http == "GET":
        if named:
            return ["get"]
        return ["list", "watch"] if passed_as_function else ["list"]
    return {"POST": ["create"], "PUT": ["update"], "PATCH": ["patch"],
            "DELETE": ["delete"] if named else ["deletecollection"]}[http]


def _resource_of(path: str, args: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """(groups, resources with their subresource) of a client path."""
    parts = path.strip("/").split("/")
    group, rest = ([""], parts[2:]) if parts[0] == "api" else ([parts[1]], parts[3:])
    if group == ["{group}"]:
        group = args["group"]
    if rest and rest[0] == "namespaces" and len(rest) > 2:
        rest = rest[2:]
    plurals = args["plural"] if rest[0] == "{plural}" else [rest[0]]
    sub = rest[2] if len(rest) > 2 else None
    return group, [f"{p}/{sub}" if sub else p for p in plurals]


def _cluster_resource(method: str) -> bool:
    """A cluster-scoped resource (SubjectAccessReview): neither namespaced nor listed across namespaces."""
    return not ("_namespaced_" in method or method.endswith("_for_all_namespaces") or "custom_object" in method)


class _Module(ast.NodeVisitor):
    def __init__(self, relpath: str) -> None:
        self.relpath = relpath
        self.tree = ast.parse((REPO / relpath).read_text())
        name = relpath.removesuffix(".py").replace("/", ".")
        self.module = importlib.import_module(name)
        self.bindings: dict[str, str] = {}
        self.permissions: set[Permission] = set()
        self.calls: list[str] = []
        """Every client method seen, for the test's own sanity checks."""

    # -- which names hold which API class -------------------------------------------------
    @staticmethod
    def _key(node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return f"{node.value.id}.{node.attr}"
        return None

    @staticmethod
    def _api_class(node: ast.AST) -> str | None:
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.endswith("Api")
                and hasattr(client, node.func.attr)):
            return node.func.attr
        return None

    def _bound(self, node: ast.AST) -> str | None:
        return self._api_class(node) or self.bindings.get(self._key(node) or "")

    def collect_bindings(self) -> None:
        """Names holding an API client: built here (`client.CoreV1Api(api)`), passed in (a parameter
        annotated `client.CoordinationV1Api`) or copied (`self._custom = custom`), to a fixpoint."""
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for arg in node.args.args + node.args.kwonlyargs:
                    annotation = arg.annotation
                    if (isinstance(annotation, ast.Attribute) and annotation.attr.endswith("Api")
                            and hasattr(client, annotation.attr)):
                        self.bindings[arg.arg] = annotation.attr
        while True:
            before = dict(self.bindings)
            for node in ast.walk(self.tree):
                if not isinstance(node, ast.Assign):
                    continue
                targets: list[ast.AST] = []
                for target in node.targets:
                    targets.extend(target.elts if isinstance(target, ast.Tuple) else [target])
                values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                if len(values) != len(targets):
                    continue
                for target, value in zip(targets, values):
                    found, key = self._bound(value), self._key(target)
                    if found and key:
                        self.bindings[key] = found
            if self.bindings == before:
                return

    # -- arguments ---------------------------------------------------------------------------
    def _strings(self, node: ast.AST, function: ast.AST | None, candidates: set[str]) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.Name) and isinstance(getattr(self.module, node.id, None), str):
            return [getattr(self.module, node.id)]
        # A loop variable or parameter: the candidate plurals named as literals in the same function.
        scope = function or self.tree
        return sorted({n.value for n in ast.walk(scope) if isinstance(n, ast.Constant) and n.value in candidates})

    def analyse(self) -> None:
        self.collect_bindings()
        plurals = _our_plurals() | {"scaledobjects"}
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Attribute):
                continue
            owner = self._bound(node.value)
            if owner is None or not hasattr(getattr(client, owner), f"_{node.attr}_serialize"):
                continue
            parent = parents.get(node)
            direct = isinstance(parent, ast.Call) and parent.func is node
            call_args: list[ast.AST] = []
            if direct:
                assert isinstance(parent, ast.Call)
                call_args = list(parent.args)
            elif isinstance(parent, ast.Call):  # functools.partial(fn, *args)
                call_args = list(parent.args[1:])
            function = parent
            while function is not None and not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                function = parents.get(function)
            http, path = _client_call(owner, node.attr)
            args: dict[str, list[str]] = {"group": [], "plural": []}
            if "{group}" in path:
                args["group"] = self._strings(call_args[0], function, set()) if call_args else []
                index = 3 if "{namespace}" in path else 2
                args["plural"] = self._strings(call_args[index], function, plurals) if len(call_args) > index else []
                assert args["group"] and args["plural"], f"{self.relpath}: cannot resolve {node.attr} arguments"
            groups, resources = _resource_of(path, args)
            cluster_resource = _cluster_resource(node.attr)
            fn_name = function.name if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) else ""
            self.calls.append(f"{owner}.{node.attr}")
            for verb in _verbs(http, path, passed_as_function=not direct):
                for group in groups:
                    for resource in resources:
                        self.permissions.add(self._scoped(group, resource, verb, fn_name, cluster_resource))

    def _scoped(self, group: str, resource: str, verb: str, function: str, cluster_resource: bool) -> Permission:
        named = verb in ("get", "update")
        if cluster_resource:
            return Permission("cluster", group, resource, verb)
        if resource == "leases":
            return Permission("system", group, resource, verb, LEASE_NAME if named else None)
        if resource == "configmaps" and function == "set_route":
            return Permission("gateway", group, resource, verb, ROUTES_CONFIGMAP if named else None)
        return Permission("runtime", group, resource, verb)


def _plural(kind: str) -> str:
    lower = kind.lower()
    return lower[:-1] + "ies" if lower.endswith("y") else lower + "s"


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def _rendered_kinds() -> set[tuple[str, str]]:
    """(apiVersion, kind) of everything render makes for a runtime with every optional part on."""
    from xtrinode.models import XTrinode, XTrinodeCatalog
    from xtrinode.render import render_runtime

    runtime = XTrinode.model_validate({
        "apiVersion": "analytics.xtrinode.io/v1", "kind": "XTrinode",
        "metadata": {"name": "all", "namespace": "team", "uid": "u"},
        "spec": {"size": "xs", "minWorkers": 1, "maxWorkers": 3, "catalogSelector": {"matchLabels": {"set": "a"}},
                 "keda": {"enabled": True, "scalerType": "http", "scalingMetric": "query"}},
    })
    catalog = XTrinodeCatalog.model_validate({
        "apiVersion": "analytics.xtrinode.io/v1", "kind": "XTrinodeCatalog",
        "metadata": {"name": "tpch", "namespace": "team", "uid": "c"},
        "spec": {"labels": {"set": "a"}, "connector": {"tpch": {}}},
    })
    return {(m["apiVersion"], m["kind"]) for m in render_runtime(runtime, [catalog])}


def _dynamic_permissions(relpath: str) -> set[Permission]:
    source = (REPO / relpath).read_text()
    out: set[Permission] = set()
    if "self.dynamic.server_side_apply(" in source:
        for api_version, kind in _rendered_kinds():
            for verb in ("patch", "create"):
                out.add(Permission("runtime", _group(api_version), _plural(kind), verb))
    if "def delete_owned(" in source:
        assert re.search(r"resource\.get\(namespace=", source) and re.search(r"resource\.delete\(name=", source)
        module = importlib.import_module(relpath.removesuffix(".py").replace("/", "."))
        for api_version, kind in module._OWNED_KINDS:
            for verb in ("list", "delete"):
                out.add(Permission("runtime", _group(api_version), _plural(kind), verb))
    return out


def _raw_http_permissions(relpath: str) -> set[Permission]:
    """The gateway reads its routes with aiohttp, not the official client."""
    source = (REPO / relpath).read_text()
    out: set[Permission] = set()
    if re.search(r'f"\{access\.server\}/api/v1/namespaces/\{[^}]+\}/configmaps"', source):
        assert '"fieldSelector": f"metadata.name={settings.config_map}"' in source, "the watch must name the ConfigMap"
        verbs = ["list"] + (["watch"] if '"watch": "1"' in source else [])
        for verb in verbs:
            out.add(Permission("gateway", "", "configmaps", verb, ROUTES_CONFIGMAP))
    return out


def component_permissions(component: str) -> frozenset[Permission]:
    return _component_permissions(component)


@functools.cache
def _component_permissions(component: str) -> frozenset[Permission]:
    out: set[Permission] = set()
    for relpath in COMPONENT_MODULES[component]:
        if not (REPO / relpath).exists():
            raise AssertionError(f"{relpath} (part of the {component}) does not exist; update COMPONENT_MODULES")
        module = _Module(relpath)
        module.analyse()
        out |= module.permissions
        out |= _dynamic_permissions(relpath)
        out |= _raw_http_permissions(relpath)
    return frozenset(out)


def describe(permissions: frozenset[Permission] | set[Permission]) -> list[str]:
    return [str(p) for p in sorted(permissions)]
