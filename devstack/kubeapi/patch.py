"""JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch for built-in kinds.

Pure functions over JSON values; `PatchError` carries a message the server answers 422 with.
"""

from __future__ import annotations

import copy
import json
from typing import Any

JsonDict = dict[str, Any]

# Strategic-merge keys of built-in list fields, by field name (ports depends on where it sits).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
}
SET_LISTS = {"finalizers"}


class PatchError(ValueError):
    """A patch that cannot be applied (bad path, failed test, wrong shape)."""


def merge_key(path: tuple[str, ...]) -> str | None:
    """The merge key of the list at `path` (field names from the root), or None if atomic."""
    if not path:
        return None
    name = path[-1]
    if name == "ports":
        return "containerPort" if any(p in MERGE_KEYS for p in path[:-1]) else "port"
    return MERGE_KEYS.get(name)


# ---- RFC 7386 -------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---- RFC 6902 -------------------------------------------------------------------------------


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"invalid JSON pointer {pointer!r}: it must start with '/'")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _index(container: list[Any], token: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit():
        raise PatchError(f"list index {token!r} is not a number")
    i = int(token)
    if i > len(container) or (i == len(container) and not allow_end):
        raise PatchError(f"list index {i} is out of range (length {len(container)})")
    return i


def _parent(doc: Any, tokens: list[str], pointer: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, allow_end=False)]
        else:
            raise PatchError(f"path {pointer!r} does not exist: no {token!r}")
    return node


def _get(doc: Any, pointer: str) -> Any:
    tokens = _tokens(pointer)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, allow_end=False)]
    raise PatchError(f"path {pointer!r} does not exist")


def _remove(doc: Any, pointer: str) -> Any:
    tokens = _tokens(pointer)
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"cannot remove {pointer!r}: it does not exist")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, allow_end=False))
    raise PatchError(f"cannot remove {pointer!r}: its parent is not a map or list")


def _add(doc: Any, pointer: str, value: Any, *, replace: bool = False) -> Any:
    tokens = _tokens(pointer)
    if not tokens:
        return value
    parent = _parent(doc, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(f"cannot replace {pointer!r}: it does not exist")
        parent[last] = value
    elif isinstance(parent, list):
        if replace:
            parent[_index(parent, last, allow_end=False)] = value
        else:
            parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise PatchError(f"cannot add at {pointer!r}: its parent is not a map or list")
    return doc


def json_patch(doc: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations like {'op': 'add', 'path': ...}")
    doc = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation {op!r}: it needs 'op' and 'path'")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"JSON patch operation {kind!r} at {path!r} needs a 'value'")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op["value"]), replace=True)
        elif kind in ("move", "copy"):
            if "from" not in op:
                raise PatchError(f"JSON patch operation {kind!r} at {path!r} needs 'from'")
            value = _remove(doc, op["from"]) if kind == "move" else copy.deepcopy(_get(doc, op["from"]))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise PatchError(
                    f"test operation failed: {path!r} is {json.dumps(_get(doc, path))}, "
                    f"not {json.dumps(op['value'])}"
                )
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}; use add, remove, replace, move, copy or test")
    return doc


# ---- strategic merge patch -------------------------------------------------------------------


def strategic_merge_patch(target: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    """Merge `patch` into `target` with the built-in merge keys and SMP directives."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    orders = {k.split("/", 1)[1]: v for k, v in patch.items() if k.startswith("$setElementOrder/")}
    drops = {k.split("/", 1)[1]: v for k, v in patch.items() if k.startswith("$deleteFromPrimitiveList/")}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, path + (key,))
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value, path + (key,))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = value
    for key, values in drops.items():
        if isinstance(result.get(key), list):
            result[key] = [v for v in result[key] if v not in values]
    for key, order in orders.items():
        if isinstance(result.get(key), list):
            result[key] = _order(result[key], order, merge_key(path + (key,)))
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(target: Any, patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    key = merge_key(path)
    current: list[Any] = list(target) if isinstance(target, list) else []
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    if path and path[-1] in SET_LISTS:
        return current + [v for v in patch if v not in current]
    if key is None:
        return list(copy.deepcopy(patch))
    server_order = [c.get(key) for c in current if isinstance(c, dict)]
    patched: list[Any] = []
    touched: set[str] = set()
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"items of {'.'.join(path)} must be maps with the merge key {key!r}")
        touched.add(json.dumps(item[key], sort_keys=True))
        if item.get("$patch") == "delete":
            continue
        existing = next((c for c in current if isinstance(c, dict) and c.get(key) == item[key]), None)
        patched.append(strategic_merge_patch(existing if existing is not None else {}, item, path))
    server_only = [c for c in current if not (isinstance(c, dict) and json.dumps(c.get(key), sort_keys=True) in touched)]
    return _merge_sorted(server_only, patched, server_order, key)


def _merge_sorted(left: list[Any], right: list[Any], server_order: list[Any], key: str) -> list[Any]:
    """The items only on the server (`left`) and the patched ones (`right`) merged as the apiserver's
    strategic merge does: each list keeps its order; a server item goes first only when both are on the
    server and it came first there (so new items lead: [A] patched with [B] is [B, A])."""
    def rank(item: Any) -> int:
        value = item.get(key) if isinstance(item, dict) else item
        return server_order.index(value) if value in server_order else -1

    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            out.append(left[i])
            i += 1
        elif i >= len(left):
            out.append(right[j])
            j += 1
        elif rank(left[i]) >= 0 and rank(right[j]) >= 0 and rank(left[i]) < rank(right[j]):
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    return out


def _order(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    def ident(v: Any) -> Any:
        return json.dumps(v.get(key) if key and isinstance(v, dict) else v, sort_keys=True)

    rank = {ident(v): i for i, v in enumerate(order)}
    return sorted(items, key=lambda v: rank.get(ident(v), len(rank)))
