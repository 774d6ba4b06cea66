"""AdmissionReview v1 round trips through `xtrinode webhook` over HTTPS, one per reject reason and warning,
as CREATE and UPDATE (UPDATE compares old and new): the uid is echoed, `allowed`, `status.code` 403 and
`status.message` with the rule's message, `warnings`; a review for the other kind's path, a v1beta1
review and a DELETE; the gate asked through a real SubjectAccessReview (system:masters passes).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from .conftest import Webhook

pytestmark = pytest.mark.integration

NS = "team-a"
ADMIN = {"username": "admin", "groups": ["system:masters", "system:authenticated"]}
CONTROL = {"passwordSecret": {"name": "trino-control", "key": "password"}}
BASE: dict[str, Any] = {"size": "s", "minWorkers": 1, "maxWorkers": 10}
TPCH: dict[str, Any] = {"labels": {"team": "a"}, "connector": {"tpch": {}}}
PG: dict[str, Any] = {"labels": {"team": "a"}, "connector": {"postgres": {
    "connectionURL": "jdbc:postgresql://db:5432/x", "connectionPasswordSecret": {"name": "db", "key": "pw"}}}}


def review(kind: str, operation: str, spec: Any, old: Any = None, name: str = "sales", user: Any = None,
           api_version: str = "admission.k8s.io/v1") -> dict[str, Any]:
    def obj(s: Any) -> dict[str, Any]:
        return {"apiVersion": "analytics.xtrinode.io/v1", "kind": kind, "metadata": {"name": name, "namespace": NS},
                "spec": copy.deepcopy(s)}

    plural = "xtrinodes" if kind == "XTrinode" else "xtrinodecatalogs"
    return {"apiVersion": api_version, "kind": "AdmissionReview", "request": {
        "uid": str(uuid.uuid4()), "kind": {"group": "analytics.xtrinode.io", "version": "v1", "kind": kind},
        "resource": {"group": "analytics.xtrinode.io", "version": "v1", "resource": plural},
        "name": name, "namespace": NS, "operation": operation, "userInfo": user or ADMIN,
        "object": obj(spec) if spec is not None else None, "oldObject": obj(old) if old is not None else None,
        "dryRun": False}}


def send(webhook: Webhook, body: dict[str, Any]) -> dict[str, Any]:
    kind = body["request"]["kind"]["kind"]
    path = "/validate/xtrinodes" if kind == "XTrinode" else "/validate/xtrinodecatalogs"
    reply = webhook.post(path, body)
    assert reply.status_code == 200, reply.text
    answer: dict[str, Any] = reply.json()
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    assert answer["response"]["uid"] == body["request"]["uid"]
    return dict(answer["response"])


def _spec(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


# (kind, spec, message fragment): every rule family of SPEC section 6, plus the ones issue 14 added.
REJECTIONS = [
    pytest.param("XTrinode", {"size": "huge"}, "spec.size: 'huge' is not a size preset", id="size"),
    pytest.param("XTrinode", _spec(minWorkers=20), "spec.minWorkers: 20 is greater than maxWorkers (10)", id="min-above-max"),
    pytest.param("XTrinode", _spec(maxWorkers=900), "spec.maxWorkers: 900 is out of range", id="workers-range"),
    pytest.param("XTrinode", _spec(routing={"capacityUnits": 2}), "spec.routing: sets no selector", id="routing-selector"),
    pytest.param("XTrinode", _spec(routing={"hostname": "a.example.com", "hostnameDomain": "example.com"}),
                 "not both", id="hostname-and-domain"),
    pytest.param("XTrinode", _spec(resources={"worker": {"requests": {"cpu": "4"}, "limits": {"cpu": "2"}}}),
                 "spec.resources.worker.limits.cpu: '2' is below requests.cpu '4'", id="limit-below-request"),
    pytest.param("XTrinode", _spec(valuesOverlay={"trino": {"config": {"http-server.http.enabled": "false"}}}),
                 "turns off Trino's HTTP server", id="http-disabled"),
    pytest.param("XTrinode", _spec(valuesOverlay={"additionalConfigProperties": ["http-server.http.port=9000"]}),
                 "use valuesOverlay.service.port", id="http-port"),
    pytest.param("XTrinode", _spec(valuesOverlay={"coordinator": {"additionalJVMConfig": ["-Dhttp-server.https.enabled=true"]}}),
                 "HTTPS server mode", id="https"),
    pytest.param("XTrinode", _spec(valuesOverlay={"server": {"config": {"authenticationType": "KERBEROS"}}}),
                 "HTTP authentication type KERBEROS is not supported", id="auth-type"),
    pytest.param("XTrinode", _spec(valuesOverlay={"server": {"config": {"authenticationType": "PASSWORD"}},
                                                  "auth": {"passwordAuthSecret": "pw"}}),
                 "spec.trinoControlAuth.passwordSecret: is not set", id="password-without-control-auth"),
    pytest.param("XTrinode", _spec(valuesOverlay={"securityContext": {"privileged": True}}),
                 "privileged container", id="isolation"),
    pytest.param("XTrinode", _spec(valuesOverlay={"podAnnotations": {"a": "b"}}),
                 "not a supported valuesOverlay key, so it would be ignored; the supported keys are", id="unknown-key"),
    pytest.param("XTrinode", _spec(valuesOverlay={"trino": {"config": {"internal-communication.shared-secret": "x"}}}),
                 "looks like a secret", id="plaintext-property"),
    pytest.param("XTrinode", _spec(trinoControlAuth=CONTROL, valuesOverlay={"server": {"config": {"authenticationType": "PASSWORD"}}}),
                 "auth.passwordAuthSecret is not set", id="render-refuses"),
    pytest.param("XTrinode", _spec(trinoControlAuth={"passwordSecret": {"name": "c", "key": "k", "namespace": "other"}}),
                 "must live in the runtime's namespace 'team-a'", id="control-secret-namespace"),
    pytest.param("XTrinodeCatalog", {**TPCH, "connector": {"tpch": {}, "memory": {}}}, "sets 2 connector types", id="two-connectors"),
    pytest.param("XTrinodeCatalog", {**PG, "connector": {"postgres": {**PG["connector"]["postgres"],
                                                                        "properties": {"connection-password": "hunter2"}}}},
                 "looks like a secret", id="plaintext-catalog-secret"),
]


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
@pytest.mark.parametrize(("kind", "spec", "fragment"), REJECTIONS)
def test_every_reject_reason_round_trips(webhook: Webhook, kind: str, spec: dict[str, Any], fragment: str,
                                         operation: str) -> None:
    old = (BASE if kind == "XTrinode" else TPCH) if operation == "UPDATE" else None
    response = send(webhook, review(kind, operation, spec, old))
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert fragment in response["status"]["message"], response["status"]["message"]
    assert "hunter2" not in response["status"]["message"]


def test_catalog_connector_type_change_is_refused_on_update_only(webhook: Webhook) -> None:
    changed = {**TPCH, "connector": {"memory": {}}}
    response = send(webhook, review("XTrinodeCatalog", "UPDATE", changed, TPCH))
    assert not response["allowed"] and "changes the connector type from 'tpch' to 'memory'" in response["status"]["message"]
    assert send(webhook, review("XTrinodeCatalog", "CREATE", changed))["allowed"]


def test_catalog_name_too_long_for_labels_is_refused(webhook: Webhook) -> None:
    response = send(webhook, review("XTrinodeCatalog", "CREATE", TPCH, name="c" * 50))
    assert not response["allowed"] and "at most 63 characters" in response["status"]["message"]


# (old spec or None for CREATE, new spec, warning prefix)
WARNINGS = [
    pytest.param(None, _spec(valuesOverlay={"image": {"tag": "480"}}), "spec.valuesOverlay: set", id="overlay-set"),
    pytest.param(_spec(valuesOverlay={"image": {"tag": "479"}}), _spec(valuesOverlay={"image": {"tag": "480"}}),
                 "spec.valuesOverlay: changed", id="overlay-changed"),
    pytest.param(_spec(valuesOverlay={"image": {"tag": "480"}}), _spec(), "spec.valuesOverlay: removed", id="overlay-removed"),
    pytest.param(None, _spec(suspended=True), "spec.suspended: true: created suspended", id="created-suspended"),
    pytest.param(_spec(), _spec(suspended=True), "spec.suspended: true: running queries drain", id="suspend"),
    pytest.param(_spec(), _spec(maxWorkers=40), "spec.maxWorkers: 10 -> 40 is a large change", id="large-worker-change"),
    pytest.param(_spec(), _spec(keda={"enabled": True, "scalerType": "http"}), "spec.keda.enabled: False -> True",
                 id="keda-enabled"),
    pytest.param(None, _spec(keda={"enabled": True}), "spec.keda: enabled without scaler settings", id="keda-no-scaler"),
]


@pytest.mark.parametrize(("old", "new", "prefix"), WARNINGS)
def test_every_warning_round_trips_and_the_request_is_allowed(webhook: Webhook, old: Any, new: Any, prefix: str) -> None:
    response = send(webhook, review("XTrinode", "UPDATE" if old is not None else "CREATE", new, old))
    assert response["allowed"] is True, response
    assert "status" not in response
    assert any(w.startswith(prefix) for w in response["warnings"]), response["warnings"]


def test_a_review_of_the_other_kind_or_version_is_refused_with_what_to_fix(webhook: Webhook) -> None:
    body = review("XTrinodeCatalog", "CREATE", TPCH)
    reply = webhook.post("/validate/xtrinodes", body).json()["response"]
    assert reply["uid"] == body["request"]["uid"] and reply["allowed"] is False
    assert "should send XTrinodeCatalog to /validate/xtrinodecatalogs" in reply["status"]["message"]
    old = review("XTrinode", "CREATE", BASE, api_version="admission.k8s.io/v1beta1")
    reply = webhook.post("/validate/xtrinodes", old).json()["response"]
    assert reply["allowed"] is False and "admissionReviewVersions: [v1]" in reply["status"]["message"]


def test_delete_is_always_allowed(webhook: Webhook) -> None:
    assert send(webhook, review("XTrinode", "DELETE", None, {"size": "huge"}))["allowed"] is True


def test_an_overlay_from_a_user_without_the_permission_is_refused_through_a_real_subject_access_review(
    webhook: Webhook,
) -> None:
    dave = {"username": "dave", "groups": ["system:authenticated"]}
    response = send(webhook, review("XTrinode", "CREATE", _spec(valuesOverlay={"image": {"tag": "480"}}), user=dave))
    assert response["allowed"] is False
    assert "needs permission `update xtrinodes/valuesoverlay`, and user 'dave' does not have it" in response["status"]["message"]
    assert send(webhook, review("XTrinode", "CREATE", _spec(), user=dave))["allowed"]  # no overlay, no gate
