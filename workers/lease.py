"""Leader election on a coordination.k8s.io/v1 Lease: one operator replica forwards at a time.

Acquire when the Lease is free or expired, renew every third of its duration, and step down when
a renewal fails. A 409 on create or replace means another replica won. The Lease is read and written
as raw JSON: the typed client re-serializes times and drops a zero fraction of a second, which
kube-apiserver refuses as no MicroTime (one renewal in a million would fail).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

__all__ = ["LeaseElector"]

log = logging.getLogger("xtrinode.lease")


_GROUP, _VERSION, _PLURAL = "coordination.k8s.io", "v1", "leases"


def _micro(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_micro(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class LeaseElector:
    def __init__(self, api: client.CoordinationV1Api, namespace: str, name: str, identity: str,
                 duration: timedelta, on_gain: Callable[[], None] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.api, self.namespace, self.name, self.identity, self.duration = api, namespace, name, identity, duration
        self.leases = client.CustomObjectsApi(api.api_client)
        self.clock = clock
        self.is_leader = False
        self.on_gain = on_gain
        """Called (from the elector's thread) each time this identity becomes the holder."""
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self._try)
        self._task = asyncio.create_task(self._loop(), name="lease-elector")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.is_leader:
            await asyncio.to_thread(self._release)
        self.is_leader = False

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.duration.total_seconds() / 3)
            await asyncio.to_thread(self._try)

    def _read(self) -> dict[str, Any]:
        lease = self.leases.get_namespaced_custom_object(_GROUP, _VERSION, self.namespace, _PLURAL, self.name)
        assert isinstance(lease, dict)
        return lease

    def _try(self) -> None:
        now = self.clock()
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.duration.total_seconds()),
                "renewTime": _micro(now)}
        try:
            lease = self._read()
        except ApiException as e:
            if e.status != 404:
                self._lose(f"reading the lease failed: HTTP {e.status}")
                return
            body = {"apiVersion": f"{_GROUP}/{_VERSION}", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": {**spec, "acquireTime": _micro(now), "leaseTransitions": 0}}
            try:
                self.leases.create_namespaced_custom_object(_GROUP, _VERSION, self.namespace, _PLURAL, body)
                self._win()
            except ApiException as e2:
                self._lose(f"creating the lease failed: HTTP {e2.status}")
            return
        current = lease.get("spec") or {}
        held = current.get("holderIdentity")
        renewed = _parse_micro(current.get("renewTime"))
        expired = renewed is None or (now - renewed) > self.duration
        if held not in (None, "", self.identity) and not expired:
            self._lose(f"held by {held}")
            return
        transitions = int(current.get("leaseTransitions") or 0)
        acquired = current.get("acquireTime") if held == self.identity and current.get("acquireTime") else _micro(now)
        body = {"apiVersion": f"{_GROUP}/{_VERSION}", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace,
                             "resourceVersion": (lease.get("metadata") or {}).get("resourceVersion")},
                "spec": {**spec, "acquireTime": acquired,
                         "leaseTransitions": transitions + (0 if held == self.identity else 1)}}
        try:
            self.leases.replace_namespaced_custom_object(_GROUP, _VERSION, self.namespace, _PLURAL, self.name, body)
            self._win()
        except ApiException as e:
            self._lose(f"renewing the lease failed: HTTP {e.status}")

    def _release(self) -> None:
        try:
            lease = self._read()
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") == self.identity:
                spec.pop("holderIdentity", None)
                self.leases.replace_namespaced_custom_object(_GROUP, _VERSION, self.namespace, _PLURAL, self.name,
                                                             lease)
        except ApiException:
            pass

    def _win(self) -> None:
        gained = not self.is_leader
        if gained:
            log.info("became the active operator (lease %s/%s)", self.namespace, self.name)
        self.is_leader = True
        if gained and self.on_gain is not None:
            self.on_gain()

    def _lose(self, why: str) -> None:
        if self.is_leader:
            log.warning("stopped being the active operator: %s", why)
        self.is_leader = False
