"""The lifecycle worker's Prometheus metrics, recorded by activities (never by workflow code).

Workflow code replays, so it records nothing: it hands the facts it decided (the phase a status write
leaves, how long the step took, when the resume was asked for) to the activity that writes the status,
and the activity records them once it succeeded. Activities never run during replay, so a replayed
history counts nothing twice. They live in the process's default registry, which `workers/health.py`
serves on `/metrics`. Label values are phases, step names and short outcomes: no runtime names except
where the issue asks for them per runtime (the operator's phase gauge, workers/operator_metrics.py).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = [
    "AUTOSUSPEND_CHECKS",
    "DRAIN_OUTCOMES",
    "DRAIN_SECONDS",
    "PHASE_TRANSITIONS",
    "QUERIES_KILLED",
    "RESUME_SECONDS",
    "RESUMES",
    "STATUS_WRITES",
    "STEP_SECONDS",
]

_STEP_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
_DRAIN_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

PHASE_TRANSITIONS = Counter(
    "xtrinode_lifecycle_phase_transitions_total",
    "Phase changes the lifecycle wrote to XTrinode statuses, by the phase left and the phase entered.",
    ["from_phase", "to_phase"],
)
STATUS_WRITES = Counter(
    "xtrinode_lifecycle_status_writes_total",
    "XTrinode status writes, by outcome: written, or gone (the object no longer exists).",
    ["outcome"],
)
STEP_SECONDS = Histogram(
    "xtrinode_lifecycle_step_duration_seconds",
    "Workflow time a lifecycle step (child workflow) took, by step and outcome (succeeded or failed).",
    ["step", "outcome"],
    buckets=_STEP_BUCKETS,
)
RESUME_SECONDS = Histogram(
    "xtrinode_lifecycle_resume_duration_seconds",
    "Time from a resume request (update or signal) reaching the runtime workflow until its status says Ready.",
    buckets=_STEP_BUCKETS,
)
RESUMES = Counter(
    "xtrinode_lifecycle_resumes_total",
    "Resume requests the lifecycle answered, by outcome: ready, or failed (the runtime went to Error).",
    ["outcome"],
)
DRAIN_SECONDS = Histogram(
    "xtrinode_lifecycle_drain_duration_seconds",
    "Time spent waiting for running queries to finish before compute stops, by outcome.",
    ["outcome"],
    buckets=_DRAIN_BUCKETS,
)
DRAIN_OUTCOMES = Counter(
    "xtrinode_lifecycle_drains_total",
    "Query drains before compute stops, by outcome: drained, budget_exceeded (maxDrainSeconds ran out) or "
    "unreachable (the coordinator did not answer: nothing to wait for).",
    ["outcome"],
)
QUERIES_KILLED = Counter(
    "xtrinode_lifecycle_queries_killed_total",
    "Queries killed because the drain budget ran out.",
)
AUTOSUSPEND_CHECKS = Counter(
    "xtrinode_lifecycle_autosuspend_checks_total",
    "Autosuspend timer checks, by outcome: idle (suspends), busy (queries running, queued or held), "
    "recent_query (a query ended or started since the last activity) or unreachable.",
    ["outcome"],
)

# Every label value exists from the start, so dashboards and alerts see zeros, not gaps.
for _outcome in ("written", "gone"):
    STATUS_WRITES.labels(_outcome)
for _outcome in ("ready", "failed"):
    RESUMES.labels(_outcome)
for _outcome in ("drained", "budget_exceeded", "unreachable"):
    DRAIN_OUTCOMES.labels(_outcome)
for _outcome in ("idle", "busy", "recent_query", "unreachable"):
    AUTOSUSPEND_CHECKS.labels(_outcome)
