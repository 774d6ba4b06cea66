"""Leader election on a coordination.k8s.io/v1 Lease: one operator replica forwards at a time.

Acquire when the Lease is free or expired, renew every third of its duration, and step down when
a renewal fails. A 409 on create or replace means another replica won.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from kubernetes import client
from kubernetes.client.exceptions import ApiException

__all__ = ["LeaseElector"]

log = logging.getLogger("xtrinode.lease")


def _micro(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseElector:
    def __init__(self, api: client.CoordinationV1Api, namespace: str, name: str, identity: str,
                 duration: timedelta, on_gain: Callable[[], None] | None = None) -> None:
        self.api, self.namespace, self.name, self.identity, self.duration = api, namespace, name, identity, duration
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

    def _try(self) -> None:
        now = datetime.now(UTC)
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.duration.total_seconds()),
                "renewTime": _micro(now)}
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as e:
            if e.status != 404:
                self._lose(f"reading the lease failed: HTTP {e.status}")
                return
            body = {"metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": {**spec, "acquireTime": _micro(now), "leaseTransitions": 0}}
            try:
                self.api.create_namespaced_lease(self.namespace, body)  # type: ignore[arg-type]
                self._win()
            except ApiException as e2:
                self._lose(f"creating the lease failed: HTTP {e2.status}")
            return
        held = lease.spec.holder_identity if lease.spec else None
        renewed = lease.spec.renew_time if lease.spec else None
        expired = renewed is None or (now - renewed) > self.duration
        if held not in (None, "", self.identity) and not expired:
            self._lose(f"held by {held}")
            return
        transitions = (lease.spec.lease_transitions or 0) if lease.spec else 0
        body = {"metadata": {"name": self.name, "namespace": self.namespace,
                             "resourceVersion": lease.metadata.resource_version if lease.metadata else None},
                "spec": {**spec,
                         "acquireTime": _micro(now) if held != self.identity else
                         _micro(lease.spec.acquire_time or now) if lease.spec else _micro(now),
                         "leaseTransitions": transitions + (0 if held == self.identity else 1)}}
        try:
            self.api.replace_namespaced_lease(self.name, self.namespace, body)  # type: ignore[arg-type]
            self._win()
        except ApiException as e:
            self._lose(f"renewing the lease failed: HTTP {e.status}")

    def _release(self) -> None:
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
            if lease.spec and lease.spec.holder_identity == self.identity:
                lease.spec.holder_identity = None
                self.api.replace_namespaced_lease(self.name, self.namespace, lease)
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
