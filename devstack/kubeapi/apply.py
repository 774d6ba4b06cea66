"""Server-side apply: field sets, managedFields per manager, conflicts, force and removal.

A field path is a tuple of FieldsV1 elements (`f:spec`, `k:{"name":"app"}`, `v:"x"`); every write
updates `metadata.managedFields` so two managers applying different fields keep both.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .patch import SET_LISTS, merge_key

JsonDict = dict[str, Any]
FieldPath = tuple[str, ...]
ListTypeResolver = Callable[[tuple[str, ...]], tuple[str, tuple[str, ...]]]

_MANAGED_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")


def builtin_list_type(names: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """List types of built-in kinds (and of every object's metadata), from the merge-key table."""
    if names and names[-1] in SET_LISTS:
        return ("set", ())
    key = merge_key(names)
    return ("map", (key,)) if key else ("atomic", ())


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _item_element(item: Any, keys: tuple[str, ...]) -> str | None:
    if not isinstance(item, dict) or not keys or not all(k in item for k in keys):
        return None
    return "k:" + _compact({k: item[k] for k in keys})


def _managed_part(obj: JsonDict, scope: str) -> JsonDict:
    """The fields of `obj` that managedFields track for a write to `scope` (main/status/all)."""
    if scope == "status":
        return {"status": obj["status"]} if "status" in obj else {}
    out = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    if scope == "main":
        out.pop("status", None)
    meta = obj.get("metadata") or {}
    kept = {k: meta[k] for k in _MANAGED_METADATA if meta.get(k)}
    if kept:
        out["metadata"] = kept
    return out


def field_set(obj: JsonDict, resolver: ListTypeResolver, scope: str = "main") -> set[FieldPath]:
    """Every leaf, keyed list item and set member of the tracked part of `obj`."""
    out: set[FieldPath] = set()

    def walk(value: Any, path: FieldPath, names: tuple[str, ...]) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, path + (f"f:{k}",), names + (k,))
        elif isinstance(value, list) and value:
            kind, keys = resolver(names)
            if kind == "map":
                for item in value:
                    element = _item_element(item, keys)
                    if element is None:
                        out.add(path)
                        continue
                    out.add(path + (element,))
                    for k, v in item.items():
                        walk(v, path + (element, f"f:{k}"), names + (k,))
            elif kind == "set":
                for item in value:
                    out.add(path + ("v:" + _compact(item),))
            else:
                out.add(path)
        else:
            out.add(path)

    walk(_managed_part(obj, scope), (), ())
    out.discard(())
    return out


_MISSING = object()
_MAP_FIELDS = frozenset({"labels", "annotations", "data", "binaryData", "nodeSelector", "matchLabels", "limits",
                         "requests"})
"""Fields of built-in kinds that are maps (string keys to values) rather than structs."""


def map_paths(obj: JsonDict, scope: str = "main") -> set[FieldPath]:
    """Paths of the map-typed fields (`_MAP_FIELDS`) reachable through maps in the tracked part of `obj`."""
    out: set[FieldPath] = set()

    def walk(value: Any, path: FieldPath) -> None:
        for k, v in value.items():
            if isinstance(v, dict):
                if k in _MAP_FIELDS:
                    out.add(path + (f"f:{k}",))
                walk(v, path + (f"f:{k}",))

    walk(_managed_part(obj, scope), ())
    return out


def _child(node: Any, element: str) -> Any:
    kind, _, rest = element.partition(":")
    if kind == "f":
        return node.get(rest, _MISSING) if isinstance(node, dict) else _MISSING
    if not isinstance(node, list):
        return _MISSING
    if kind == "k":
        keys = json.loads(rest)
        for item in node:
            if isinstance(item, dict) and all(item.get(k) == v for k, v in keys.items()):
                return item
        return _MISSING
    wanted = json.loads(rest)
    return wanted if wanted in node else _MISSING


def value_at(obj: Any, path: FieldPath) -> Any:
    node = obj
    for element in path:
        node = _child(node, element)
        if node is _MISSING:
            return _MISSING
    return node


def remove_path(obj: JsonDict, path: FieldPath) -> None:
    """Delete the field, list item or set member at `path` in place (if it is there)."""
    parent = value_at(obj, path[:-1])
    kind, _, rest = path[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif kind in ("k", "v") and isinstance(parent, list):
        target = _child(parent, path[-1])
        if target is not _MISSING:
            parent.remove(target)


def _is_item_key(path: FieldPath) -> bool:
    """Whether `path` is a key field of a keyed list item (removed only with the item)."""
    if len(path) < 2 or not path[-2].startswith("k:") or not path[-1].startswith("f:"):
        return False
    return path[-1][2:] in json.loads(path[-2][2:])


def render_path(path: FieldPath) -> str:
    """`.spec.containers[name="app"].image`, the form conflict messages use."""
    out = ""
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            out += "." + rest
        elif kind == "k":
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(rest).items()) + "]"
        else:
            out += f"[={rest}]"
    return out


def encode_fields(paths: set[FieldPath]) -> JsonDict:
    root: JsonDict = {}
    for path in sorted(paths):
        node = root
        for element in path:
            node = node.setdefault(element, {})
    for path in paths:
        node = root
        for element in path:
            node = node[element]
        if node and "." not in node:
            node["."] = {}
    return root


def decode_fields(tree: JsonDict) -> set[FieldPath]:
    out: set[FieldPath] = set()

    def walk(node: JsonDict, path: FieldPath) -> None:
        for element, child in node.items():
            if element == ".":
                continue
            sub = path + (element,)
            if not child or "." in child:
                out.add(sub)
            if isinstance(child, dict):
                walk(child, sub)

    walk(tree, ())
    return out


@dataclass
class ManagedEntry:
    manager: str
    operation: str
    api_version: str
    time: str
    fields: set[FieldPath]
    subresource: str = ""

    @classmethod
    def parse(cls, raw: JsonDict) -> ManagedEntry:
        return cls(
            manager=raw.get("manager", ""),
            operation=raw.get("operation", "Update"),
            api_version=raw.get("apiVersion", ""),
            time=raw.get("time", ""),
            fields=decode_fields(raw.get("fieldsV1") or {}),
            subresource=raw.get("subresource", ""),
        )

    def dump(self) -> JsonDict:
        out: JsonDict = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": encode_fields(self.fields),
        }
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def parse_managed(obj: JsonDict | None) -> list[ManagedEntry]:
    raw = ((obj or {}).get("metadata") or {}).get("managedFields") or []
    return [ManagedEntry.parse(e) for e in raw if isinstance(e, dict)]


def dump_managed(entries: list[ManagedEntry]) -> list[JsonDict]:
    return [e.dump() for e in entries if e.fields]


def _entry(
    entries: list[ManagedEntry], manager: str, operation: str, subresource: str, api_version: str, now: str
) -> ManagedEntry:
    for e in entries:
        if (e.manager, e.operation, e.subresource) == (manager, operation, subresource):
            e.api_version, e.time = api_version, now
            return e
    e = ManagedEntry(manager, operation, api_version, now, set(), subresource)
    entries.append(e)
    return e


def track_update(
    old: JsonDict | None, new: JsonDict, manager: str, resolver: ListTypeResolver,
    *, api_version: str, now: str, scope: str = "main",
) -> list[JsonDict]:
    """managedFields after a non-apply write: the writer owns what it changed, nobody owns what went."""
    entries = parse_managed(old)
    new_set = field_set(new, resolver, "all") | map_paths(new, "all")
    old_set = field_set(old, resolver, "all") if old else set()
    changed = {p for p in field_set(new, resolver, scope) if p not in old_set or value_at(old, p) != value_at(new, p)}
    # A writer that creates a map (labels, data, ...) owns the map itself too (`".": {}`), as kube-apiserver
    # records it; adding a key to an existing map does not.
    changed |= {p for p in map_paths(new, scope) if old is None or value_at(old, p) is _MISSING}
    for e in entries:
        e.fields = (e.fields - changed) & new_set
    if changed:
        _entry(entries, manager, "Update", "status" if scope == "status" else "", api_version, now).fields |= changed
    return dump_managed(entries)


class ApplyConflict(Exception):
    def __init__(self, conflicts: list[tuple[str, FieldPath]], api_version: str) -> None:
        self.conflicts = conflicts
        # As kube-apiserver words it (the manager's API version is named only when it differs; here it never does):
        # one conflict on one line, several grouped by manager; the causes ordered by field.
        n = len(conflicts)
        if n == 1:
            who, path = conflicts[0]
            text = f'Apply failed with 1 conflict: conflict with "{who}": {render_path(path)}'
        else:
            groups: dict[str, list[str]] = {}
            for w, p in conflicts:
                groups.setdefault(w, []).append(render_path(p))
            lines = "\n".join(f'conflicts with "{w}":\n' + "\n".join(f"- {f}" for f in sorted(fields))
                              for w, fields in sorted(groups.items()))
            text = f"Apply failed with {n} conflicts: {lines}"
        super().__init__(text)
        self.causes = sorted(
            ({"reason": "FieldManagerConflict", "message": f'conflict with "{w}"', "field": render_path(p)}
             for w, p in conflicts), key=lambda c: c["field"])


def merge_applied(live: Any, applied: Any, names: tuple[str, ...], resolver: ListTypeResolver) -> Any:
    """Merge an applied configuration into the live object: maps and keyed lists by key, the rest whole."""
    if isinstance(applied, dict) and isinstance(live, dict):
        out = dict(live)
        for k, v in applied.items():
            out[k] = merge_applied(live.get(k), v, names + (k,), resolver)
        return out
    if isinstance(applied, list) and isinstance(live, list):
        kind, keys = resolver(names)
        if kind == "set":
            return list(live) + [copy.deepcopy(v) for v in applied if v not in live]
        if kind == "map":
            result = list(live)
            for item in applied:
                element = _item_element(item, keys)
                match = next((i for i, c in enumerate(result) if element and _item_element(c, keys) == element), None)
                if match is None:
                    result.append(copy.deepcopy(item))
                else:
                    result[match] = merge_applied(result[match], item, names, resolver)
            return result
    return copy.deepcopy(applied)


def server_side_apply(
    live: JsonDict, applied: JsonDict, manager: str, resolver: ListTypeResolver,
    *, force: bool, api_version: str, now: str, scope: str = "main",
) -> JsonDict:
    """The object after `manager` applies `applied` to `live`; raises ApplyConflict unless `force`."""
    entries = parse_managed(live)
    applied_set = field_set(applied, resolver, scope)
    conflicts: list[tuple[str, FieldPath]] = []
    for e in entries:
        if e.manager == manager and e.operation == "Apply":
            continue
        for p in sorted(applied_set & e.fields):
            if p[-1].startswith("f:") and value_at(live, p) != value_at(applied, p):
                conflicts.append((e.manager, p))
    if conflicts and not force:
        raise ApplyConflict(conflicts, api_version)
    taken = {p for _, p in conflicts}
    for e in entries:
        if not (e.manager == manager and e.operation == "Apply"):
            e.fields -= taken
    mine = _entry(entries, manager, "Apply", "status" if scope == "status" else "", api_version, now)
    previous = set(mine.fields)
    body = {k: v for k, v in applied.items() if k != "status"} if scope == "main" else applied
    if scope == "status":
        body = {"status": applied.get("status", {})}
    meta = dict(body.get("metadata") or {})
    meta.pop("managedFields", None)
    body = {**body, "metadata": meta} if "metadata" in body else body
    result: JsonDict = merge_applied(live, body, (), resolver)
    others = set().union(*(e.fields for e in entries if e is not mine)) if len(entries) > 1 else set()
    doomed = {p for p in previous - applied_set if p not in others and not any(o[: len(p)] == p for o in others)}
    for p in doomed:
        inside_doomed_item = any(p[:i] in doomed for i in range(1, len(p)))
        if not inside_doomed_item and not _is_item_key(p):
            remove_path(result, p)
    mine.fields = applied_set
    result_set = field_set(result, resolver, "all")
    for e in entries:
        e.fields &= result_set
    result["metadata"] = {**result.get("metadata", {}), "managedFields": dump_managed(entries)}
    return result
