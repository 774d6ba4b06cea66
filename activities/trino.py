"""Trino control activities: coordinator readiness, query activity for autosuspend, and waiting for
running queries to drain. Async methods on one object holding an aiohttp session; URLs go through
a resolver (identity in a cluster, the devstack's ServiceResolver on one machine)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.payloads import (
    ControlAuth,
    DrainQueriesInput,
    DrainQueriesResult,
    KillQueriesInput,
    QueryActivity,
    QueryActivityInput,
    ReadyResult,
    RuntimeRef,
    WaitReadyInput,
    autosuspend_outcome,
)
from activities.spans import traced
from xtrinode.trino_protocol import Header, QueryState

__all__ = ["TrinoActivities", "SecretReader", "AvailableReader", "ChangeWaiter"]

SecretReader = Callable[[str, str, str], str | None]
"""(namespace, secret name, key) -> value; called in a thread, never returned from an activity."""
AvailableReader = Callable[[RuntimeRef], int]
"""Available replicas of the coordinator Deployment (blocking; called in a thread)."""
ChangeWaiter = Callable[[RuntimeRef, float], Awaitable[None]]
"""Returns when one of the runtime's Deployments changes, or after the given seconds (a watch)."""
ProblemReader = Callable[[RuntimeRef], Any]
"""What keeps a pod of the runtime from running (`activities.kube.PodProblem`) or None (blocking)."""
_PROBLEM_CHECK_SECONDS = 1.0
"""How often a readiness wait reads pod status for a cause (container waiting reasons, scheduling)."""
WorkerPodsReader = Callable[[RuntimeRef], list[Any]]
"""The runtime's Ready worker pods of the current template (`activities.kube.ReadyPod`: name, seconds Ready;
blocking)."""
PodRestarter = Callable[[RuntimeRef, str, str], None]
"""(runtime, pod name, why): delete the pod so its ReplicaSet makes a new one, and say why (blocking)."""
_UNREGISTERED_CHECK_SECONDS = 5.0
"""How often a readiness wait that misses workers compares the Ready worker pods with the coordinator's nodes."""
_TIMEOUT = aiohttp.ClientTimeout(total=5)
_MAX_POLL_SECONDS = 1.0
"""Readiness polls back off from the step's poll interval to this (x1.5 each round): a wait that a
Deployment change wakes (`ChangeWaiter`) stays as quick, and hundreds of waiting runtimes cost little."""


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _state(query: dict[str, Any]) -> QueryState:
    """A query's state; unknown states count as running (the safe side for drain and idle checks)."""
    try:
        return QueryState(query.get("state", "RUNNING"))
    except ValueError:
        return QueryState.RUNNING


class TrinoActivities:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        resolve: Callable[[str], str] = lambda url: url,
        secret_reader: SecretReader | None = None,
        coordinator_available: AvailableReader | None = None,
        runtime_changed: ChangeWaiter | None = None,
        gateway_url: str | None = None,
        pod_problem: ProblemReader | None = None,
        workers_available: AvailableReader | None = None,
        worker_pods: WorkerPodsReader | None = None,
        restart_pod: PodRestarter | None = None,
    ) -> None:
        self.pod_problem = pod_problem
        self.worker_pods = worker_pods
        self.restart_pod = restart_pod
        self.workers_available = workers_available
        """Available replicas of the worker Deployment: ready workers are those Kubernetes counts too."""
        self.session = session
        self.resolve = resolve
        self.secret_reader = secret_reader
        self.coordinator_available = coordinator_available
        self.runtime_changed = runtime_changed
        self.gateway_url = gateway_url.rstrip("/") if gateway_url else None

    async def _auth(self, ref: RuntimeRef, auth: ControlAuth) -> tuple[dict[str, str], None]:
        """Headers of a control call: X-Trino-User, and the control user's Basic credentials when the
        runtime has a password (aiohttp's BasicAuth helper is deprecated; the header is built here)."""
        headers = {Header.USER: auth.username}
        if auth.password_secret_name and auth.password_secret_key and self.secret_reader is not None:
            password = await asyncio.to_thread(
                self.secret_reader, ref.namespace, auth.password_secret_name, auth.password_secret_key)
            if password is None:
                raise ApplicationError(
                    f"trinoControlAuth.passwordSecret {auth.password_secret_name}/{auth.password_secret_key} "
                    f"not found in namespace {ref.namespace!r}; create the Secret",
                    type="MissingSecret")
            token = base64.b64encode(f"{auth.username}:{password}".encode()).decode()
            return {**headers, "Authorization": f"Basic {token}"}, None
        return headers, None

    async def _get_json(self, url: str, headers: dict[str, str], auth: None = None) -> Any:
        async with self.session.get(self.resolve(url), headers=headers, timeout=_TIMEOUT) as resp:
            if resp.status != 200:
                raise ApplicationError(f"GET {url}: HTTP {resp.status}", type="TrinoHttpError")
            return await resp.json(content_type=None)

    @activity.defn(name="wait_coordinator_ready")
    @traced("trino")
    async def wait_coordinator_ready(self, inp: WaitReadyInput) -> ReadyResult:
        """Deployment available, `/v1/info` not starting, and enough ACTIVE workers registered."""
        base = inp.coordinator_url.rstrip("/")
        headers, auth = await self._auth(inp.ref, inp.auth)
        start = time.monotonic()
        observed = "nothing yet"
        delay = inp.poll_seconds
        checked = 0.0
        compared = 0.0
        restarted: set[str] = set()
        while True:
            waited = time.monotonic() - start
            workers = 0
            try:
                available = (await asyncio.to_thread(self.coordinator_available, inp.ref)
                             if self.coordinator_available is not None else 1)
                if available < 1:
                    observed = "coordinator Deployment has no available replica"
                else:
                    info = await self._get_json(f"{base}/v1/info", headers, auth)
                    if info.get("starting", True):
                        observed = "coordinator /v1/info says starting"
                    else:
                        if inp.required_workers > 0:
                            # The scheduler's own view, system.runtime.nodes: the query waits in the
                            # coordinator for its first active worker and runs the moment the node manager
                            # counts one (/v1/node lists what the failure detector heard of, on its own 5 s
                            # refresh; waiting for both cost up to 5 s of a resume).
                            workers = len(await self._registered_workers(base, headers, within=15.0) or ())
                        else:
                            nodes = await self._get_json(f"{base}/v1/node", headers, auth)
                            workers = sum(1 for n in nodes
                                          if not n.get("coordinator") and n.get("state", "ACTIVE") == "ACTIVE")
                        if (workers < inp.required_workers and self.worker_pods is not None
                                and self.restart_pod is not None and waited >= compared + _UNREGISTERED_CHECK_SECONDS):
                            compared = waited
                            await self._restart_unregistered(inp, base, headers, restarted)
                        if workers >= inp.required_workers:
                            if self.workers_available is not None:
                                # A worker that is leaving may still be registered: count what both say.
                                available = await asyncio.to_thread(self.workers_available, inp.ref)
                                workers = min(workers, max(available, inp.required_workers))
                            return ReadyResult(workers_ready=workers, waited_seconds=waited)
                        observed = f"{workers} of {inp.required_workers} workers registered"
            except (aiohttp.ClientError, TimeoutError, ApplicationError, ValueError) as e:
                observed = f"coordinator not answering: {type(e).__name__}: {str(e)[:120]}"
            if self.pod_problem is not None and waited >= checked + _PROBLEM_CHECK_SECONDS:
                checked = waited
                problem = await asyncio.to_thread(self.pod_problem, inp.ref)
                if problem is not None:
                    observed = f"{observed}; {problem.describe()}"
                    if problem.permanent or problem.reason in ("CrashLoopBackOff",):
                        # Fail fast: a missing Secret or ConfigMap waits for a change (the operator
                        # forwards it when it comes), a crash loop retries with backoff.
                        raise ApplicationError(
                            f"{inp.ref.namespace}/{inp.ref.name} cannot start: {problem.describe()}",
                            type="PodConfigError" if problem.permanent else "PodCrashLoop",
                            non_retryable=problem.permanent)
            activity.heartbeat(observed)
            if waited >= inp.timeout_seconds:
                raise ApplicationError(
                    f"{inp.ref.namespace}/{inp.ref.name} not ready after {waited:.0f}s: {observed}",
                    type="NotReady")
            if self.runtime_changed is not None:
                await self.runtime_changed(inp.ref, delay)
            else:
                await asyncio.sleep(delay)
            delay = min(delay * 1.5, max(inp.poll_seconds, _MAX_POLL_SECONDS))

    async def _restart_unregistered(self, inp: WaitReadyInput, base: str, headers: dict[str, str],
                                    restarted: set[str]) -> None:
        """Restart each worker pod that has been Ready for `unregistered_restart_seconds` while its coordinator
        does not list it (node.id is the pod name). A real Trino 476 worker whose first announcement fails
        at the moment it starts sometimes never announces again: Ready for Kubernetes, unknown to the
        coordinator, forever; a new pod announces afresh."""
        assert self.worker_pods is not None and self.restart_pod is not None
        pods = await asyncio.to_thread(self.worker_pods, inp.ref)
        overdue = [pod for pod in pods if pod.ready_seconds >= inp.unregistered_restart_seconds
                   and pod.name not in restarted]
        if not overdue:
            return
        registered = await self._registered_workers(base, headers)
        if registered is None:
            # The query waited for required workers, so the coordinator has none active.
            registered = set()
        for pod in overdue:
            if pod.name in registered:
                continue
            why = (f"worker pod {pod.name} has been Ready {pod.ready_seconds:.0f}s but its coordinator does not "
                   f"list it (registered: {len(registered)} of {inp.required_workers}); restarting it")
            activity.logger.warning(why)
            restarted.add(pod.name)
            await asyncio.to_thread(self.restart_pod, inp.ref, pod.name, why)

    async def _registered_workers(self, base: str, headers: dict[str, str], within: float = 5.0) -> set[str] | None:
        """Node ids of the active workers in `system.runtime.nodes`, through the statement protocol (None when
        the query does not finish `within` seconds, e.g. it waits for required workers; it is then cancelled).

        A query that waits for required workers runs the moment real Trino counts one active (its failure
        detector's warm-up ends a few seconds after /v1/node lists the workers): waiting for it is the
        quickest way to see them."""
        sql = "SELECT node_id FROM system.runtime.nodes WHERE coordinator = false AND state = 'active'"
        post_headers = {**headers, Header.SOURCE: "xtrinode-lifecycle"}
        async with self.session.post(self.resolve(f"{base}/v1/statement"), data=sql, headers=post_headers,
                                     timeout=_TIMEOUT) as resp:
            if resp.status != 200:
                raise ApplicationError(f"POST {base}/v1/statement: HTTP {resp.status}", type="TrinoHttpError")
            page = await resp.json(content_type=None)
        rows: list[list[Any]] = []
        deadline = time.monotonic() + within
        while True:
            rows.extend(page.get("data") or [])
            next_uri = page.get("nextUri")
            if not next_uri:
                break
            if time.monotonic() > deadline:
                async with self.session.delete(self.resolve(str(next_uri)), headers=headers, timeout=_TIMEOUT):
                    pass
                return None
            activity.heartbeat("waiting for the coordinator to list its active workers")
            page = await self._get_json(str(next_uri), headers)
        if page.get("error"):
            message = str((page["error"] or {}).get("message", "?"))[:200]
            raise ApplicationError(f"the coordinator could not list its nodes: {message}", type="TrinoQueryError")
        return {str(row[0]) for row in rows if row}

    async def _queries(self, ref: RuntimeRef, coordinator_url: str, auth: ControlAuth) -> list[dict[str, Any]]:
        headers, basic = await self._auth(ref, auth)
        result = await self._get_json(f"{coordinator_url.rstrip('/')}/v1/query", headers, basic)
        return list(result) if isinstance(result, list) else []

    async def _held(self, ref: RuntimeRef) -> int:
        if self.gateway_url is None:
            return 0
        url = f"{self.gateway_url}/v1/xtrinode/demand/{ref.namespace}/{ref.name}"
        try:
            async with self.session.get(url, timeout=_TIMEOUT) as resp:
                if resp.status != 200:
                    return 0
                body = await resp.json(content_type=None)
                return int(body.get("held", 0))
        except (aiohttp.ClientError, TimeoutError, ValueError):
            activity.logger.warning("gateway demand endpoint unreachable; counting no held queries")
            return 0

    @activity.defn(name="query_activity")
    @traced("trino")
    async def query_activity(self, inp: QueryActivityInput) -> QueryActivity:
        """Running and queued queries, the newest query time, and statements the gateway holds."""
        held = await self._held(inp.ref)
        try:
            queries = await self._queries(inp.ref, inp.coordinator_url, inp.auth)
        except (aiohttp.ClientError, TimeoutError, ApplicationError) as e:
            activity.logger.warning("coordinator unreachable for the idle check: %s", type(e).__name__)
            seen = QueryActivity(held_by_gateway=held, reachable=False)
            metrics.AUTOSUSPEND_CHECKS.labels(autosuspend_outcome(seen, inp.last_activity)).inc()
            return seen
        running = queued = 0
        newest: datetime | None = None
        for query in queries:
            state = _state(query)
            if state.queued:
                queued += 1
            elif not state.done:
                running += 1
            stats = query.get("queryStats") or {}
            for stamp in (_parse_time(stats.get("createTime")), _parse_time(stats.get("endTime"))):
                if stamp is not None and (newest is None or stamp > newest):
                    newest = stamp
        seen = QueryActivity(running=running, queued=queued, held_by_gateway=held, newest_query_at=newest)
        metrics.AUTOSUSPEND_CHECKS.labels(autosuspend_outcome(seen, inp.last_activity)).inc()
        return seen

    @activity.defn(name="drain_queries")
    @traced("trino")
    async def drain_queries(self, inp: DrainQueriesInput) -> DrainQueriesResult:
        """Wait for running and queued queries to finish, at most `max_drain_seconds`."""
        start = time.monotonic()
        while True:
            waited = time.monotonic() - start
            outcome = "drained"
            try:
                queries = await self._queries(inp.ref, inp.coordinator_url, inp.auth)
                remaining = sum(1 for q in queries if not _state(q).done)
            except (aiohttp.ClientError, TimeoutError, ApplicationError):
                remaining, outcome = 0, "unreachable"  # nothing answers: nothing to wait for
            if remaining == 0:
                _drained(outcome, waited)
                return DrainQueriesResult(remaining=0, waited_seconds=waited, budget_exceeded=False)
            activity.heartbeat(
                f"waiting for {remaining} running queries to finish, {waited:.0f} s of "
                f"{inp.max_drain_seconds:.0f} s drain budget used")
            if waited >= inp.max_drain_seconds:
                _drained("budget_exceeded", waited)
                return DrainQueriesResult(remaining=remaining, waited_seconds=waited, budget_exceeded=True)
            await asyncio.sleep(inp.poll_seconds)

    @activity.defn(name="kill_queries")
    @traced("trino")
    async def kill_queries(self, inp: KillQueriesInput) -> int:
        """Fail every query still running with `message` (clients get a Trino error naming it); the
        number killed. A coordinator that does not answer has nothing left to kill."""
        base = inp.coordinator_url.rstrip("/")
        try:
            queries = await self._queries(inp.ref, base, inp.auth)
        except (aiohttp.ClientError, TimeoutError, ApplicationError):
            return 0
        headers, basic = await self._auth(inp.ref, inp.auth)
        killed = 0
        for query in queries:
            query_id = query.get("queryId")
            if not isinstance(query_id, str) or _state(query).done:
                continue
            url = self.resolve(f"{base}/v1/query/{query_id}/killed")
            try:
                async with self.session.put(url, data=inp.message.encode(), auth=basic, timeout=_TIMEOUT,
                                            headers={**headers, "Content-Type": "text/plain"}) as resp:
                    if resp.status in (200, 202, 204):
                        killed += 1
                        metrics.QUERIES_KILLED.inc()
                    elif resp.status not in (409, 410):  # 409/410: it ended meanwhile
                        activity.logger.warning("kill of query %s answered HTTP %s", query_id, resp.status)
            except (aiohttp.ClientError, TimeoutError) as e:
                activity.logger.warning("kill of query %s failed: %s", query_id, type(e).__name__)
        return killed


def _drained(outcome: str, waited: float) -> None:
    metrics.DRAIN_OUTCOMES.labels(outcome).inc()
    metrics.DRAIN_SECONDS.labels(outcome).observe(waited)
