"""The operator's Prometheus metrics (default registry, served by `workers/health.py` on `/metrics`).

The phase gauge lives here, not in the lifecycle worker: every operator replica's XTrinode informer sees
every runtime's status and its deletion, so the gauge is whole after a restart, the same on every replica,
and a deleted runtime's series are removed. Labels are namespaces, names, phases and short outcomes.
"""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge

from xtrinode.models import PHASES

__all__ = ["ADMISSION_REVIEWS", "FORWARDS", "RuntimePhases"]

FORWARDS = Counter(
    "xtrinode_operator_forwards_total",
    "Changes forwarded to runtime workflows with signal-with-start, by signal (spec_changed, deleted) and "
    "outcome (sent, failed, invalid: the XTrinode does not validate and is not forwarded).",
    ["signal", "outcome"],
)
ADMISSION_REVIEWS = Counter(
    "xtrinode_operator_admission_reviews_total",
    "AdmissionReviews the webhook answered, by kind and result: allowed, denied (the review refused it), "
    "malformed (not a readable AdmissionReview), wrong_kind, or error (the review failed; refused).",
    ["kind", "result"],
)
for _signal, _outcome in (("spec_changed", "sent"), ("spec_changed", "failed"), ("spec_changed", "invalid"),
                          ("deleted", "sent"), ("deleted", "failed")):
    FORWARDS.labels(_signal, _outcome)

_PHASE = Gauge(
    "xtrinode_runtime_phase",
    "1 for the phase each XTrinode's status shows (one series per runtime and phase; 0 for the others).",
    ["namespace", "name", "phase"],
)


class RuntimePhases:
    """Keeps `xtrinode_runtime_phase` equal to the statuses the informer saw; forgets deleted runtimes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def observe(self, namespace: str, name: str, phase: object) -> None:
        shown = phase if isinstance(phase, str) and phase in PHASES else "Pending"
        with self._lock:
            for each in PHASES:
                _PHASE.labels(namespace, name, each).set(1 if each == shown else 0)

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            _PHASE.remove_by_labels({"namespace": namespace, "name": name})
