"""What the API server knows and does about runtimes: XTrinode objects (Kubernetes API), the workflow's
live status and steps (Temporal query and visibility), Kubernetes Events, and the resume/suspend
updates, coalesced so that any number of identical calls make one update (LifecycleClient).

A thin client of the workflows: no lifecycle logic here.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from xtrinode.lifecycle import ResumeRequest, RuntimeStatus, SuspendRequest, workflow_id_for
from xtrinode.lifecycle_client import LifecycleClient
from xtrinode.models import API_GROUP, API_VERSION

from .models import EventItem, ResumeBody, RuntimeView, StepView, SuspendBody, WakeView, WorkersView

__all__ = ["ActionFailed", "RuntimeService", "Unavailable"]

log = logging.getLogger("xtrinode.api.runtimes")

_STEP_TYPES = ("ProvisionRuntime", "ResumeRuntime", "SuspendRuntime", "DrainWorkers", "ScaleWorkers", "DeleteRuntime")


class ActionFailed(Exception):
    """The workflow refused or failed the action (409): the message is the workflow's, naming the runtime."""


class Unavailable(Exception):
    """Temporal or the Kubernetes API cannot be reached (503)."""


def _cause(error: BaseException) -> str:
    cause: BaseException = error
    if isinstance(error, WorkflowUpdateFailedError) and error.cause is not None:
        cause = error.cause
    return str(getattr(cause, "message", None) or cause or type(cause).__name__)[:500]


def _status_name(status: WorkflowExecutionStatus | None) -> str:
    return status.name if status is not None else "UNKNOWN"


def _step(execution: WorkflowExecution, now: datetime) -> StepView:
    name = execution.id.rsplit("/", 1)[-1].rsplit("-", 1)[0]
    started, closed = execution.start_time, execution.close_time
    end = closed or now
    return StepView(name=name, workflow_id=execution.id, status=_status_name(execution.status), started_at=started,
                    closed_at=closed, seconds=round((end - started).total_seconds(), 3) if started else None)


class RuntimeService:
    def __init__(self, api: client.ApiClient, temporal: Client, *, status_concurrency: int = 16,
                 namespaces: tuple[str, ...] = (), status_timeout: float = 2.0) -> None:
        self._custom = client.CustomObjectsApi(api)
        self.namespaces = namespaces
        """The runtimes' namespaces; empty = all (one cluster-wide list)."""
        self._core = client.CoreV1Api(api)
        self.temporal = temporal
        self.lifecycle = LifecycleClient(temporal)
        self._semaphore = asyncio.Semaphore(status_concurrency)
        self.status_timeout = status_timeout
        """Longest wait for a workflow's status query (a query sent to a dead worker's sticky queue
        waits for Temporal's sticky timeout, 5 s by default, before another worker answers)."""
        self._flights: dict[tuple[str, str, str, str], asyncio.Task[RuntimeStatus]] = {}
        self.coalesced = 0
        """Calls that joined an action already in flight."""

    # -- Kubernetes ------------------------------------------------------------------------------
    async def _kube(self, call: Callable[[], Any]) -> Any:
        try:
            return await asyncio.to_thread(call)
        except ApiException as e:
            if e.status == 404:
                return None
            raise Unavailable(f"the Kubernetes API answered {e.status} {e.reason}") from e
        except Exception as e:  # urllib3 connection errors and the like
            raise Unavailable(f"the Kubernetes API cannot be reached: {type(e).__name__}") from e

    async def get_object(self, namespace: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._kube(lambda: self._custom.get_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, "xtrinodes", name))
        return found

    async def _list_namespace(self, namespace: str) -> list[dict[str, Any]]:
        listed = await self._kube(lambda: self._custom.list_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, "xtrinodes"))
        return list((listed or {}).get("items") or [])

    async def list_objects(self, namespace: str | None) -> list[dict[str, Any]]:
        if namespace is not None:
            items = [] if self.namespaces and namespace not in self.namespaces else await self._list_namespace(namespace)
        elif self.namespaces:
            items = [o for listed in await asyncio.gather(*(self._list_namespace(ns) for ns in self.namespaces))
                     for o in listed]
        else:
            listed = await self._kube(lambda: self._custom.list_cluster_custom_object(API_GROUP, API_VERSION, "xtrinodes"))
            items = list((listed or {}).get("items") or [])
        return sorted(items, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))

    async def kube_events(self, namespace: str, name: str) -> list[EventItem]:
        listed = await self._kube(lambda: self._core.list_namespaced_event(namespace))
        items: list[EventItem] = []
        for event in getattr(listed, "items", None) or []:
            involved = event.involved_object
            if involved is None or involved.kind != "XTrinode" or involved.name != name:
                continue
            when = event.last_timestamp or event.event_time or event.first_timestamp
            items.append(EventItem(time=when, source="kubernetes", type=event.type or "Normal",
                                   reason=event.reason or "", message=(event.message or "")[:1000]))
        return items

    # -- Temporal --------------------------------------------------------------------------------
    async def live_status(self, namespace: str, name: str) -> RuntimeStatus | None:
        async with self._semaphore:
            try:
                return await asyncio.wait_for(self.lifecycle.status(namespace, name), self.status_timeout)
            except TimeoutError:
                log.info("status query of %s/%s took over %.1fs; shown from the XTrinode status", namespace, name,
                         self.status_timeout)
                return None
            except RPCError as e:
                if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                    return None
                raise Unavailable(f"Temporal answered {e.status.name}: {e.message[:200]}") from e
            except Exception as e:  # a workflow that closed answers the query with an error
                log.debug("status query of %s/%s failed: %s", namespace, name, e)
                return None

    async def _list_steps(self, query: str, limit: int) -> list[WorkflowExecution]:
        found: list[WorkflowExecution] = []
        try:
            async for execution in self.temporal.list_workflows(query, limit=limit):
                found.append(execution)
        except RPCError as e:
            raise Unavailable(f"Temporal visibility answered {e.status.name}: {e.message[:200]}") from e
        return found

    async def running_steps(self) -> dict[str, StepView]:
        """The step running now of every runtime, by its workflow id (one visibility query)."""
        types = ", ".join(f"'{t}'" for t in _STEP_TYPES)
        executions = await self._list_steps(f"ExecutionStatus = 'Running' AND WorkflowType IN ({types})", 1000)
        now = datetime.now(UTC)
        return {e.parent_id: _step(e, now) for e in executions if e.parent_id}

    async def steps(self, namespace: str, name: str, limit: int = 50) -> list[StepView]:
        """The runtime's recent steps, newest first."""
        parent = workflow_id_for(namespace, name).replace("'", "")
        executions = await self._list_steps(f"ParentWorkflowId = '{parent}'", limit)
        now = datetime.now(UTC)
        steps = [_step(e, now) for e in executions]
        return sorted(steps, key=lambda s: s.started_at or now, reverse=True)[:limit]

    # -- views -----------------------------------------------------------------------------------
    async def view(self, obj: dict[str, Any], step: StepView | None | bool = True) -> RuntimeView:
        """The runtime as the API shows it; `step=True` looks the running step up."""
        meta, status = obj.get("metadata") or {}, obj.get("status") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        live = await self.live_status(namespace, name)
        if step is True:
            running = [s for s in await self.steps(namespace, name, 5) if s.status == "RUNNING"]
            step = running[0] if running else None
        workers = status.get("workers") or {}
        wake = status.get("wake") or {}
        view = RuntimeView(
            namespace=namespace, name=name, phase=str(status.get("phase") or "Pending"),
            message=str(status.get("message") or ""), generation=meta.get("generation"),
            observed_generation=status.get("observedGeneration"), coordinator_url=status.get("coordinatorURL"),
            workers=WorkersView(ready=int(workers.get("ready") or 0), desired=int(workers.get("desired") or 0)),
            last_activity=status.get("lastActivity"),
            wake=WakeView(min_workers=int(wake.get("minWorkers") or 0), expires_at=wake.get("expiresAt")),
            step=step if isinstance(step, StepView) else None, conditions=list(status.get("conditions") or []),
            workflow_id=workflow_id_for(namespace, name), live=live is not None,
        )
        if live is not None:
            view = self._merge(view, live)
        return view

    @staticmethod
    def _merge(view: RuntimeView, live: RuntimeStatus) -> RuntimeView:
        return view.model_copy(update={
            "phase": live.phase, "message": live.message or view.message,
            "observed_generation": live.observed_generation if live.observed_generation is not None
            else view.observed_generation,
            "coordinator_url": live.coordinator_url or view.coordinator_url,
            "workers": WorkersView(ready=live.workers_ready, desired=live.workers_desired),
            "last_activity": live.last_activity or view.last_activity,
            "wake": WakeView(min_workers=live.wake_min_workers, expires_at=live.wake_expires_at),
        })

    # -- actions ---------------------------------------------------------------------------------
    def act(self, namespace: str, name: str, action: str, body: ResumeBody | SuspendBody) -> asyncio.Task[RuntimeStatus]:
        """The flight of this action (an update): identical calls share it; it outlives the callers."""
        key = (namespace, name, action, body.model_dump_json())
        flight = self._flights.get(key)
        if flight is not None and not flight.done():
            self.coalesced += 1
            return flight
        flight = asyncio.create_task(self._send(namespace, name, action, body), name=f"api {action} {namespace}/{name}")
        self._flights[key] = flight
        flight.add_done_callback(functools.partial(self._landed, key))
        return flight

    def _landed(self, key: tuple[str, str, str, str], done: asyncio.Task[RuntimeStatus]) -> None:
        if self._flights.get(key) is done:
            del self._flights[key]
        if not done.cancelled():
            done.exception()  # seen: the callers got it, or none waited

    async def _send(self, namespace: str, name: str, action: str, body: ResumeBody | SuspendBody) -> RuntimeStatus:
        try:
            if isinstance(body, ResumeBody):
                return await self.lifecycle.resume(namespace, name, ResumeRequest(
                    reason=body.reason, wake_min_workers=body.wake_min_workers, wake_ttl=body.ttl()))
            return await self.lifecycle.suspend(namespace, name, SuspendRequest(reason=body.reason))
        except WorkflowUpdateFailedError as e:
            raise ActionFailed(_cause(e)) from e
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise ActionFailed(f"runtime {namespace}/{name} has no running lifecycle workflow; check that the "
                                   "operator runs (it starts the workflow)") from e
            raise Unavailable(f"Temporal answered {e.status.name}: {e.message[:200]}") from e

    async def close(self) -> None:
        flights = [f for f in self._flights.values() if not f.done()]
        for flight in flights:
            flight.cancel()
        await asyncio.gather(*flights, return_exceptions=True)

