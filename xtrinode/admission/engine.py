"""`evaluate`: run every admission rule for one request and merge them with the schema check.

Pure and total: a rule that fails unexpectedly becomes a rejection (fail closed), never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from xtrinode.admission.catalog_rules import CATALOG_RULES
from xtrinode.admission.changes import CHANGE_RULES, canonical_json
from xtrinode.admission.findings import Change, Report
from xtrinode.admission.overlay import OVERLAY_RULES
from xtrinode.admission.request import AdmissionRequest, AdmissionResult
from xtrinode.admission.runtime_rules import RUNTIME_RULES
from xtrinode.admission.schema import schema_reasons
from xtrinode.models.catalog import XTrinodeCatalog
from xtrinode.models.runtime import XTrinode

__all__ = ["Rule", "evaluate", "rules_for"]

Rule = Callable[[Change, Report], None]

_RULES: dict[str, tuple[type[BaseModel], Sequence[Rule]]] = {
    "XTrinode": (XTrinode, (*RUNTIME_RULES, *OVERLAY_RULES, *CHANGE_RULES)),
    "XTrinodeCatalog": (XTrinodeCatalog, CATALOG_RULES),
}
_BUG = "this is a bug in XTrinode admission, please report it; the request was rejected to stay safe"


def rules_for(kind: str) -> Sequence[Rule]:
    """The rules that apply to `kind` (XTrinode or XTrinodeCatalog), in the order they run."""
    return _RULES[kind][1]


def evaluate(request: AdmissionRequest) -> AdmissionResult:
    """Admit or reject one request by SPEC section 6; never raises."""
    try:
        return _evaluate(request)
    except Exception as e:  # noqa: BLE001 - fail closed on anything unexpected
        return AdmissionResult(
            allowed=False, reasons=[f"admission failed unexpectedly ({type(e).__name__}); {_BUG}"]
        )


def _evaluate(request: AdmissionRequest) -> AdmissionResult:
    if request.operation not in ("CREATE", "UPDATE"):
        return AdmissionResult(allowed=True)  # DELETE and CONNECT are always allowed
    raw = request.object
    if not isinstance(raw, Mapping):
        return AdmissionResult(
            allowed=False,
            reasons=[
                f"request.object: missing for {request.operation} of {request.kind}; the API server "
                "always sends one, so check how the webhook builds the AdmissionRequest"
            ],
        )
    obj = _with_identity(raw, request)
    old = request.old_object if request.operation == "UPDATE" else None
    if isinstance(old, Mapping) and (_deleting(obj) or _same_spec(obj, old)):
        # Metadata-only updates (finalizers, labels) and updates during deletion are never blocked,
        # so rules that tighten after an object was admitted cannot wedge the operator or a delete.
        return AdmissionResult(allowed=True)
    change = Change(
        operation="UPDATE" if request.operation == "UPDATE" else "CREATE",
        namespace=request.namespace or str(_meta(obj).get("namespace") or "default"),
        name=request.name or str(_meta(obj).get("name") or ""),
        new=obj,
        old=old if isinstance(old, Mapping) else None,
    )
    model, rules = _RULES[request.kind]
    report = Report()
    if isinstance(obj.get("spec"), Mapping):
        for rule in rules:
            _run(rule, change, report)
    reasons = [finding.text() for finding in report.findings]
    try:
        reasons.extend(schema_reasons(model, obj, report.covered()))
    except Exception as e:  # noqa: BLE001
        reasons.append(f"schema check failed unexpectedly ({type(e).__name__}); {_BUG}")
    return AdmissionResult(
        allowed=not reasons, reasons=reasons, warnings=report.warnings, gate_required=report.gate_required
    )


def _run(rule: Rule, change: Change, report: Report) -> None:
    try:
        rule(change, report)
    except Exception as e:  # noqa: BLE001 - one broken rule must not hide the others or let a request in
        report.reject((), f"admission rule {rule.__name__} failed ({type(e).__name__}); {_BUG}")


def _deleting(obj: Mapping[str, Any]) -> bool:
    return bool(_meta(obj).get("deletionTimestamp"))


def _same_spec(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    if "spec" not in new or "spec" not in old:
        return False
    before, after = canonical_json(old["spec"]), canonical_json(new["spec"])
    return before is not None and before == after


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _with_identity(obj: Mapping[str, Any], request: AdmissionRequest) -> Mapping[str, Any]:
    """The part of the object admission judges: status dropped (the operator owns it), and
    metadata.name/namespace filled from the request when the object leaves them out (generateName)."""
    view = {key: value for key, value in obj.items() if key != "status"}
    meta = view.get("metadata")
    if meta is None:
        meta = {}
    if isinstance(meta, Mapping):
        filled = dict(meta)
        if not filled.get("name") and request.name:
            filled["name"] = request.name
        if not filled.get("namespace") and request.namespace:
            filled["namespace"] = request.namespace
        view["metadata"] = filled
    return view
