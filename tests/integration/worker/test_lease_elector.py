"""The operator's Lease election on both backends: a replica takes a free Lease, renews it, keeps the
others out, and writes MicroTimes the real API server accepts even on a whole second (the typed client
would send `...:05+00:00`, which kube-apiserver refuses)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from kubernetes import client

from workers.lease import LeaseElector


def test_lease_is_taken_renewed_and_held_even_on_whole_seconds(
    api_client: client.ApiClient, namespace: str,
) -> None:
    coordination = client.CoordinationV1Api(api_client)
    ticks = iter(datetime(2030, 1, 1, 0, 0, s, tzinfo=UTC) for s in range(0, 60))
    first = LeaseElector(coordination, namespace, "leader", "one", timedelta(seconds=15), clock=lambda: next(ticks))
    other = LeaseElector(coordination, namespace, "leader", "two", timedelta(seconds=15),
                         clock=lambda: datetime(2030, 1, 1, 0, 0, 10, tzinfo=UTC))
    first._try()
    assert first.is_leader
    first._try()  # a renewal, also on a whole second
    assert first.is_leader
    raw = json.loads(coordination.read_namespaced_lease("leader", namespace, _preload_content=False).data)
    assert raw["spec"]["renewTime"] == "2030-01-01T00:00:01.000000Z"
    assert raw["spec"]["holderIdentity"] == "one" and raw["spec"]["leaseTransitions"] == 0
    other._try()
    assert not other.is_leader, "a held, unexpired Lease keeps the other replica out"
    first._release()
    other._try()
    assert other.is_leader, "a released Lease is free"
