"""Deletion: finalizers, propagation policies, the garbage collector and namespace termination.

`delete` marks or removes one object; `collect` then runs until nothing changes: dependents of
gone owners, `orphan`/`foregroundDeletion` finalizers, and terminating namespaces' contents.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import TYPE_CHECKING, Any

from .errors import ApiError, bad_request, conflict, success_status
from .resources import CRD_GROUP_RESOURCE
from .selectors import Selection
from .store import GroupResource
from .validation import now_iso

if TYPE_CHECKING:
    from .cluster import Cluster
    from .resources import ResourceType

JsonDict = dict[str, Any]
NAMESPACES: GroupResource = ("", "namespaces")
PODS: GroupResource = ("", "pods")
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")


def _rewrite(cluster: Cluster, gr: GroupResource, obj: JsonDict, bump_generation: bool = False) -> JsonDict:
    """Store a server-made change (deletion marks, finalizer bookkeeping) at a new RV."""
    meta = obj["metadata"]
    if bump_generation and "generation" in meta:
        meta["generation"] = int(meta["generation"]) + 1
    meta["resourceVersion"] = str(cluster.store.next_rv())
    stored = cluster.store.put(gr, obj)
    if meta.get("deletionTimestamp") and not meta.get("finalizers") and gr != NAMESPACES:
        return remove_now(cluster, gr, stored)
    return stored


def remove_now(cluster: Cluster, gr: GroupResource, obj: JsonDict) -> JsonDict:
    """Remove the object for good (watchers see DELETED), then let the collector follow up."""
    last = cluster.store.remove(gr, obj)
    if gr == CRD_GROUP_RESOURCE:
        spec = obj.get("spec") or {}
        cluster.registry.unregister_crd(obj["metadata"]["name"])
        crs = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
        for cr in cluster.store.objects(crs):
            cluster.store.remove(crs, cr)
    collect(cluster)
    return last


def _pod_grace(obj: JsonDict, options: JsonDict) -> int:
    """A pod's deletion grace: the request's gracePeriodSeconds, else its terminationGracePeriodSeconds (30)."""
    given = options.get("gracePeriodSeconds")
    if given is None:
        given = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
    try:
        return max(0, int(given))
    except (TypeError, ValueError):
        raise bad_request(f"gracePeriodSeconds {given!r} is not a whole number of seconds") from None


def _after(seconds: int) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mark(cluster: Cluster, gr: GroupResource, obj: JsonDict, extra_finalizer: str | None,
          options: JsonDict | None = None) -> JsonDict:
    new = copy.deepcopy(obj)
    meta = new["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    if extra_finalizer and extra_finalizer not in finalizers:
        finalizers.append(extra_finalizer)
    changed = finalizers != list(meta.get("finalizers") or [])
    if finalizers:
        meta["finalizers"] = finalizers
    first = not meta.get("deletionTimestamp")
    if gr == PODS:
        # Pods are deleted gracefully, as the apiserver does it: deletionTimestamp is when the grace ends,
        # and a later DELETE with a shorter grace shortens it (the kubelet then stops the pod sooner).
        grace = _pod_grace(obj, options or {})
        if first or grace < int(meta.get("deletionGracePeriodSeconds") or 0):
            meta["deletionTimestamp"] = _after(grace)
            meta["deletionGracePeriodSeconds"] = grace
            changed = True
    elif first:
        meta["deletionTimestamp"] = now_iso()
        meta["deletionGracePeriodSeconds"] = 0
        if gr == NAMESPACES:
            new["status"] = {**(new.get("status") or {}), "phase": "Terminating"}
    if not first and not changed:
        return obj
    return _rewrite(cluster, gr, new, bump_generation=first)


def delete(cluster: Cluster, rt: ResourceType, namespace: str, name: str, options: JsonDict) -> JsonDict:
    """DELETE one object; returns the response body (the object while it lingers, else Status)."""
    gr = rt.group_resource
    obj = cluster.current(rt, namespace, name)
    pre = options.get("preconditions") or {}
    if pre.get("uid") and pre["uid"] != obj["metadata"].get("uid"):
        raise conflict(rt.plural, rt.group, name)
    if pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]:
        raise conflict(rt.plural, rt.group, name)
    policy = options.get("propagationPolicy")
    if policy is None and options.get("orphanDependents") is not None:
        policy = "Orphan" if options["orphanDependents"] else "Background"
    if policy not in (None, "Background", "Foreground", "Orphan"):
        raise bad_request(f"invalid propagationPolicy {policy!r}: use Background, Foreground or Orphan")
    if gr == NAMESPACES and name in PROTECTED_NAMESPACES:
        raise ApiError(403, f'namespaces "{name}" is forbidden: this namespace may not be deleted', reason="Forbidden",
                       details={"name": name, "group": "", "kind": "namespaces"})
    if options.get("dryRun"):
        return obj
    extra = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(policy or "")
    if gr == NAMESPACES or extra or obj["metadata"].get("finalizers"):
        result = _mark(cluster, gr, obj, extra, options)
        collect(cluster)
        current = cluster.store.get(gr, namespace if rt.namespaced else "", name)
        if current is not None:
            return cluster.present(rt, current)
        if gr == NAMESPACES:
            return cluster.present(rt, result)
        return success_status(name, rt.group, rt.plural, obj["metadata"]["uid"])
    last = remove_now(cluster, gr, obj)
    if rt.delete_returns_object:
        return cluster.present(rt, last)
    return success_status(name, rt.group, rt.plural, obj["metadata"]["uid"])


def delete_collection(
    cluster: Cluster, rt: ResourceType, namespace: str | None, selection: Selection, options: JsonDict
) -> JsonDict:
    listing = cluster.list_objects(rt, namespace, selection)
    for item in listing["items"]:
        meta = item["metadata"]
        try:
            delete(cluster, rt, meta.get("namespace", ""), meta["name"], options)
        except ApiError as e:
            if e.code != 404:
                raise
    return listing


def _dependents(cluster: Cluster, uid: str) -> list[tuple[GroupResource, JsonDict]]:
    return [
        (gr, o) for gr, o in cluster.store.all_objects()
        if any(ref.get("uid") == uid for ref in o["metadata"].get("ownerReferences") or ())
    ]


def _drop_finalizer(cluster: Cluster, gr: GroupResource, obj: JsonDict, finalizer: str) -> None:
    new = copy.deepcopy(obj)
    new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or () if f != finalizer]
    if not new["metadata"]["finalizers"]:
        del new["metadata"]["finalizers"]
    _rewrite(cluster, gr, new)


def _step(cluster: Cluster) -> bool:
    """One pass of the collector; True when it changed something."""
    store = cluster.store
    live = {o["metadata"].get("uid") for _, o in store.all_objects()}
    for gr, obj in store.all_objects():
        meta = obj["metadata"]
        uid = meta.get("uid", "")
        finalizers = meta.get("finalizers") or ()
        deleting = bool(meta.get("deletionTimestamp"))
        if deleting and "orphan" in finalizers:
            for dgr, dep in _dependents(cluster, uid):
                new = copy.deepcopy(dep)
                refs = [r for r in new["metadata"]["ownerReferences"] if r.get("uid") != uid]
                if refs:
                    new["metadata"]["ownerReferences"] = refs
                else:
                    del new["metadata"]["ownerReferences"]
                _rewrite(cluster, dgr, new)
            _drop_finalizer(cluster, gr, store.get(gr, *_key(obj)) or obj, "orphan")
            return True
        if deleting and "foregroundDeletion" in finalizers:
            deps = _dependents(cluster, uid)
            waiting = [(g, d) for g, d in deps if not d["metadata"].get("deletionTimestamp")]
            for dgr, dep in waiting:
                _mark_or_remove(cluster, dgr, dep)
            if waiting:
                return True
            if not deps:
                _drop_finalizer(cluster, gr, obj, "foregroundDeletion")
                return True
        owners = meta.get("ownerReferences") or ()
        if owners and not deleting and all(r.get("uid") not in live for r in owners):
            _mark_or_remove(cluster, gr, obj)
            return True
        if gr == NAMESPACES and deleting:
            contents = store.in_namespace(meta["name"])
            pending = [(g, o) for g, o in contents if not o["metadata"].get("deletionTimestamp")]
            for cgr, child in pending:
                _mark_or_remove(cluster, cgr, child)
            if pending:
                return True
            if not contents and not finalizers:
                store.remove(gr, obj)
                return True
    return False


def _key(obj: JsonDict) -> tuple[str, str]:
    return (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def _mark_or_remove(cluster: Cluster, gr: GroupResource, obj: JsonDict) -> None:
    if obj["metadata"].get("finalizers"):
        _mark(cluster, gr, obj, None)
    else:
        remove_now(cluster, gr, obj)


def collect(cluster: Cluster) -> None:
    """Run the collector until a pass changes nothing (re-entrant calls are folded into the loop)."""
    if cluster.collecting:
        return
    cluster.collecting = True
    try:
        for _ in range(100_000):
            if not _step(cluster):
                return
    finally:
        cluster.collecting = False
