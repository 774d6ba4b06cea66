"""Fuzz the webhook endpoint over HTTPS: malformed JSON, wrong content types, oversize bodies, random
AdmissionReview shapes. Every answer is a clear 4xx (with a JSON error body) or an AdmissionReview that
echoes the uid; never a 5xx, never a dropped connection.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Webhook

pytestmark = pytest.mark.integration

PATHS = ["/validate/xtrinodes", "/validate/xtrinodecatalogs"]
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(allow_nan=False),
                     st.text(max_size=8), st.sampled_from(["CREATE", "UPDATE", "DELETE", "XTrinode", "XTrinodeCatalog",
                                                           "admission.k8s.io/v1", "v1", "s", "PASSWORD"]))
_KEYS = st.sampled_from([
    "apiVersion", "kind", "request", "uid", "operation", "object", "oldObject", "userInfo", "username", "groups",
    "namespace", "name", "metadata", "spec", "size", "valuesOverlay", "connector", "postgres", "properties",
    "trino", "config", "server", "auth", "dryRun", "extra", "minWorkers", "maxWorkers", "routing", "tpch",
])
_JSON = st.recursive(_SCALARS, lambda ch: st.one_of(st.lists(ch, max_size=3), st.dictionaries(_KEYS, ch, max_size=5)),
                     max_leaves=25)


@st.composite
def admission_reviews(draw: st.DrawFn) -> Any:
    """Mostly AdmissionReview-shaped: the right envelope with random parts, or random JSON."""
    request: dict[str, Any] = draw(st.dictionaries(_KEYS, _JSON, max_size=6))
    if draw(st.booleans()):
        request["uid"] = draw(st.text(min_size=1, max_size=10) | _SCALARS)
    if draw(st.booleans()):
        request["kind"] = {"group": "analytics.xtrinode.io", "version": "v1",
                           "kind": draw(st.sampled_from(["XTrinode", "XTrinodeCatalog", "Pod"]) | _SCALARS)}
    if draw(st.booleans()):
        request["object"] = {"apiVersion": "analytics.xtrinode.io/v1", "kind": "XTrinode",
                             "metadata": draw(st.dictionaries(_KEYS, _JSON, max_size=3)),
                             "spec": draw(_JSON)}
    review = {"apiVersion": draw(st.sampled_from(["admission.k8s.io/v1"]) | _SCALARS), "kind": "AdmissionReview",
              "request": request if draw(st.integers(0, 9)) else draw(_JSON)}
    return draw(st.one_of(st.just(review), st.just(review), _JSON))


def _check(reply: requests.Response, sent: Any) -> None:
    assert reply.status_code < 500, (reply.status_code, reply.text[:300], json.dumps(sent)[:300])
    if reply.status_code == 200:
        answer = reply.json()
        assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
        assert isinstance(answer["response"]["allowed"], bool)
        assert answer["response"]["uid"] == sent["request"]["uid"]
    else:
        assert 400 <= reply.status_code < 500
        if reply.headers.get("Content-Type", "").startswith("application/json"):
            assert reply.json()["code"] == reply.status_code


def test_random_admission_reviews_get_a_review_or_a_clear_4xx(webhook: Webhook) -> None:
    @settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(PATHS), admission_reviews())
    def attempt(path: str, body: Any) -> None:
        _check(webhook.post(path, body), body)

    attempt()


def test_malformed_json_wrong_content_types_and_oversize_bodies_are_4xx(webhook: Webhook) -> None:
    cases: list[tuple[bytes, str, int]] = [
        (b"{not json", "application/json", 400),
        (b"", "application/json", 400),
        (b"\xff\xfe\x00garbage", "application/json", 400),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),  # nesting deeper than any parser allows
        (b'"just a string"', "application/json", 400),
        (b'{"request": {"uid": 5}}', "application/json", 400),
        (b'{"apiVersion": "admission.k8s.io/v1"}', "text/plain", 415),
        (b"a: b", "application/yaml", 415),
        (b"{}", "", 415),
        (b'{"request": {"uid": "x", "object": "' + b"a" * (5 * 1024 * 1024) + b'"}}', "application/json", 413),
    ]
    for data, content_type, status in cases:
        reply = webhook.post(PATHS[0], data=data, content_type=content_type)
        assert reply.status_code == status, (data[:40], content_type, reply.status_code, reply.text[:200])
        assert reply.json()["code"] == status and reply.json()["error"]
    for method in ("GET", "PUT", "DELETE"):
        reply = requests.request(method, webhook.url + PATHS[0], verify=str(webhook.pair.ca_file), timeout=10)
        assert reply.status_code == 405
    assert requests.post(webhook.url + "/mutate", json={}, verify=str(webhook.pair.ca_file), timeout=10).status_code == 404


def test_a_deeply_nested_object_is_refused_not_crashed(webhook: Webhook) -> None:
    nested: Any = {"x": 1}
    for _ in range(900):
        nested = {"a": nested}
    body = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "deep", "kind": {"kind": "XTrinode"}, "operation": "CREATE", "namespace": "n", "name": "x",
        "object": {"apiVersion": "analytics.xtrinode.io/v1", "kind": "XTrinode", "metadata": {"name": "x"},
                   "spec": {"size": "s", "valuesOverlay": nested}}}}
    reply = webhook.post(PATHS[0], body)
    assert reply.status_code in (200, 400), reply.text[:200]
    if reply.status_code == 200:
        assert reply.json()["response"]["allowed"] is False
    assert webhook.process.poll() is None  # still serving


def test_nothing_the_fuzzing_sent_crashed_inside_the_webhook(webhook: Webhook) -> None:
    """Runs after the others in this module: the webhook's log holds no traceback."""
    log = webhook.log.read_text()
    assert "Traceback" not in log and "admission review failed" not in log, log[-2000:]
