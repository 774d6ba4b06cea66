"""Conversion between `events.k8s.io/v1` Events and the core/v1 Events they are stored as.

The two APIs share one store, as in the apiserver: note/message, regarding/involvedObject, and the
deprecated* fields of events.k8s.io map onto core/v1's count, timestamps and source.
"""

from __future__ import annotations

from typing import Any

from .resources import ResourceType

JsonDict = dict[str, Any]

# (events.k8s.io/v1 field, core/v1 field)
_EVENT_FIELDS = (
    ("note", "message"),
    ("regarding", "involvedObject"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
)


def _rename(obj: JsonDict, pairs: list[tuple[str, str]], api_version: str) -> JsonDict:
    out = {k: v for k, v in obj.items() if k not in {a for a, _ in pairs}}
    for src, dst in pairs:
        if src in obj:
            out[dst] = obj[src]
    out["apiVersion"] = api_version
    return out


def to_storage(rt: ResourceType, obj: JsonDict) -> JsonDict:
    """The stored (core/v1) form of an object written through `rt`."""
    if rt.group != "events.k8s.io" or not isinstance(obj, dict):
        return obj
    return _rename(obj, list(_EVENT_FIELDS), "v1")


def from_storage(rt: ResourceType, obj: JsonDict) -> JsonDict:
    """The object as `rt` shows it."""
    if rt.group != "events.k8s.io":
        return obj
    out = _rename(obj, [(b, a) for a, b in _EVENT_FIELDS], rt.api_version)
    if not out.get("eventTime"):  # core events may lack it; events.k8s.io clients require it
        stamp = out.get("deprecatedFirstTimestamp") or (out.get("metadata") or {}).get("creationTimestamp")
        if isinstance(stamp, str) and stamp.endswith("Z") and "." not in stamp:
            stamp = stamp[:-1] + ".000000Z"
        out["eventTime"] = stamp
    return out


def field_path(rt: ResourceType, path: str) -> str:
    """A field selector path of `rt` in the stored form (`regarding.name` -> `involvedObject.name`)."""
    if rt.group != "events.k8s.io":
        return path
    head, _, rest = path.partition(".")
    for new, old in _EVENT_FIELDS:
        if head == new:
            return f"{old}.{rest}" if rest else old
    return path
