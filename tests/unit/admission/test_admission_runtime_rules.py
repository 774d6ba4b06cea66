"""XTrinode spec rules: each rejection names the field, shows the value and says what to use instead.

Checks: size presets, worker ranges and bounds (with defaults), wakeMinWorkers, routing selectors,
hostname with hostnameDomain, limits below requests (overrides and presets), schema errors with paths.
"""

from __future__ import annotations

from typing import Any

import pytest
from admission_builders import runtime_request

from xtrinode.admission import evaluate

VALID: dict[str, Any] = {
    "size": "m",
    "minWorkers": 1,
    "maxWorkers": 4,
    "autoSuspendAfter": "10m",
    "routing": {"routingGroup": "sales", "hostname": "sales.trino.example.com"},
    "resources": {"worker": {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"cpu": "8", "memory": "32Gi"}}},
    "keda": {"enabled": True, "scalerType": "prometheus", "prometheusServer": "http://prom:9090", "threshold": "5"},
}


def test_valid_spec_is_allowed_without_reasons() -> None:
    result = evaluate(runtime_request(VALID))
    assert result.allowed, result.reasons
    assert result.reasons == []
    assert not result.gate_required


REJECTIONS = [
    pytest.param({"size": "xxl"}, "spec.size", ["'xxl'", "xs", "xl"], id="unknown-size"),
    pytest.param({"size": "M"}, "spec.size", ["'M'", "lower-case", "'m'"], id="upper-case-size"),
    pytest.param({"maxWorkers": 3}, "spec.size", ["required", "xs", "m"], id="missing-size"),
    pytest.param({"size": "s", "minWorkers": 5, "maxWorkers": 3}, "spec.minWorkers", ["5", "maxWorkers (3)", "minWorkers <= maxWorkers"], id="min-above-max"),
    pytest.param({"size": "s", "minWorkers": 3}, "spec.minWorkers", ["3", "maxWorkers (2, the default)", "minWorkers <= maxWorkers"], id="min-above-default-max"),
    pytest.param({"size": "s", "maxWorkers": 501}, "spec.maxWorkers", ["501", "0 to 500"], id="max-above-500"),
    pytest.param({"size": "s", "minWorkers": -1}, "spec.minWorkers", ["-1", "0 to 500"], id="negative-min"),
    pytest.param({"size": "s", "maxWorkers": 4, "wakeMinWorkers": 9}, "spec.wakeMinWorkers", ["9", "maxWorkers (4)", "wakeMinWorkers <= maxWorkers"], id="wake-above-max"),
    pytest.param({"size": "s", "wakeMinWorkers": 600}, "spec.wakeMinWorkers", ["600", "0 to 500"], id="wake-out-of-range"),
    pytest.param({"size": "s", "routing": {}}, "spec.routing", ["no selector", "routingGroup", "'team-a--sales'"], id="routing-empty"),
    pytest.param({"size": "s", "routing": {"capacityUnits": 3, "default": False, "header": " "}}, "spec.routing", ["no selector", "default: true"], id="routing-without-selector"),
    pytest.param({"size": "s", "routing": {"hostname": "a.example.com", "hostnameDomain": "example.com"}}, "spec.routing.hostname", ["'a.example.com'", "'example.com'", "not both"], id="hostname-with-domain"),
    pytest.param({"size": "s", "resources": {"worker": {"requests": {"cpu": "4"}, "limits": {"cpu": "2"}}}}, "spec.resources.worker.limits.cpu", ["'2'", "'4'", "limits.cpu >= requests.cpu"], id="worker-cpu-limit-below-request"),
    pytest.param({"size": "s", "resources": {"worker": {"requests": {"memory": "8Gi"}, "limits": {"memory": "6000Mi"}}}}, "spec.resources.worker.limits.memory", ["'6000Mi'", "'8Gi'", "limits.memory >= requests.memory"], id="worker-memory-limit-below-request"),
    pytest.param({"size": "s", "resources": {"coordinator": {"requests": {"cpu": "1500m"}, "limits": {"cpu": 1}}}}, "spec.resources.coordinator.limits.cpu", ["1", "'1500m'", "limits.cpu >= requests.cpu"], id="coordinator-cpu-limit-below-request"),
    pytest.param({"size": "s", "resources": {"coordinator": {"requests": {"memory": "6Gi"}, "limits": {"memory": "5Gi"}}}}, "spec.resources.coordinator.limits.memory", ["'5Gi'", "'6Gi'"], id="coordinator-memory-limit-below-request"),
    pytest.param({"size": "l", "resources": {"worker": {"limits": {"cpu": "4"}}}}, "spec.resources.worker.limits.cpu", ["'4'", "size 'l'", "'8'", "requests.cpu"], id="limit-below-preset-request"),
    pytest.param({"size": "s", "resources": {"coordinator": {"limits": {"memory": "2Gi"}}}}, "spec.resources.coordinator.limits.memory", ["'2Gi'", "coordinator preset", "'4Gi'"], id="coordinator-limit-below-preset-request"),
    pytest.param({"size": "xs", "resources": {"worker": {"requests": {"memory": "16Gi"}}}}, "spec.resources.worker.requests.memory", ["'16Gi'", "'8Gi'", "limits.memory", "larger size"], id="request-above-preset-limit"),
]


@pytest.mark.parametrize(("spec", "path", "fragments"), REJECTIONS)
def test_rejects_with_field_value_and_alternative(spec: dict[str, Any], path: str, fragments: list[str]) -> None:
    result = evaluate(runtime_request(spec))
    assert not result.allowed
    matching = [r for r in result.reasons if r.startswith(f"{path}: ")]
    assert len(matching) == 1, result.reasons
    for fragment in fragments:
        assert fragment in matching[0], (fragment, matching[0])


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"size": "xs", "resources": {"worker": {"limits": {"cpu": "1", "memory": "4Gi"}}}}, id="limit-equal-to-preset-request"),
        pytest.param({"size": "xl", "resources": {"worker": {"requests": {"cpu": "64"}}}}, id="request-equal-to-preset-limit"),
        pytest.param({"size": "s", "resources": {"worker": {"requests": {"cpu": "100m"}, "limits": {"cpu": "500m"}}}}, id="both-overridden-below-preset"),
        pytest.param({"size": "s", "minWorkers": 2}, id="min-equal-default-max"),
        pytest.param({"size": "s", "maxWorkers": 500, "wakeMinWorkers": 500}, id="bounds-at-500"),
        pytest.param({"size": "s", "routing": {"default": True}}, id="default-route-only"),
        pytest.param({"size": "s", "routing": {"header": "sales"}}, id="header-route-only"),
        pytest.param({"size": "s", "routing": None}, id="routing-null"),
    ],
)
def test_allows_edge_cases(spec: dict[str, Any]) -> None:
    result = evaluate(runtime_request(spec))
    assert result.allowed, result.reasons


def test_min_above_max_is_reported_once_not_again_by_the_schema() -> None:
    result = evaluate(runtime_request({"size": "s", "minWorkers": 5, "maxWorkers": 3}))
    assert len(result.reasons) == 1, result.reasons


def test_every_problem_is_reported_in_one_answer() -> None:
    spec = {"size": "xxl", "minWorkers": 600, "routing": {}, "autoSuspendAfter": "soon"}
    paths = {r.split(": ", 1)[0] for r in evaluate(runtime_request(spec)).reasons}
    assert paths == {"spec.size", "spec.minWorkers", "spec.routing", "spec.autoSuspendAfter"}


@pytest.mark.parametrize(
    ("spec", "path", "fragments"),
    [
        pytest.param({"size": "s", "maxWorker": 3}, "spec.maxWorker", ["unknown field", "did you mean 'maxWorkers'"], id="unknown-field-suggests"),
        pytest.param({"size": "s", "routing": {"hostnam": "a.example.com"}}, "spec.routing.hostnam", ["unknown field", "'hostname'"], id="nested-unknown-field"),
        pytest.param({"size": "s", "autoSuspendAfter": "5 minutes"}, "spec.autoSuspendAfter", ["'5 minutes'", "'5m'"], id="bad-duration"),
        pytest.param({"size": "s", "wakeTTL": "ten"}, "spec.wakeTTL", ["'ten'", "'90s'"], id="bad-wake-ttl"),
        pytest.param({"size": "s", "resources": {"worker": {"limits": {"cpu": "lots"}}}}, "spec.resources.worker.limits.cpu", ["'lots'", "'4Gi'"], id="bad-quantity"),
        pytest.param({"size": "s", "image": {"pullPolicy": "Sometimes"}}, "spec.image.pullPolicy", ["'Sometimes'", "IfNotPresent"], id="bad-literal"),
        pytest.param({"size": "s", "placement": {"worker": {"tolerations": [{"effect": "Never"}]}}}, "spec.placement.worker.tolerations[0].effect", ["'Never'", "NoSchedule"], id="list-index-in-path"),
    ],
)
def test_schema_errors_name_the_field_path(spec: dict[str, Any], path: str, fragments: list[str]) -> None:
    result = evaluate(runtime_request(spec))
    assert not result.allowed
    matching = [r for r in result.reasons if r.startswith(f"{path}: ")]
    assert len(matching) == 1, result.reasons
    for fragment in fragments:
        assert fragment in matching[0], (fragment, matching[0])


def test_bad_metadata_name_is_rejected_with_the_rule() -> None:
    request = runtime_request({"size": "s"})
    obj = {**request.object, "metadata": {"name": "Sales_Team", "namespace": "team-a"}}  # type: ignore[dict-item]
    result = evaluate(request.model_copy(update={"object": obj}))
    assert not result.allowed
    assert any(r.startswith("metadata: ") and "'Sales_Team'" in r and "DNS label" in r for r in result.reasons)


@pytest.mark.parametrize(
    ("spec", "path", "fragment"),
    [
        pytest.param({"size": "s", "autoSuspendAfter": 8.64e13}, "spec.autoSuspendAfter", "too large", id="huge-duration-number"),
        pytest.param({"size": "s", "keda": {"scaleUpCooldown": "99999999999d"}}, "spec.keda.scaleUpCooldown", "too large", id="huge-duration-string"),
        pytest.param({"size": "s", "resources": {"worker": {"limits": {"memory": "1e99999999"}}}}, "spec.resources.worker.limits.memory", "too large", id="huge-quantity"),
    ],
)
def test_values_too_large_to_represent_are_rejected_at_their_path(spec: dict[str, Any], path: str, fragment: str) -> None:
    result = evaluate(runtime_request(spec))
    assert not result.allowed
    assert [r for r in result.reasons if r.startswith(f"{path}: ") and fragment in r], result.reasons
    assert not any("bug" in r or r.startswith("<object>") for r in result.reasons), result.reasons
