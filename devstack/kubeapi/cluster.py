"""The verbs on stored objects: get, list, create, update, patch, apply and the scale subresource.

Everything here is HTTP-free and synchronous. Each write goes through `Cluster.commit`, which keeps
the object semantics: uid, one RV counter, generation, status rules, finalizers, managedFields.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import apply as ssa
from . import convert, specs
from . import schema as crd_schema
from . import validation
from .errors import ApiError, already_exists, bad_request, conflict, invalid, not_found
from .patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from .resources import CRD_GROUP_RESOURCE, Registry, ResourceType
from .validation import now_iso
from .selectors import Selection
from .store import Store

JsonDict = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)

_SERVICE_IPS = "serviceClusterIPs"
_SERVICE_IP_RANGE = 250 * 256
_IMMUTABLE_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")


@dataclass
class WriteOptions:
    """Query options of a write: field manager, fieldValidation, dryRun, force."""

    manager: str = "unknown"
    manager_explicit: bool = False
    field_validation: str = "Warn"
    dry_run: bool = False
    force: bool | None = None
    warnings: list[str] = field(default_factory=list)


def _spec_part(rt: ResourceType, obj: JsonDict) -> JsonDict:
    """What generation tracks: everything outside metadata (and outside status with /status)."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind") and not (rt.status and k == "status")}


def _without_volatile(obj: JsonDict) -> JsonDict:
    """The object minus what a no-op write may change: resourceVersion and managedFields times."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    if "managedFields" in meta:
        meta["managedFields"] = [{k: v for k, v in e.items() if k != "time"} for e in meta["managedFields"]]
    return {**obj, "metadata": meta}


def _carry_over(rt: ResourceType, old: JsonDict, new: JsonDict, scope: str) -> JsonDict:
    """`new` with what a write may not change taken from `old`: preconditions, status split, identity."""
    meta = new["metadata"]
    name = old["metadata"]["name"]
    sent_rv = meta.get("resourceVersion")
    if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
        raise conflict(rt.plural, rt.group, name)
    if meta.get("uid") and meta["uid"] != old["metadata"]["uid"]:
        raise conflict(rt.plural, rt.group, name)
    if scope == "status":  # /status changes only .status
        status = new.get("status")
        new = copy.deepcopy(old)
        new.pop("status", None)
        if status is not None:
            new["status"] = status
        return new
    if rt.status:  # the main endpoint ignores .status
        new.pop("status", None)
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
    for key in _IMMUTABLE_META:
        if key in old["metadata"]:
            meta[key] = old["metadata"][key]
        else:
            meta.pop(key, None)
    meta["name"] = name
    if rt.namespaced:
        meta["namespace"] = old["metadata"]["namespace"]
    if old["metadata"].get("deletionTimestamp"):
        added = set(meta.get("finalizers") or ()) - set(old["metadata"].get("finalizers") or ())
        if added:
            message = "Forbidden: no new finalizers can be added if the object is being deleted"
            cause = {"reason": "FieldValueForbidden", "message": message, "field": "metadata.finalizers"}
            raise invalid(rt.kind, rt.group, name, [cause])
    return new


class Cluster:
    """Verbs over the store and registry; the server calls these and maps ApiError to Status."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.collecting = False  # the garbage collector is running (see deletion.collect)

    # ---- reads -------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> JsonDict:
        obj = self.store.get(rt.group_resource, namespace if rt.namespaced else "", name)
        if obj is None:
            raise not_found(rt.plural, rt.group, name)
        return self.present(rt, obj)

    def present(self, rt: ResourceType, obj: JsonDict) -> JsonDict:
        """The object as the requested version shows it (versions share storage unconverted)."""
        if rt.stored_as is not None:
            return convert.from_storage(rt, obj)
        if obj.get("apiVersion") != rt.api_version:
            return {**obj, "apiVersion": rt.api_version}
        return obj

    def list_objects(
        self, rt: ResourceType, namespace: str | None, selection: Selection,
        limit: int = 0, continue_token: str = "",
    ) -> JsonDict:
        items = [o for o in self.store.objects(rt.group_resource, namespace) if selection.matches(o)]
        meta: JsonDict = {"resourceVersion": str(self.store.rv)}
        if continue_token:
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(continue_token.encode()))["after"])
            except (ValueError, KeyError, TypeError) as e:
                raise bad_request(f"invalid continue token {continue_token!r}: pass the one the last page returned") from e
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
        if limit and len(items) > limit:
            last = items[limit - 1]["metadata"]
            token = json.dumps({"after": [last.get("namespace", ""), last["name"]]})
            meta["continue"] = base64.urlsafe_b64encode(token.encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": meta,
            "items": [self.present(rt, o) for o in items],
        }

    def _check_namespace(self, rt: ResourceType, namespace: str, name: str) -> None:
        if not rt.namespaced:
            return
        ns = self.store.get(("", "namespaces"), "", namespace)
        if ns is None:
            raise not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                f'{rt.qualified()} "{name}" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated",
                reason="Forbidden",
                details={"name": name, "group": rt.group, "kind": rt.plural},
            )

    def _storage_type(self, rt: ResourceType) -> ResourceType:
        stored = self.registry.by_group_resource(*rt.group_resource)
        if stored is None:
            raise ApiError(500, f"no storage type {rt.group_resource!r} for {rt.qualified()}")
        return stored

    def _allocate_ip(self) -> str:
        """The next free Service ClusterIP in 10.96.0.0/16. The counter lives in the store, so it is
        saved with the objects and a restarted emulator never hands out an address twice."""
        used = {str((svc.get("spec") or {}).get("clusterIP")) for svc in self.store.objects(("", "services"))}
        counter = self.store.allocations.get(_SERVICE_IPS, 10)
        for _ in range(_SERVICE_IP_RANGE):
            counter = counter + 1 if counter + 1 < _SERVICE_IP_RANGE else 11
            ip = f"10.96.{counter // 250}.{counter % 250 + 1}"
            if ip not in used:
                self.store.allocations[_SERVICE_IPS] = counter
                return ip
        raise ApiError(500, "the Service ClusterIP range 10.96.0.0/16 is exhausted; delete unused Services",
                       reason="InternalError")

    def resolver(self, rt: ResourceType) -> ssa.ListTypeResolver:
        if not rt.custom:
            return ssa.builtin_list_type

        def resolve(names: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
            if names and names[0] == "metadata":
                return ssa.builtin_list_type(names)
            return crd_schema.list_type(rt.schema, names)

        return resolve

    # ---- the write pipeline -----------------------------------------------------------------

    def commit(
        self, rt: ResourceType, old: JsonDict | None, new: JsonDict, opts: WriteOptions,
        *, scope: str = "main", managed: list[JsonDict] | None = None,
    ) -> JsonDict:
        """Validate and store `new` as the next state of `old` (None: create); return what was stored."""
        if rt.stored_as is not None:
            new, rt = convert.to_storage(rt, new), self._storage_type(rt)
        new = copy.deepcopy(new)
        new.setdefault("metadata", {})
        validation.check_shapes(rt, new)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        if old is not None:
            new = _carry_over(rt, old, new, scope)
        elif rt.status and rt.group_resource not in (("", "namespaces"), CRD_GROUP_RESOURCE):
            new.pop("status", None)  # the main endpoint ignores status
        new = self._validate(rt, old, new, opts)
        meta = new["metadata"]
        meta["managedFields"] = managed if managed is not None else ssa.track_update(
            old, new, opts.manager, self.resolver(rt), api_version=rt.api_version, now=now_iso(), scope=scope
        )
        if not meta["managedFields"]:
            meta.pop("managedFields")
        if old is not None and _without_volatile(new) == _without_volatile(old):
            return old  # a no-op write keeps the RV and emits nothing
        if rt.tracks_generation:
            if old is None:
                meta["generation"] = 1
            elif _spec_part(rt, new) != _spec_part(rt, old):
                meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if opts.dry_run:
            return new
        return self._store(rt, new)

    def _validate(self, rt: ResourceType, old: JsonDict | None, new: JsonDict, opts: WriteOptions) -> JsonDict:
        """Defaults, metadata and spec checks, immutable fields, then the CRD schema (may prune)."""
        validation.apply_builtin_defaults(rt, new, old, self._allocate_ip)
        causes = validation.metadata_causes(new)
        if old is not None:
            causes += specs.update_causes(rt, old, new)
        specs.check_builtin(rt, new, causes)
        return validation.check_against_schema(rt, new, opts.field_validation, opts.warnings)

    def _store(self, rt: ResourceType, new: JsonDict) -> JsonDict:
        meta = new["metadata"]
        meta["resourceVersion"] = str(self.store.next_rv())
        stored = self.store.put(rt.group_resource, new)
        if rt.group_resource == CRD_GROUP_RESOURCE:
            self.registry.register_crd(stored)
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and rt.plural != "namespaces":
            from .deletion import remove_now

            return remove_now(self, rt.group_resource, stored)  # the last finalizer went
        return stored

    def create(
        self, rt: ResourceType, namespace: str, body: JsonDict, opts: WriteOptions,
        *, managed: list[JsonDict] | None = None,
    ) -> JsonDict:
        if not isinstance(body, dict):
            raise bad_request(f"the request body must be a {rt.kind} object (a JSON map)")
        if body.get("kind") and body["kind"] != rt.kind:
            raise bad_request(
                f"the kind {body['kind']!r} of the object does not match the resource {rt.plural!r} "
                f"(kind {rt.kind!r})"
            )
        obj = copy.deepcopy(body)
        obj.setdefault("metadata", {})
        validation.check_shapes(rt, obj)
        meta = obj["metadata"]
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise bad_request(
                    f"the namespace of the provided object ({meta['namespace']!r}) does not match the "
                    f"namespace sent on the request ({namespace!r})"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            alphabet = "bcdfghjklmnpqrstvwxz2456789"
            meta["name"] = meta["generateName"] + "".join(secrets.choice(alphabet) for _ in range(5))
        name = meta.get("name", "")
        validation.check_name(rt, name)
        self._check_namespace(rt, namespace, name)
        if self.store.get(rt.group_resource, namespace if rt.namespaced else "", name) is not None:
            raise already_exists(rt.plural, rt.group, name)
        for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "managedFields"):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        if rt.group_resource == CRD_GROUP_RESOURCE:
            validation.check_crd(obj)
            obj["status"] = validation.crd_status(obj)
        return self.commit(rt, None, obj, opts, managed=managed)

    def current(self, rt: ResourceType, namespace: str, name: str) -> JsonDict:
        obj = self.store.get(rt.group_resource, namespace if rt.namespaced else "", name)
        if obj is None:
            raise not_found(rt.plural, rt.group, name)
        return obj

    def update(
        self, rt: ResourceType, namespace: str, name: str, body: JsonDict, opts: WriteOptions,
        *, scope: str = "main",
    ) -> JsonDict:
        if not isinstance(body, dict):
            raise bad_request(f"the request body must be a {rt.kind} object (a JSON map)")
        validation.check_shapes(rt, {"metadata": {}, **body})
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise bad_request(f"the name of the object ({body_name!r}) does not match the name on the URL ({name!r})")
        old = self.current(rt, namespace, name)
        return self.commit(rt, old, body, opts, scope=scope)

    def patch(
        self, rt: ResourceType, namespace: str, name: str, content_type: str, body: Any,
        opts: WriteOptions, *, scope: str = "main",
    ) -> tuple[JsonDict, bool]:
        """Apply a patch; returns the object and whether it was created (server-side apply only)."""
        if content_type != APPLY_PATCH and opts.force is not None:
            message = "Forbidden: may not be specified for non-apply patch"
            raise invalid("PatchOptions", "meta.k8s.io", "", [{"reason": "FieldValueForbidden", "message": message, "field": "force"}])
        if content_type == STRATEGIC_PATCH and rt.custom:
            raise ApiError(
                415,
                "the body of the request was in an unknown format - accepted media types include: "
                f"{JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}",
                reason="UnsupportedMediaType",
            )
        if content_type == APPLY_PATCH:
            return self._apply(rt, namespace, name, body, opts, scope)
        old = self.current(rt, namespace, name)
        new = self.patched(rt, self.present(rt, old), content_type, body)
        return self.commit(rt, old, new, opts, scope=scope), False

    def patched(self, rt: ResourceType, old: JsonDict, content_type: str, body: Any) -> JsonDict:
        try:
            if content_type == JSON_PATCH:
                new = json_patch(old, body)
            elif content_type == MERGE_PATCH:
                if not isinstance(body, dict):
                    raise PatchError("a merge patch must be a JSON map")
                new = merge_patch(old, body)
            else:
                if not isinstance(body, dict):
                    raise PatchError("a strategic merge patch must be a JSON map")
                new = strategic_merge_patch(old, body)
        except PatchError as e:
            raise ApiError(422, f"the patch could not be applied to {rt.qualified()} {old['metadata']['name']!r}: {e}") from e
        if not isinstance(new, dict):
            raise ApiError(422, f"the patch turned {rt.qualified()} {old['metadata']['name']!r} into a non-object")
        return new

    def _apply(
        self, rt: ResourceType, namespace: str, name: str, body: Any, opts: WriteOptions, scope: str
    ) -> tuple[JsonDict, bool]:
        if not opts.manager_explicit:
            message = "Required value: is required for apply patch"
            cause = {"reason": "FieldValueRequired", "message": message, "field": "fieldManager"}
            raise invalid("PatchOptions", "meta.k8s.io", "", [cause])
        if not isinstance(body, dict):
            raise bad_request("an apply patch must be a full object (a YAML or JSON map)")
        if not body.get("apiVersion") or not body.get("kind"):
            raise bad_request("an apply patch needs apiVersion and kind; send the whole object you want to apply")
        validation.check_shapes(rt, {"metadata": {}, **body})
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise bad_request(f"the name of the object ({body_name!r}) does not match the name on the URL ({name!r})")
        if rt.stored_as is not None:
            body, rt = convert.to_storage(rt, body), self._storage_type(rt)
        resolver = self.resolver(rt)
        live = self.store.get(rt.group_resource, namespace if rt.namespaced else "", name)
        stamp = now_iso()
        if live is None:
            if scope != "main":
                raise not_found(rt.plural, rt.group, name)
            obj = {**body, "metadata": {**(body.get("metadata") or {}), "name": name}}
            entry = ssa.ManagedEntry(opts.manager, "Apply", rt.api_version, stamp, ssa.field_set(obj, resolver, "main"))
            return self.create(rt, namespace, obj, opts, managed=ssa.dump_managed([entry])), True
        try:
            new = ssa.server_side_apply(
                live, body, opts.manager, resolver,
                force=bool(opts.force), api_version=rt.api_version, now=stamp, scope=scope,
            )
        except ssa.ApplyConflict as e:
            if not _csa_upgrade_allowed(live, e, opts.manager, resolver):
                details = {"name": name, "group": rt.group, "kind": rt.plural, "causes": e.causes}
                raise ApiError(409, str(e), details=details) from e
            new = ssa.server_side_apply(
                live, body, opts.manager, resolver, force=True, api_version=rt.api_version, now=stamp, scope=scope
            )
        if opts.manager == "kubectl" and scope == "main":
            _update_last_applied(new, body)
        managed = new["metadata"].pop("managedFields")
        if scope == "status":
            new = {**live, "status": new.get("status")}
        return self.commit(rt, live, new, opts, scope=scope, managed=managed), False


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _last_applied(obj: JsonDict) -> JsonDict | None:
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _csa_upgrade_allowed(live: JsonDict, error: ssa.ApplyConflict, manager: str, resolver: ssa.ListTypeResolver) -> bool:
    """`kubectl apply --server-side` takes over fields its client-side applies set, without conflicts.

    Like the apiserver's last-applied manager: only for manager `kubectl`, and only when every
    conflicting field is in the object's last-applied-configuration.
    """
    if manager != "kubectl":
        return False
    previous = _last_applied(live)
    if previous is None:
        return False
    allowed = ssa.field_set(previous, resolver, "all")
    return all(path in allowed for _, path in error.conflicts)


def _update_last_applied(new: JsonDict, applied: JsonDict) -> None:
    """Keep the client-side annotation in step with `kubectl apply --server-side`, when it exists."""
    annotations = (new.get("metadata") or {}).get("annotations") or {}
    if LAST_APPLIED not in annotations:
        return
    config = copy.deepcopy(applied)
    config_annotations = (config.get("metadata") or {}).get("annotations") or {}
    config_annotations.pop(LAST_APPLIED, None)
    annotations[LAST_APPLIED] = json.dumps(config, separators=(",", ":"), sort_keys=True) + "\n"
