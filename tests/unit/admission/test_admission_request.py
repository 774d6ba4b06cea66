"""The AdmissionReview v1 wire format: reading a request and writing the response.

Checks: from_review with a realistic review for CREATE, UPDATE and DELETE, malformed reviews raising a
ValueError that names the field, and to_admission_response for allowed, rejected and warned results.
"""

from __future__ import annotations

import re

import pytest
from admission_builders import NAME, NAMESPACE, admission_review, catalog_object, postgres, runtime_object

from xtrinode.admission import AdmissionRequest, AdmissionResult, evaluate, to_admission_response

UID = "705ab4f5-6393-11e8-b7cc-42010a800002"


def test_from_review_reads_every_field_of_an_update() -> None:
    new, old = runtime_object({"size": "m"}), runtime_object({"size": "s"})
    request = AdmissionRequest.from_review(admission_review("UPDATE", new, old))
    assert request.uid == UID
    assert (request.operation, request.kind) == ("UPDATE", "XTrinode")
    assert (request.namespace, request.name) == (NAMESPACE, NAME)
    assert request.object == new and request.old_object == old
    assert request.user.username == "alice@example.com"
    assert request.user.groups == ["team-a-admins", "system:authenticated"]
    assert request.user.extra == {"scopes.authorization.openshift.io": ["user:full"]}
    assert request.dry_run is False


def test_realistic_update_with_status_and_managed_fields_is_allowed() -> None:
    new = runtime_object({"size": "m", "maxWorkers": 3})
    new["metadata"].update(
        resourceVersion="4711",
        creationTimestamp="2026-11-27T10:00:00Z",
        finalizers=["analytics.xtrinode.io/finalizer"],
        labels={"team": "a"},
        managedFields=[{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {}}],
    )
    new["status"] = {"phase": "Ready", "workers": {"ready": 2, "desired": 2}, "someFutureField": {"x": 1}}
    old = {**new, "spec": {"size": "m", "maxWorkers": 2}}
    request = AdmissionRequest.from_review(admission_review("UPDATE", new, old))
    result = evaluate(request)
    assert result.allowed, result.reasons
    assert result.warnings == [] and not result.gate_required


def test_status_is_not_judged_by_admission() -> None:
    new = runtime_object({"size": "m"})
    new["status"] = {"phase": "NotAPhase"}
    assert evaluate(AdmissionRequest.from_review(admission_review("UPDATE", new, new))).allowed


def test_from_review_reads_a_delete_without_object() -> None:
    review = admission_review("DELETE", None, runtime_object({"size": "s"}))
    request = AdmissionRequest.from_review(review)
    assert request.object is None and request.old_object is not None
    assert evaluate(request).allowed


def test_from_review_accepts_the_bare_request_part() -> None:
    review = admission_review("CREATE", catalog_object(postgres()), kind="XTrinodeCatalog")
    request = AdmissionRequest.from_review(review["request"])
    assert request.kind == "XTrinodeCatalog"
    assert evaluate(request).allowed


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        pytest.param(lambda r: r.update(apiVersion="admission.k8s.io/v1beta1"), "admissionReviewVersions: [v1]", id="v1beta1"),
        pytest.param(lambda r: r["request"]["kind"].update(kind="Pod"), "request.kind", id="other-kind"),
        pytest.param(lambda r: r["request"].update(operation="PATCH"), "request.operation", id="bad-operation"),
        pytest.param(lambda r: r.update(request="nope"), "must be a JSON object", id="request-not-object"),
    ],
)
def test_from_review_rejects_reviews_it_cannot_handle(mutate, fragment: str) -> None:  # type: ignore[no-untyped-def]
    review = admission_review("CREATE", runtime_object({"size": "s"}))
    mutate(review)
    with pytest.raises(ValueError, match=re.escape(fragment)):
        AdmissionRequest.from_review(review)


def test_response_for_an_allowed_request() -> None:
    response = to_admission_response(UID, AdmissionResult(allowed=True))
    assert response == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": UID, "allowed": True},
    }


def test_response_for_a_rejected_request_carries_403_and_every_reason() -> None:
    request = AdmissionRequest.from_review(
        admission_review("CREATE", runtime_object({"size": "huge", "minWorkers": 9, "valuesOverlay": {"image": {"tag": "480"}}}))
    )
    response = to_admission_response(request.uid, evaluate(request))["response"]
    assert response["uid"] == UID and response["allowed"] is False
    assert response["status"]["code"] == 403
    message = response["status"]["message"]
    assert message.startswith("2 problems:\n- spec.size: 'huge'")
    assert "\n- spec.minWorkers: 9" in message
    assert response["warnings"][0].startswith("spec.valuesOverlay: set")


def test_single_reason_is_the_whole_message_and_long_warnings_are_cut() -> None:
    result = AdmissionResult(allowed=False, reasons=["spec.size: bad"], warnings=["w" * 300])
    response = to_admission_response(UID, result)["response"]
    assert response["status"] == {"code": 403, "reason": "Forbidden", "message": "spec.size: bad"}
    assert len(response["warnings"][0]) == 256 and response["warnings"][0].endswith("...")
