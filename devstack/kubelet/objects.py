"""Small pure helpers over Kubernetes objects as JSON dicts: selectors, owners, hashes, conditions.

Shared by the rollout planner, the pod supervisor and the service map; no I/O here.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "JsonDict",
    "ObjectKey",
    "TEMPLATE_HASH_LABEL",
    "controller_uid",
    "key_of",
    "label_selector_matches",
    "now_iso",
    "scaled_value",
    "set_condition",
    "template_hash",
]

JsonDict = dict[str, Any]
ObjectKey = tuple[str, str]
"""(namespace, name)."""

TEMPLATE_HASH_LABEL = "pod-template-hash"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_of(obj: Mapping[str, Any]) -> ObjectKey:
    meta = obj["metadata"]
    return (str(meta.get("namespace") or ""), str(meta["name"]))


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    """uid of the controlling owner (`controller: true`), else of the first owner."""
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    for ref in refs:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return str(refs[0].get("uid")) if refs else None


def template_hash(template: Mapping[str, Any]) -> str:
    """A stable 10-character hash of a pod template (the Deployment controller's pod-template-hash)."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expr.get("key", ""), expr.get("operator", "")
    values = list(expr.get("values") or [])
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise ValueError(f"label selector operator {operator!r} is not valid; use In, NotIn, Exists or DoesNotExist")


def label_selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """A LabelSelector (`matchLabels`/`matchExpressions`); an empty selector matches everything."""
    labels = labels or {}
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression_matches(expr, labels) for expr in selector.get("matchExpressions") or [])


def service_selector_matches(selector: Mapping[str, str] | None, labels: Mapping[str, str] | None) -> bool:
    """A Service's plain map selector; a Service without one selects no pods (its Endpoints are manual)."""
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(key) == value for key, value in selector.items())


def scaled_value(value: int | str | None, total: int, *, round_up: bool, default: int | str) -> int:
    """An IntOrString such as maxSurge `25%` or `1`, as a pod count of `total`."""
    if value is None:
        value = default
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        fraction = float(text[:-1]) * total / 100
        return math.ceil(fraction) if round_up else math.floor(fraction)
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"invalid int-or-percent {value!r}; write a count such as 1 or a percentage such as '25%'")


def set_condition(
    conditions: Sequence[Mapping[str, Any]], ctype: str, status: bool, reason: str, message: str, now: str,
    *, update_time: bool = False,
) -> list[JsonDict]:
    """Conditions with `ctype` set; lastTransitionTime changes only when the status flips."""
    text = "True" if status else "False"
    result: list[JsonDict] = []
    found = False
    for cond in conditions:
        if cond.get("type") != ctype:
            result.append(dict(cond))
            continue
        found = True
        new = dict(cond, status=text, reason=reason, message=message)
        if cond.get("status") != text:
            new["lastTransitionTime"] = now
        if update_time and (cond.get("status") != text or cond.get("reason") != reason):
            new["lastUpdateTime"] = now
        result.append(new)
    if not found:
        new = {"type": ctype, "status": text, "reason": reason, "message": message, "lastTransitionTime": now}
        if update_time:
            new["lastUpdateTime"] = now
        result.append(new)
    return result
