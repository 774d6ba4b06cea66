"""Warnings (allowed changes worth a second look) and when the valuesOverlay gate applies.

Checks: valuesOverlay set, changed or removed (gate required) vs unchanged (no gate, no warning);
suspend on create and on false->true; large minWorkers/maxWorkers moves (> 20 workers or > 50%);
KEDA toggled, scaler settings changed, and enabled without a scaler. Warnings stay short for kubectl.
"""

from __future__ import annotations

from typing import Any

import pytest
from admission_builders import runtime_request

from xtrinode.admission import evaluate

BASE: dict[str, Any] = {"size": "s", "minWorkers": 1, "maxWorkers": 10}
PROM = {"enabled": True, "scalerType": "prometheus", "prometheusServer": "http://prom:9090", "threshold": "5"}


def _spec(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


WARNINGS = [
    pytest.param(None, _spec(valuesOverlay={"image": {"tag": "477"}}), "spec.valuesOverlay: set", ["privileged", "update xtrinodes/valuesoverlay"], id="overlay-created"),
    pytest.param(_spec(valuesOverlay={"image": {"tag": "476"}}), _spec(valuesOverlay={"image": {"tag": "477"}}), "spec.valuesOverlay: changed", ["update xtrinodes/valuesoverlay"], id="overlay-changed"),
    pytest.param(_spec(valuesOverlay={"trino": {"config": {"x": 1}}}), _spec(valuesOverlay={"trino": {"config": {"x": True}}}), "spec.valuesOverlay: changed", [], id="overlay-int-to-bool-is-a-change"),
    pytest.param(_spec(), _spec(valuesOverlay={"image": {"tag": "477"}}), "spec.valuesOverlay: set", [], id="overlay-added-on-update"),
    pytest.param(_spec(valuesOverlay={"image": {"tag": "477"}}), _spec(), "spec.valuesOverlay: removed", ["defaults"], id="overlay-removed"),
    pytest.param(None, _spec(suspended=True), "spec.suspended: true", ["created suspended", "resumed"], id="created-suspended"),
    pytest.param(_spec(suspended=False), _spec(suspended=True), "spec.suspended: true", ["drain", "maxDrainSeconds", "scales to zero"], id="suspend-requested"),
    pytest.param(_spec(), _spec(maxWorkers=40), "spec.maxWorkers: 10 -> 40", ["up 30", "cost"], id="max-up-by-more-than-20"),
    pytest.param(_spec(), _spec(maxWorkers=16), "spec.maxWorkers: 10 -> 16", ["up 6"], id="max-up-by-more-than-half"),
    pytest.param(_spec(maxWorkers=100), _spec(maxWorkers=70), "spec.maxWorkers: 100 -> 70", ["down 30", "drains"], id="max-down-by-more-than-20"),
    pytest.param(_spec(), _spec(minWorkers=8), "spec.minWorkers: 1 -> 8", ["up 7"], id="min-up"),
    pytest.param({"size": "s"}, {"size": "s", "maxWorkers": 30}, "spec.maxWorkers: 2 -> 30", [], id="from-default-max"),
    pytest.param(_spec(), _spec(keda=PROM), "spec.keda.enabled: False -> True", ["KEDA takes over"], id="keda-enabled"),
    pytest.param(_spec(keda=PROM), _spec(keda={**PROM, "enabled": False}), "spec.keda.enabled: True -> False", ["fixed maxWorkers"], id="keda-disabled"),
    pytest.param(_spec(keda=PROM), _spec(keda={**PROM, "threshold": "8", "scaleDownCooldown": "10m"}), "spec.keda: scaler settings changed", ["threshold", "scaleDownCooldown", "ScaledObject"], id="keda-scaler-changed"),
    pytest.param(None, _spec(keda={"enabled": True}), "spec.keda: enabled without scaler settings", ["fixed", "scalerType", "enabled: false"], id="keda-enabled-without-scaler"),
    pytest.param(None, _spec(keda={"enabled": True, "scalerType": "prometheus"}), "spec.keda: enabled without scaler settings", ["prometheusServer"], id="keda-prometheus-without-server"),
]


@pytest.mark.parametrize(("old", "new", "prefix", "fragments"), WARNINGS)
def test_warns_and_still_allows(old: dict[str, Any] | None, new: dict[str, Any], prefix: str, fragments: list[str]) -> None:
    result = evaluate(runtime_request(new, old_spec=old))
    assert result.allowed, result.reasons
    matching = [w for w in result.warnings if w.startswith(prefix)]
    assert len(matching) == 1, result.warnings
    for fragment in fragments:
        assert fragment in matching[0], (fragment, matching[0])
    assert all(len(w) <= 256 for w in result.warnings)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(_spec(), _spec(maxWorkers=14), id="max-up-by-40-percent"),
        pytest.param(_spec(maxWorkers=100), _spec(maxWorkers=80), id="max-down-by-20"),
        pytest.param(_spec(suspended=True), _spec(suspended=True), id="stays-suspended"),
        pytest.param(_spec(suspended=True), _spec(suspended=False), id="resume"),
        pytest.param(_spec(keda=PROM), _spec(keda=dict(PROM)), id="keda-unchanged"),
        pytest.param(_spec(keda=None), _spec(keda={"enabled": False}), id="keda-off-both-ways"),
        pytest.param(_spec(valuesOverlay={"a": {"b": 1}}), _spec(valuesOverlay={"a": {"b": 1}}), id="overlay-unchanged"),
        pytest.param(_spec(valuesOverlay={}), _spec(), id="empty-overlay-removed"),
    ],
)
def test_small_or_no_changes_do_not_warn(old: dict[str, Any], new: dict[str, Any]) -> None:
    result = evaluate(runtime_request(new, old_spec=old))
    assert result.allowed, result.reasons
    assert result.warnings == []
    assert not result.gate_required


@pytest.mark.parametrize(
    ("old", "new", "gate"),
    [
        pytest.param(None, _spec(valuesOverlay={"a": 1}), True, id="create-with-overlay"),
        pytest.param(None, _spec(), False, id="create-without-overlay"),
        pytest.param(None, _spec(valuesOverlay={}), False, id="create-with-empty-overlay"),
        pytest.param(_spec(valuesOverlay={"a": 1}), _spec(valuesOverlay={"a": 2}), True, id="change"),
        pytest.param(_spec(valuesOverlay={"a": 1}), _spec(), True, id="removal"),
        pytest.param(_spec(valuesOverlay={"a": 1}), _spec(valuesOverlay={"a": 1}, maxWorkers=11), False, id="other-field-changed"),
    ],
)
def test_gate_required_only_when_the_overlay_changes(old: dict[str, Any] | None, new: dict[str, Any], gate: bool) -> None:
    assert evaluate(runtime_request(new, old_spec=old)).gate_required is gate
