"""The metrics each XTrinode process must serve on `/metrics` (SPEC section 4 for the gateway, issue 18 for
the lifecycle worker and the operator, the API server's own), with their types and label names, and a
parser that checks a scraped page against them. Tests of each process scrape it and call `check`; the
Grafana dashboard test compares its PromQL with the same names.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

Family = tuple[str, frozenset[str]]
"""(type, label names)."""


def _f(kind: str, *labels: str) -> Family:
    return kind, frozenset(labels)


GATEWAY: dict[str, Family] = {
    # SPEC section 4, in its order.
    "xtrinode_gateway_inflight_queries": _f("gauge", "namespace", "xtrinode", "routing_group", "state"),
    "xtrinode_gateway_requests": _f("counter", "route", "kind", "status"),
    "xtrinode_gateway_request_duration_seconds": _f("histogram", "kind"),
    "xtrinode_gateway_upstream_duration_seconds": _f("histogram", "kind"),
    "xtrinode_gateway_resume_requests": _f("counter", "namespace", "xtrinode", "outcome"),
    "xtrinode_gateway_resume_duration_seconds": _f("histogram", "outcome"),
    "xtrinode_gateway_held_statements": _f("counter", "namespace", "xtrinode", "outcome"),
    "xtrinode_gateway_rate_limited": _f("counter", "scope"),
    "xtrinode_gateway_auth_failed": _f("counter", "reason"),
    "xtrinode_gateway_backend_healthy": _f("gauge", "backend"),
    "xtrinode_gateway_backend_breaker_open": _f("gauge", "backend"),
    "xtrinode_gateway_redis_fallbacks": _f("counter", "operation"),
    # Beyond SPEC.
    "xtrinode_gateway_route_table_errors": _f("counter", "reason"),
    "xtrinode_gateway_route_table_routes": _f("gauge"),
    "xtrinode_gateway_sticky_hits": _f("counter", "source"),
    "xtrinode_gateway_sticky_misses": _f("counter", "reason"),
}

API_SERVER: dict[str, Family] = {
    "xtrinode_api_requests": _f("counter", "route", "method", "status"),
    "xtrinode_api_request_duration_seconds": _f("histogram", "route"),
    "xtrinode_api_actions": _f("counter", "action", "outcome"),
    "xtrinode_api_coalesced": _f("counter", "action"),
}

INFORMER: dict[str, Family] = {
    "xtrinode_informer_lists": _f("counter", "informer"),
    "xtrinode_informer_watch_errors": _f("counter", "informer", "reason"),
}

LIFECYCLE_WORKER: dict[str, Family] = {
    # Issue 18: transitions, step durations by step, drain durations and outcomes, autosuspend checks,
    # resume latency (the phase per runtime is the operator's, below).
    "xtrinode_lifecycle_phase_transitions": _f("counter", "from_phase", "to_phase"),
    "xtrinode_lifecycle_status_writes": _f("counter", "outcome"),
    "xtrinode_lifecycle_step_duration_seconds": _f("histogram", "step", "outcome"),
    "xtrinode_lifecycle_drain_duration_seconds": _f("histogram", "outcome"),
    "xtrinode_lifecycle_drains": _f("counter", "outcome"),
    "xtrinode_lifecycle_queries_killed": _f("counter"),
    "xtrinode_lifecycle_autosuspend_checks": _f("counter", "outcome"),
    "xtrinode_lifecycle_resume_duration_seconds": _f("histogram"),
    "xtrinode_lifecycle_resumes": _f("counter", "outcome"),
    **INFORMER,
}

OPERATOR: dict[str, Family] = {
    "xtrinode_runtime_phase": _f("gauge", "namespace", "name", "phase"),
    "xtrinode_operator_forwards": _f("counter", "signal", "outcome"),
    "xtrinode_operator_admission_reviews": _f("counter", "kind", "result"),
    **INFORMER,
}

TEMPORAL_SDK_EXAMPLES = {
    "worker": ("temporal_request", "temporal_request_latency", "temporal_num_pollers",
               "temporal_worker_task_slots_available"),
    "operator": ("temporal_request", "temporal_request_latency"),
}
"""Temporal core metrics each process reports once connected (the SDK's own metrics, through the buffer)."""

PROCESSES: dict[str, dict[str, Family]] = {
    "gateway": GATEWAY, "api-server": API_SERVER, "lifecycle-worker": LIFECYCLE_WORKER, "operator": OPERATOR,
}


@dataclass
class Scraped:
    """A parsed `/metrics` page: family name -> (type, samples as (name, labels, value))."""

    families: dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]

    @classmethod
    def parse(cls, text: str) -> Scraped:
        families = {}
        for family in text_string_to_metric_families(text):
            families[family.name] = (family.type, [(s.name, dict(s.labels), s.value) for s in family.samples])
        return cls(families)

    def value(self, sample: str, **labels: str) -> float:
        """Sum of the samples named `sample` whose labels include `labels` (0 when none)."""
        return sum(v for fam in self.families.values() for name, have, v in fam[1]
                   if name == sample and all(have.get(k) == want for k, want in labels.items()))

    def problems(self, expected: dict[str, Family]) -> list[str]:
        """What is missing or wrongly typed or labelled (samples' label names must be exactly the family's)."""
        found = []
        for name, (kind, labels) in expected.items():
            if name not in self.families:
                found.append(f"{name} ({kind}) is not served")
                continue
            served_kind, samples = self.families[name]
            if served_kind != kind:
                found.append(f"{name} is a {served_kind}, expected a {kind}")
            for sample, have, _ in samples:
                names = set(have) - {"le"}
                if sample.endswith("_created"):
                    continue
                if names != labels:
                    found.append(f"{sample} has labels {sorted(names)}, expected {sorted(labels)}")
                    break
        return found
