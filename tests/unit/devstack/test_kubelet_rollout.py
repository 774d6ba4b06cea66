"""The kubelet's Deployment decisions: scale up and down (unready and newest first), RollingUpdate
with maxSurge/maxUnavailable (new pods before old ones go when maxUnavailable is 0), Recreate
(old pods gone before new ones start), and the status counts and conditions reported.
"""

from __future__ import annotations

from typing import Any

from devstack.kubelet.rollout import PodView, deployment_status, plan_rollout, rolling_limits

ROLLING: dict[str, Any] = {"replicas": 2, "strategy": {"type": "RollingUpdate",
                                                       "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}}


def _pod(name: str, current: bool = True, ready: bool = True, terminating: bool = False, created: str = "") -> PodView:
    return PodView(name, current, ready, terminating, created or f"2026-01-01T00:00:0{name[-1]}Z")


def test_limits_round_surge_up_and_unavailable_down() -> None:
    assert rolling_limits(ROLLING, 2) == (1, 0)
    assert rolling_limits({"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}, 4) == (0, 1)
    assert rolling_limits({}, 4) == (1, 1)


def test_scale_up_creates_the_missing_pods() -> None:
    assert plan_rollout(ROLLING, [_pod("p1")]).create == 1
    assert plan_rollout(ROLLING, [_pod("p1"), _pod("p2", terminating=True)]).create == 1


def test_scale_down_removes_unready_then_newest() -> None:
    pods = [_pod("p1"), _pod("p2"), _pod("p3", ready=False), _pod("p4")]
    assert plan_rollout({**ROLLING, "replicas": 2}, pods).delete == ["p3", "p4"]
    assert plan_rollout({**ROLLING, "replicas": 0}, pods[:2]).delete == ["p2", "p1"]


def test_rolling_update_surges_before_removing_ready_old_pods() -> None:
    old = [_pod("o1", current=False), _pod("o2", current=False)]
    first = plan_rollout(ROLLING, old)
    assert (first.create, first.delete) == (1, [])
    waiting = plan_rollout(ROLLING, [*old, _pod("n1", ready=False)])
    assert (waiting.create, waiting.delete) == (0, []), "maxUnavailable 0: keep old pods until the new one is ready"
    step = plan_rollout(ROLLING, [*old, _pod("n1")])
    assert step.create == 0 and len(step.delete) == 1


def test_recreate_removes_old_pods_before_creating() -> None:
    spec = {"replicas": 1, "strategy": {"type": "Recreate"}}
    assert plan_rollout(spec, [_pod("o1", current=False)]).delete == ["o1"]
    assert plan_rollout(spec, [_pod("o1", current=False, terminating=True)]).create == 0
    assert plan_rollout(spec, []).create == 1


def test_status_counts_and_conditions() -> None:
    deployment = {"metadata": {"name": "w", "generation": 3}, "spec": ROLLING}
    status = deployment_status(deployment, [_pod("p1"), _pod("p2", ready=False), _pod("o1", current=False,
                                                                                    terminating=True)], "T1")
    assert {k: status[k] for k in ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                                    "availableReplicas", "unavailableReplicas")} == {
        "observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1,
        "unavailableReplicas": 1}
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Available"]["status"] == "False"
    assert conditions["Progressing"]["reason"] == "ReplicaSetUpdated"
    later = deployment_status({**deployment, "status": status}, [_pod("p1"), _pod("p2")], "T2")
    available = {c["type"]: c for c in later["conditions"]}["Available"]
    assert (available["status"], available["lastTransitionTime"]) == ("True", "T2")
    again = deployment_status({**deployment, "status": later}, [_pod("p1"), _pod("p2")], "T3")
    assert again == later, "no change, no new timestamps: the kubelet writes status only when it changes"
