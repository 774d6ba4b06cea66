"""Warnings about what an `XTrinode` change will do, and whether it touches the valuesOverlay gate.

Allowed changes that deserve a second look: overlay set or changed, suspend, large worker moves, KEDA.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from xtrinode.admission.findings import Change, Report, as_flag, get
from xtrinode.admission.runtime_rules import DEFAULT_MAX_WORKERS, DEFAULT_MIN_WORKERS, effective_workers
from xtrinode.models.runtime import Keda

__all__ = [
    "LARGE_WORKER_CHANGE_ABSOLUTE",
    "LARGE_WORKER_CHANGE_RATIO",
    "CHANGE_RULES",
    "canonical_json",
    "overlay_changed",
    "check_overlay_change",
    "check_suspend",
    "check_worker_change",
    "check_keda",
]

LARGE_WORKER_CHANGE_ABSOLUTE = 20
"""A worker bound moving by more than this many workers is a large change."""
LARGE_WORKER_CHANGE_RATIO = 0.5
"""...or by more than this fraction of the old bound (an old bound of 0 counts as 1)."""
_KEDA_SCALER_FIELDS = (
    "scalerType",
    "scalingMetric",
    "threshold",
    "prometheusServer",
    "prometheusQuery",
    "scaleDownCooldown",
    "scaleUpCooldown",
)


def canonical_json(value: Any) -> str | None:
    """Exact JSON identity (true != 1, 1 != 1.0); None for values that cannot be compared."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        return None


def _canonical(value: Any) -> str | None:
    """Like canonical_json, but empty counts as absent and anything not comparable as changed."""
    if value is None or (isinstance(value, Mapping) and not value):
        return None
    text = canonical_json(value)
    return text if text is not None else f"<not comparable {id(value)}>"  # fail closed


def overlay_changed(change: Change) -> bool:
    """valuesOverlay created, changed or removed (a removal also needs the permission)."""
    new = _canonical(change.spec.get("valuesOverlay"))
    old = _canonical(change.old_spec.get("valuesOverlay")) if change.old_spec is not None else None
    return new != old


def check_overlay_change(change: Change, report: Report) -> None:
    if not overlay_changed(change):
        return
    report.gate_required = True
    overlay = change.spec.get("valuesOverlay")
    if _canonical(overlay) is None:
        report.warn(("spec", "valuesOverlay"), "removed; the runtime goes back to XTrinode's rendered defaults")
        return
    old = change.old_spec.get("valuesOverlay") if change.old_spec is not None else None
    verb = "set" if _canonical(old) is None else "changed"
    report.warn(
        ("spec", "valuesOverlay"),
        f"{verb}: privileged overrides are applied as written, past XTrinode's defaults; "
        "it needs permission update xtrinodes/valuesoverlay",
    )


def check_suspend(change: Change, report: Report) -> None:
    """Warn when a runtime is created suspended or suspended by this change."""
    if as_flag(change.spec.get("suspended")) is not True:
        return
    if change.old_spec is not None and as_flag(change.old_spec.get("suspended")) is True:
        return
    if change.operation == "CREATE":
        report.warn(("spec", "suspended"), "true: created suspended, no compute runs until it is resumed")
        return
    report.warn(
        ("spec", "suspended"),
        "true: running queries drain (up to gracefulShutdown.maxDrainSeconds), then compute scales to "
        "zero and the route pauses until suspended is false or a resume arrives",
    )


def _is_large(old: int, new: int) -> bool:
    delta = abs(new - old)
    return delta > LARGE_WORKER_CHANGE_ABSOLUTE or delta > LARGE_WORKER_CHANGE_RATIO * max(old, 1)


def check_worker_change(change: Change, report: Report) -> None:
    """Warn when minWorkers or maxWorkers moves by more than 20 workers or more than 50%."""
    if change.old_spec is None:
        return
    for field, default in (("minWorkers", DEFAULT_MIN_WORKERS), ("maxWorkers", DEFAULT_MAX_WORKERS)):
        old = effective_workers(change.old_spec, field, default)
        new = effective_workers(change.spec, field, default)
        if old is None or new is None or not _is_large(old, new):
            continue
        direction = "up" if new > old else "down"
        report.warn(
            ("spec", field),
            f"{old} -> {new} is a large change ({direction} {abs(new - old)} workers); "
            "check cost and capacity, scale-down drains running queries",
        )


def _keda_active(keda: Any) -> bool | None:
    """Whether KEDA drives the workers (the model's rule); None when the keda block is invalid."""
    if keda is None:
        return False
    try:
        return Keda.model_validate(keda).active
    except ValueError:
        return None


def check_keda(change: Change, report: Report) -> None:
    """Warn on KEDA toggles and scaler changes, and on enabled KEDA without a scaler (fixed workers)."""
    keda = change.spec.get("keda")
    enabled = as_flag(get(keda, "enabled")) is True
    if enabled and _keda_active(keda) is False:
        report.warn(
            ("spec", "keda"),
            "enabled without scaler settings, so workers stay fixed at maxWorkers; set scalerType "
            "(and prometheusServer for prometheus) or enabled: false",
        )
    if change.old_spec is None:
        return
    old_keda = change.old_spec.get("keda")
    was_enabled = as_flag(get(old_keda, "enabled")) is True
    if enabled != was_enabled:
        report.warn(
            ("spec", "keda", "enabled"),
            f"{was_enabled} -> {enabled}: "
            + ("KEDA takes over worker scaling" if enabled else "KEDA stops; workers go to fixed maxWorkers"),
        )
        return
    changed = [
        field for field in _KEDA_SCALER_FIELDS if _canonical(get(old_keda, field)) != _canonical(get(keda, field))
    ]
    if changed:
        report.warn(
            ("spec", "keda"),
            f"scaler settings changed ({', '.join(changed)}); the ScaledObject is replaced and scaling "
            "decisions restart",
        )


CHANGE_RULES = (check_overlay_change, check_suspend, check_worker_change, check_keda)
