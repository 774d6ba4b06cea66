"""`DeploymentWatch`: the lifecycle worker's one watch of the Deployments XTrinode manages.

Readiness waits used to read the coordinator Deployment from the API every 0.1 s per runtime; with
hundreds of runtimes provisioning at once, those reads (and the client's model deserialization) were
most of the worker's CPU. The watch keeps available-replica counts in memory and wakes a runtime's
waiters when one of its Deployments changes, so a wait costs nothing until something happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from kubernetes import client

from workers.informer import LISTED, Event, Informer
from xtrinode.render.metadata import LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY

__all__ = ["DeploymentWatch"]

log = logging.getLogger("xtrinode.worker.deployments")


class DeploymentWatch:
    """`available(ns, name)` is the watched availableReplicas (None before the first list, or for a
    Deployment the watch has not seen: callers then ask the API); `changed(ns, runtime, timeout)` returns
    when a Deployment of that runtime changes, or after `timeout` seconds."""

    def __init__(self, api: client.ApiClient, *, resync_seconds: float = 300, watch_timeout: int = 30,
                 namespaces: tuple[str, ...] = ()) -> None:
        self._apps = client.AppsV1Api(api)
        self._resync = resync_seconds
        self._watch_timeout = watch_timeout
        self._namespaces = namespaces
        """Watched namespaces; empty means all (one cluster-wide watch)."""
        self._available: dict[tuple[str, str], int] = {}
        self._waiters: dict[tuple[str, str], asyncio.Event] = {}
        self._informers: list[Informer] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Event]] = asyncio.Queue()
        selector = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
        if self._namespaces:  # least privilege: a worker limited to some namespaces may not list the others
            list_fns = [functools.partial(self._apps.list_namespaced_deployment, ns, label_selector=selector)
                        for ns in self._namespaces]
        else:
            list_fns = [functools.partial(self._apps.list_deployment_for_all_namespaces, label_selector=selector)]
        self._informers = [Informer("deployments", fn, queue, loop, resync_seconds=self._resync,
                                    watch_timeout=self._watch_timeout) for fn in list_fns]
        for informer in self._informers:
            informer.start()
        self._task = asyncio.create_task(self._consume(queue), name="worker-deployment-watch")

    async def stop(self) -> None:
        if self._informers:
            await asyncio.gather(*(asyncio.to_thread(i.stop) for i in self._informers))
            self._informers = []
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def synced(self) -> bool:
        return bool(self._informers) and all(i.synced.is_set() for i in self._informers)

    def available(self, namespace: str, name: str) -> int | None:
        if not self.synced:
            return None
        return self._available.get((namespace, name))

    async def changed(self, namespace: str, runtime: str, timeout: float) -> None:
        key = (namespace, runtime)
        event = self._waiters.get(key)
        if event is None:
            event = self._waiters[key] = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            pass

    async def _consume(self, queue: asyncio.Queue[tuple[str, Event]]) -> None:
        while True:
            _, (kind, obj) = await queue.get()
            self._apply(kind, obj)

    def _apply(self, kind: str, obj: dict[str, Any]) -> None:
        if kind == LISTED:
            return
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        if kind == "DELETED":
            self._available.pop((namespace, name), None)
        else:
            self._available[(namespace, name)] = int((obj.get("status") or {}).get("availableReplicas") or 0)
        runtime = (meta.get("labels") or {}).get(LABEL_INSTANCE)
        if runtime:
            event = self._waiters.pop((namespace, str(runtime)), None)
            if event is not None:
                event.set()
