"""The entity workflow's pure decisions: which lifecycle step comes next, worker targets,
wake windows and when the autosuspend check is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.state import Action, RuntimeState, autosuspend_due_at, next_action, target_workers, wake_floor

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def state(generation: int = 1, **kw: Any) -> RuntimeState:
    if "applied_generation" in kw:
        kw["applied_revision"] = kw["applied_generation"]
    spec = {"size": "xs", "maxWorkers": 3, **kw.pop("spec", {})}
    runtime = {"apiVersion": "analytics.xtrinode.io/v1", "kind": "XTrinode",
               "metadata": {"name": "a", "namespace": "t", "generation": generation}, "spec": spec}
    return RuntimeState(namespace="t", name="a", runtime=runtime, generation=generation, revision=generation, **kw)


def test_new_runtime_is_provisioned() -> None:
    assert next_action(state(), NOW) is Action.PROVISION


def test_ready_runtime_at_its_generation_needs_nothing() -> None:
    s = state(phase="Ready", applied_generation=1, workers_desired=3)
    assert next_action(s, NOW) is Action.NONE


def test_new_generation_is_provisioned_again() -> None:
    s = state(generation=2, phase="Ready", applied_generation=1, workers_desired=3)
    assert next_action(s, NOW) is Action.PROVISION


def test_spec_suspended_suspends_a_ready_runtime_and_then_rests() -> None:
    s = state(phase="Ready", applied_generation=1, spec={"suspended": True})
    assert next_action(s, NOW) is Action.SUSPEND
    s.phase = "Suspended"
    assert next_action(s, NOW) is Action.NONE


def test_resume_request_wins_over_an_autosuspended_runtime() -> None:
    s = state(phase="Suspended", applied_generation=1, manually_suspended=True)
    assert next_action(s, NOW) is Action.NONE
    s.resume_requested = True
    assert next_action(s, NOW) is Action.RESUME


def test_suspended_runtime_without_any_suspend_reason_is_resumed() -> None:
    # spec.suspended went from true to false: the runtime comes back.
    s = state(phase="Suspended", applied_generation=1)
    assert next_action(s, NOW) is Action.RESUME


def test_delete_wins_over_everything() -> None:
    s = state(phase="Provisioning", deleted=True, resume_requested=True)
    assert next_action(s, NOW) is Action.DELETE


def test_a_permanently_failed_generation_waits_for_a_new_one() -> None:
    s = state(phase="Error", error_revision=1)
    assert next_action(s, NOW) is Action.NONE
    s.revision = 2
    assert next_action(s, NOW) is Action.PROVISION


def test_fixed_mode_runs_max_workers_and_keda_mode_the_min() -> None:
    assert target_workers(state(phase="Ready"), NOW) == 3
    keda = {"keda": {"enabled": True, "scalerType": "http"}, "minWorkers": 1}
    assert target_workers(state(phase="Ready", spec=keda), NOW) == 1
    assert target_workers(state(phase="Suspended"), NOW) == 0


def test_wake_window_raises_the_keda_floor_until_it_expires() -> None:
    keda = {"keda": {"enabled": True, "scalerType": "http"}, "minWorkers": 0, "maxWorkers": 5}
    s = state(phase="Ready", spec=keda, wake_min_workers=2, wake_expires_at=NOW + timedelta(minutes=5))
    assert wake_floor(s, NOW) == 2 and target_workers(s, NOW) == 2
    later = NOW + timedelta(minutes=6)
    assert wake_floor(s, later) == 0 and target_workers(s, later) == 0


def test_scale_when_desired_workers_differ_from_the_target() -> None:
    s = state(phase="Ready", applied_generation=1, workers_desired=1)
    assert next_action(s, NOW) is Action.SCALE


@pytest.mark.parametrize(("auto", "expected"), [("5m", NOW + timedelta(minutes=5)), ("0", None)])
def test_autosuspend_is_due_after_the_idle_time(auto: str, expected: datetime | None) -> None:
    s = state(phase="Ready", last_activity=NOW, spec={"autoSuspendAfter": auto})
    assert autosuspend_due_at(s) == expected


def test_wake_window_postpones_autosuspend() -> None:
    s = state(phase="Ready", last_activity=NOW, wake_expires_at=NOW + timedelta(minutes=20),
              spec={"autoSuspendAfter": "5m"})
    assert autosuspend_due_at(s) == NOW + timedelta(minutes=20)


def test_autosuspend_is_not_scheduled_unless_ready() -> None:
    assert autosuspend_due_at(state(phase="Suspended", last_activity=NOW)) is None
