"""evaluate() as a whole: DELETE and CONNECT always pass, it never raises, broken rules fail closed.

Checks: operations, a missing object or spec, metadata filled from the request, a crashing rule
becoming a rejection (others still reported), and the schema check for both kinds.
"""

from __future__ import annotations

from typing import Any

import pytest
from admission_builders import catalog_request, runtime_request

from xtrinode.admission import AdmissionRequest, evaluate
from xtrinode.admission.findings import Change, Report


@pytest.mark.parametrize("operation", ["DELETE", "CONNECT"])
def test_delete_and_connect_are_always_allowed(operation: str) -> None:
    request = runtime_request({"size": "nope", "valuesOverlay": {"hostNetwork": True}}, operation=operation)
    result = evaluate(request)
    assert result.allowed
    assert result.reasons == [] and result.warnings == [] and not result.gate_required


def test_delete_of_a_catalog_without_object_is_allowed() -> None:
    request = AdmissionRequest(operation="DELETE", kind="XTrinodeCatalog", namespace="a", name="b")
    assert evaluate(request).allowed


def test_create_without_object_is_rejected_not_raised() -> None:
    request = AdmissionRequest(operation="CREATE", kind="XTrinode", namespace="a", name="b")
    result = evaluate(request)
    assert not result.allowed
    assert result.reasons[0].startswith("request.object: missing for CREATE of XTrinode")


def test_missing_spec_is_one_schema_reason() -> None:
    request = runtime_request({"size": "s"})
    obj = {key: value for key, value in (request.object or {}).items() if key != "spec"}
    result = evaluate(request.model_copy(update={"object": obj}))
    assert result.reasons == ["spec: is required"]


def test_name_and_namespace_come_from_the_request_when_metadata_leaves_them_out() -> None:
    request = runtime_request({"size": "s"})
    obj: dict[str, Any] = {**(request.object or {}), "metadata": {"generateName": "sales-"}}
    assert evaluate(request.model_copy(update={"object": obj})).allowed


def test_a_crashing_rule_becomes_a_rejection_and_others_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import xtrinode.admission.engine as module

    def broken(change: Change, report: Report) -> None:
        raise KeyError("boom")

    model, rules = module._RULES["XTrinode"]
    monkeypatch.setitem(module._RULES, "XTrinode", (model, (broken, *rules)))
    result = evaluate(runtime_request({"size": "huge"}))
    assert not result.allowed
    assert any("broken failed (KeyError)" in r and "bug" in r for r in result.reasons)
    assert any(r.startswith("spec.size: 'huge'") for r in result.reasons)


def test_an_unexpected_error_outside_the_rules_is_a_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    import xtrinode.admission.engine as module

    def explode(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "_with_identity", explode)
    result = evaluate(runtime_request({"size": "s"}))
    assert not result.allowed
    assert "RuntimeError" in result.reasons[0]


def test_valid_catalog_is_allowed() -> None:
    spec = {
        "labels": {"team": "a"},
        "connector": {"tpch": {"properties": {"tpch.splits-per-node": "4"}}},
    }
    assert evaluate(catalog_request(spec)).allowed


def test_catalog_schema_error_names_the_path() -> None:
    spec = {"connector": {"tpch": {}}, "catalogName": "Bad-Name"}
    result = evaluate(catalog_request(spec))
    assert not result.allowed
    assert any(r.startswith("spec.catalogName: ") and "'Bad-Name'" in r for r in result.reasons)


def test_metadata_only_update_is_allowed_even_if_rules_tightened_since() -> None:
    legacy = {"size": "s", "valuesOverlay": {"hostNetwork": True}}
    request = runtime_request(legacy, old_spec=legacy)
    obj = {**(request.object or {}), "metadata": {"name": "sales", "finalizers": ["analytics.xtrinode.io/finalizer"]}}
    result = evaluate(request.model_copy(update={"object": obj}))
    assert result.allowed and result.warnings == [] and not result.gate_required


def test_update_during_deletion_is_allowed() -> None:
    request = runtime_request({"size": "huge"}, old_spec={"size": "s"})
    obj = request.object or {}
    meta = {**obj["metadata"], "deletionTimestamp": "2026-11-28T00:00:00Z", "finalizers": []}
    assert evaluate(request.model_copy(update={"object": {**obj, "metadata": meta}})).allowed


def test_spec_change_is_judged_on_update() -> None:
    result = evaluate(runtime_request({"size": "huge"}, old_spec={"size": "s"}))
    assert not result.allowed
