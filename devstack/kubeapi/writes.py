"""The write verbs (POST, PUT, PATCH, DELETE) of one route, with admission webhooks around them.

Without webhook configurations a write goes straight to the cluster. With them: a dry run gives
the object, mutating webhooks patch it, validating webhooks judge it, and then it is stored
(retried from the start when the object changed meanwhile, as the apiserver's update loop does).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

from . import admission, deletion, rbac
from . import scale as scaling
from .cluster import Cluster, WriteOptions
from .errors import ApiError
from .identity import ADMIN, User
from .resources import ResourceType

JsonDict = dict[str, Any]
_ATTEMPTS = 5


@dataclass(frozen=True)
class Route:
    """Where a resource path points: type, namespace (None: cluster-wide), name and subresource."""

    rt: ResourceType
    namespace: str | None
    name: str
    sub: str


def perform(cluster: Cluster, route: Route, method: str, ctype: str, body: Any, opts: WriteOptions,
            user: User = ADMIN) -> tuple[JsonDict, int]:
    """Run a POST, PUT or PATCH; returns the reply body and HTTP status."""
    rt, ns, name, sub = route.rt, route.namespace or "", route.name, route.sub
    if method == "POST":
        if rt.kind == "SelfSubjectReview":
            review = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": {"creationTimestamp": None}}
            return {**review, "status": {"userInfo": user.user_info()}}, 201
        if rt.virtual:
            self_user = (user.username, list(user.groups)) if rt.kind == "SelfSubjectAccessReview" else None
            return rbac.review(cluster.store, body, rt.kind, ns, self_user), 201
        return cluster.present(rt, cluster.create(rt, ns, body, opts)), 201
    scope = "status" if sub == "status" else "main"
    if method == "PUT":
        if sub == "scale":
            return scaling.update_scale(cluster, rt, ns, name, body, opts), 200
        return cluster.present(rt, cluster.update(rt, ns, name, body, opts, scope=scope)), 200
    if sub == "scale":
        return scaling.patch_scale(cluster, rt, ns, name, ctype, body, opts), 200
    result, created = cluster.patch(rt, ns, name, ctype, body, opts, scope=scope)
    return cluster.present(rt, result), 201 if created else 200


def needs_admission(cluster: Cluster, rt: ResourceType) -> bool:
    return not rt.virtual and rt.group != admission.ADMISSION and admission.any_configured(cluster.store)


def _current(cluster: Cluster, route: Route, name: str) -> JsonDict | None:
    if not name:
        return None
    rt = route.rt
    return cluster.store.get(rt.group_resource, (route.namespace or "") if rt.namespaced else "", name)


async def admitted(
    admitter: admission.Admitter, cluster: Cluster, route: Route, method: str, ctype: str, body: Any, opts: WriteOptions,
    user: User = ADMIN,
) -> tuple[JsonDict, int]:
    """`perform` with mutating and validating webhooks between a dry run and the real write."""
    rt = route.rt
    for _ in range(_ATTEMPTS):
        old = _current(cluster, route, route.name)
        candidate, code = perform(cluster, route, method, ctype, body, replace(opts, dry_run=True, warnings=[]), user)
        name = route.name or candidate.get("metadata", {}).get("name", "")
        attrs = admission.Attributes(
            rt=rt, operation="UPDATE" if old is not None else "CREATE", namespace=route.namespace or "",
            name=name, subresource=route.sub, obj=candidate,
            old=cluster.present(rt, old) if old is not None and route.sub != "scale" else None, dry_run=opts.dry_run,
            user=user.user_info(),
        )
        mutated = candidate if route.sub == "scale" else await admitter.mutate(attrs, candidate, opts.warnings)
        await admitter.validate(replace(attrs, obj=mutated), mutated, opts.warnings)
        if _current(cluster, route, route.name) is not old:
            continue  # the object changed while the webhooks ran: start over with the new state
        if opts.dry_run:
            return mutated, code
        if mutated == candidate:
            return perform(cluster, route, method, ctype, body, opts, user)
        return _store_mutated(cluster, route, old, candidate, mutated, opts), code
    raise ApiError(409, f"the {rt.qualified()} object kept changing while admission webhooks ran; try again", reason="Conflict")


def _store_mutated(cluster: Cluster, route: Route, old: JsonDict | None, candidate: JsonDict, mutated: JsonDict, opts: WriteOptions) -> JsonDict:
    """Store what the mutating webhooks made of the candidate, keeping the candidate's managedFields."""
    rt = route.rt
    managed = (candidate.get("metadata") or {}).get("managedFields")
    if old is None:
        return cluster.present(rt, cluster.create(rt, route.namespace or "", mutated, opts, managed=managed))
    new = copy.deepcopy(mutated)
    new.setdefault("metadata", {})["resourceVersion"] = old["metadata"]["resourceVersion"]
    scope = "status" if route.sub == "status" else "main"
    return cluster.present(rt, cluster.commit(rt, old, new, opts, scope=scope, managed=managed))


async def admitted_delete(admitter: admission.Admitter, cluster: Cluster, route: Route, options: JsonDict,
                          user: User = ADMIN) -> JsonDict:
    """Ask the validating webhooks about a DELETE (with the object as oldObject), then delete."""
    if needs_admission(cluster, route.rt):
        old = cluster.current(route.rt, route.namespace or "", route.name)
        attrs = admission.Attributes(
            rt=route.rt, operation="DELETE", namespace=route.namespace or "", name=route.name, subresource="",
            obj=None, old=cluster.present(route.rt, old), dry_run=bool(options.get("dryRun")), user=user.user_info(),
        )
        await admitter.validate(attrs, None, [])
    return deletion.delete(cluster, route.rt, route.namespace or "", route.name, options)
