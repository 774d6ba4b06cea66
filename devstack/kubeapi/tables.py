"""`meta.k8s.io/v1` Table replies for `kubectl get`: CRD printer columns and a few built-in columns.

Cells are printed verbatim by kubectl, so dates become ages ("5m") here, like the apiserver does.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from .resources import ResourceType

JsonDict = dict[str, Any]


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def human_age(stamp: str | None, now: dt.datetime | None = None) -> str:
    """`5s`, `3m`, `2d4h` style ages, or `<unknown>`."""
    if not stamp:
        return "<unknown>"
    try:
        then = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    seconds = int(((now or dt.datetime.now(dt.timezone.utc)) - then).total_seconds())
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h{minutes % 60}m" if hours < 8 and minutes % 60 else f"{hours}h"
    days = hours // 24
    return f"{days}d{hours % 24}h" if days < 8 and hours % 24 else f"{days}d"


_FILTER = re.compile(r"^\[\?\(@\.([A-Za-z0-9_.]+)\s*==\s*[\"']([^\"']*)[\"']\)\]")


def json_path(obj: Any, path: str) -> Any:
    """Evaluate the jsonPath subset printer columns use: `.a.b`, `.a[0]`, `.a[?(@.type=="Ready")].b`."""
    node = obj
    rest = path.strip().lstrip("{").rstrip("}").lstrip("$")
    while rest and node is not None:
        if rest.startswith("."):
            m = re.match(r"^\.([A-Za-z0-9_\-/]+)", rest)
            if not m:
                return None
            node = node.get(m.group(1)) if isinstance(node, dict) else None
            rest = rest[m.end():]
        elif m := _FILTER.match(rest):
            field, want = m.groups()
            items = node if isinstance(node, list) else []
            node = next((i for i in items if isinstance(i, dict) and str(json_path(i, "." + field)) == want), None)
            rest = rest[m.end():]
        elif m := re.match(r"^\[(\d+)\]", rest):
            i = int(m.group(1))
            node = node[i] if isinstance(node, list) and i < len(node) else None
            rest = rest[m.end():]
        else:
            return None
    return node


def _cell(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "date":
        return human_age(str(value))
    if kind in ("integer", "number", "boolean"):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


Column = tuple[JsonDict, Callable[[JsonDict], Any]]


def _col(name: str, kind: str, fn: Callable[[JsonDict], Any], fmt: str = "", priority: int = 0) -> Column:
    return ({"name": name, "type": kind, "format": fmt, "description": "", "priority": priority}, fn)


_NAME = _col("Name", "string", lambda o: o["metadata"]["name"], "name")
_AGE = _col("Age", "string", lambda o: human_age(o["metadata"].get("creationTimestamp")))


def _last_seen(o: JsonDict) -> str | None:
    stamp = o.get("lastTimestamp") or o.get("eventTime") or o["metadata"].get("creationTimestamp")
    return str(stamp) if stamp else None


def _involved(o: JsonDict) -> str:
    ref = o.get("involvedObject") or {}
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"


def _ready(o: JsonDict) -> str:
    return f"{(o.get('status') or {}).get('readyReplicas', 0)}/{(o.get('spec') or {}).get('replicas', 0)}"


_BUILTIN: dict[tuple[str, str], list[Column]] = {
    ("", "configmaps"): [
        _NAME, _col("Data", "integer", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})), _AGE,
    ],
    ("", "secrets"): [
        _NAME,
        _col("Type", "string", lambda o: o.get("type", "Opaque")),
        _col("Data", "integer", lambda o: len(o.get("data") or {})),
        _AGE,
    ],
    ("", "namespaces"): [_NAME, _col("Status", "string", lambda o: (o.get("status") or {}).get("phase", "")), _AGE],
    ("", "pods"): [_NAME, _col("Status", "string", lambda o: (o.get("status") or {}).get("phase", "")), _AGE],
    ("", "services"): [
        _NAME,
        _col("Type", "string", lambda o: (o.get("spec") or {}).get("type", "ClusterIP")),
        _col("Cluster-IP", "string", lambda o: (o.get("spec") or {}).get("clusterIP", "<none>")),
        _AGE,
    ],
    ("apps", "deployments"): [
        _NAME,
        _col("Ready", "string", _ready),
        _col("Up-to-date", "integer", lambda o: (o.get("status") or {}).get("updatedReplicas", 0)),
        _col("Available", "integer", lambda o: (o.get("status") or {}).get("availableReplicas", 0)),
        _AGE,
    ],
    ("", "events"): [
        _col("Last Seen", "string", lambda o: human_age(_last_seen(o))),
        _col("Type", "string", lambda o: o.get("type", "")),
        _col("Reason", "string", lambda o: o.get("reason", "")),
        _col("Object", "string", _involved),
        _col("Message", "string", lambda o: o.get("message", "")),
    ],
    ("apiextensions.k8s.io", "customresourcedefinitions"): [
        _NAME, _col("Created At", "date", lambda o: o["metadata"].get("creationTimestamp")),
    ],
}


def _printer(path: str, kind: str) -> Callable[[JsonDict], Any]:
    return lambda o: _cell(json_path(o, path), kind)


def columns_for(rt: ResourceType) -> list[Column]:
    if rt.custom:
        if not rt.printer_columns:
            return [_NAME, _AGE]
        cols = [_NAME]
        for c in rt.printer_columns:
            kind = c.get("type", "string")
            fmt, priority = c.get("format", ""), int(c.get("priority", 0))
            cols.append(_col(c.get("name", ""), kind, _printer(c.get("jsonPath", ""), kind), fmt, priority))
        return cols
    return _BUILTIN.get((rt.group, rt.plural), [_NAME, _AGE])


def _partial(o: JsonDict) -> JsonDict:
    meta = {k: v for k, v in o["metadata"].items() if k != "managedFields"}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}


def table(rt: ResourceType, items: list[JsonDict], list_meta: JsonDict) -> JsonDict:
    cols = columns_for(rt)
    defs = [c[0] for c in cols]
    if rt.custom:
        for d in defs:
            if d["type"] == "date":
                d["type"] = "string"
    rows = [{"cells": [fn(o) for _, fn in cols], "object": _partial(o)} for o in items]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": defs,
        "rows": rows,
    }
