"""The lifecycle steps, one child workflow each, so the Temporal UI shows a runtime's life step by
step: ProvisionRuntime, ResumeRuntime, SuspendRuntime, DrainWorkers, ScaleWorkers, DeleteRuntime.

Deterministic: they only decide and call activities (activities/); timeouts come from the inputs.
"""

from __future__ import annotations

from datetime import timedelta
from collections.abc import Callable
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.kube import KubernetesActivities
    from activities.payloads import (
        ApplyInput,
        ControlAuth,
        DeleteOwnedInput,
        DrainQueriesInput,
        FinalizerInput,
        KedaPauseInput,
        KillQueriesInput,
        PodsResult,
        RouteUpdate,
        RuntimeRef,
        ScaleInput,
        StopPodsInput,
        WaitPodsGoneInput,
        WaitReadyInput,
    )
    from activities.trino import TrinoActivities
    from workflows.payloads import DrainInput, StepInput, StepResult
    from xtrinode.lifecycle import child_workflow_id
    from xtrinode.models import RouteState, XTrinode

__all__ = [
    "StepInput",
    "StepResult",
    "DrainInput",
    "ProvisionRuntime",
    "ResumeRuntime",
    "SuspendRuntime",
    "DrainWorkers",
    "ScaleWorkers",
    "DeleteRuntime",
    "STEP_WORKFLOWS",
]


async def _api(activity_method: Callable[..., Any], arg: Any, heartbeat: timedelta | None = None) -> Any:
    """A quick API call, retried with backoff until it works (a flaky API server must not fail a step).

    `heartbeat` is for calls that heartbeat as they go (apply): a killed worker is noticed in that
    long instead of the whole start-to-close timeout.
    """
    return await workflow.execute_activity_method(
        activity_method,
        arg,
        # An apply of a whole runtime takes well under a second on a healthy API server; a minute
        # leaves room for an overloaded one (200 runtimes provisioning at once on 2 cores).
        start_to_close_timeout=timedelta(seconds=60),
        heartbeat_timeout=heartbeat,
        retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
    )


async def _wait(activity_method: Callable[..., Any], arg: Any, total_seconds: float) -> Any:
    """An activity that waits: bounded by the input, heartbeating, retried a few times."""
    return await workflow.execute_activity_method(
        activity_method,
        arg,
        start_to_close_timeout=timedelta(seconds=total_seconds + 30),
        # They heartbeat every poll (a fraction of a second); 10 s notices a dead worker quickly
        # and tolerates a busy event loop.
        heartbeat_timeout=timedelta(seconds=10),
        # A waiting activity that crashed mid-wait restarts its wait; three attempts bound the step.
        retry_policy=RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=5)),
    )


def _runtime(inp: StepInput) -> XTrinode:
    return XTrinode.model_validate(inp.runtime)


def _ref(runtime: XTrinode) -> RuntimeRef:
    return RuntimeRef(namespace=runtime.namespace, name=runtime.name, uid=runtime.metadata.uid)


def _auth(runtime: XTrinode) -> ControlAuth:
    control = runtime.spec.trino_control_auth
    if control is None:
        return ControlAuth()
    secret = control.password_secret
    return ControlAuth(username=control.username, password_secret_name=secret.name if secret else None,
                       password_secret_key=secret.key if secret else None)


def _drain_timeout(runtime: XTrinode) -> float:
    """How long worker pods may take to leave: the preStop drain is 2 x grace plus running tasks."""
    grace = runtime.spec.graceful_shutdown
    return 2 * grace.grace_period_seconds + grace.max_drain_seconds + 30


async def _route(inp: StepInput, state: RouteState, backend: str | None = None, message: str | None = None) -> None:
    runtime = _runtime(inp)
    await _api(
        KubernetesActivities.set_route,
        RouteUpdate(ref=_ref(runtime), runtime=inp.runtime, state=state, backend=backend, message=message),
    )


async def _apply_and_wait(inp: StepInput, *, coordinator: int) -> StepResult:
    started = workflow.now()  # the whole step, retries and restarted activities included
    runtime = _runtime(inp)
    applied = await _api(
        KubernetesActivities.apply_runtime,
        ApplyInput(runtime=inp.runtime, catalogs=inp.catalogs, secret_versions=inp.secret_versions,
                   coordinator_replicas=coordinator, worker_replicas=inp.worker_replicas),
        heartbeat=timedelta(seconds=15),  # it heartbeats after every object
    )
    if coordinator == 0:
        return StepResult(coordinator_url=applied.coordinator_url, catalogs=applied.catalogs,
                          message="objects applied; compute stays at zero while suspended")
    ready = await _wait(
        TrinoActivities.wait_coordinator_ready,
        WaitReadyInput(ref=_ref(runtime), coordinator_url=applied.coordinator_url,
                       required_workers=inp.worker_replicas, timeout_seconds=inp.ready_timeout_seconds,
                       poll_seconds=inp.poll_seconds, auth=_auth(runtime)), inp.ready_timeout_seconds)
    return StepResult(coordinator_url=applied.coordinator_url, workers_ready=ready.workers_ready,
                      catalogs=applied.catalogs,
                      message=f"ready in {(workflow.now() - started).total_seconds():.1f}s with "
                              f"{ready.workers_ready} worker(s)")


@workflow.defn(name="ProvisionRuntime")
class ProvisionRuntime:
    """Render, apply (server-side), wait until the coordinator is ready, route RUNNING."""

    @workflow.run
    async def run(self, inp: StepInput) -> StepResult:
        runtime = _runtime(inp)
        if runtime.spec.suspended or inp.keep_suspended:
            result = await _apply_and_wait(inp.model_copy(update={"worker_replicas": 0}), coordinator=0)
            await _route(inp, "PAUSED")
            return result
        if inp.first_provision:
            await _route(inp, "PAUSED")  # the gateway holds queries (and asks to resume) until Ready
        result = await _apply_and_wait(inp, coordinator=1)
        await _route(inp, "RUNNING")
        return result


@workflow.defn(name="ResumeRuntime")
class ResumeRuntime:
    """Bring compute back: apply with replicas, unpause KEDA, wait ready, route RUNNING."""

    @workflow.run
    async def run(self, inp: StepInput) -> StepResult:
        runtime = _runtime(inp)
        # The route is PAUSED since the suspend: the gateway holds queries until RUNNING below.
        result = await _apply_and_wait(inp, coordinator=1)
        if runtime.spec.keda_active:
            await _api(KubernetesActivities.set_keda_paused, KedaPauseInput(ref=_ref(runtime), paused=False))
        await _route(inp, "RUNNING")
        return result


@workflow.defn(name="DrainWorkers")
class DrainWorkers:
    """Scale workers down to `target`; each leaving worker drains through its preStop hook
    (PUT /v1/info/state SHUTTING_DOWN), and the step waits until the pods are gone."""

    @workflow.run
    async def run(self, inp: DrainInput) -> PodsResult:
        await _api(KubernetesActivities.scale_deployment, ScaleInput(ref=inp.ref, role="worker", replicas=inp.target))
        result: PodsResult = await _wait(
            KubernetesActivities.wait_pods_gone,
            WaitPodsGoneInput(ref=inp.ref, role="worker", at_most=inp.target, timeout_seconds=inp.timeout_seconds,
                              poll_seconds=inp.poll_seconds),
            inp.timeout_seconds,
        )
        return result


async def _drain_workers(runtime: XTrinode, target: int, poll: float) -> PodsResult:
    parent = workflow.info().workflow_id
    return await workflow.execute_child_workflow(
        DrainWorkers.run,
        DrainInput(ref=_ref(runtime), target=target, timeout_seconds=_drain_timeout(runtime), poll_seconds=poll),
        id=child_workflow_id(parent, "DrainWorkers", target),
    )


async def _drain_queries(inp: StepInput, coordinator_url: str) -> str:
    runtime = _runtime(inp)
    budget = float(runtime.spec.graceful_shutdown.max_drain_seconds)
    drained = await _wait(TrinoActivities.drain_queries,
        DrainQueriesInput(ref=_ref(runtime), coordinator_url=coordinator_url, max_drain_seconds=budget,
                          poll_seconds=inp.poll_seconds, auth=_auth(runtime)), budget)
    if drained.budget_exceeded:
        return (f"drain budget of {budget:.0f}s (gracefulShutdown.maxDrainSeconds) exceeded with "
                f"{drained.remaining} queries still running; stopped waiting")
    return f"queries drained in {drained.waited_seconds:.1f}s"


_PATCH_BOUNDED_STOP = "bounded-stop"
"""workflow.patched id: suspend and delete stop compute within maxDrainSeconds plus a few seconds: after
the query drain (or at once with no query running) the queries still running are killed with a message
and the pods are deleted with a short grace; before, workers drained through their preStop hook for up
to their termination grace (2 x gracePeriodSeconds + 30 s)."""


async def _drain_or_cut_off(inp: StepInput, coordinator_url: str, doing: str) -> tuple[str, str | None]:
    """Wait for running queries up to maxDrainSeconds; kill those left with a message that names the
    step and the budget. Returns the status message and the message clients were given (None if none)."""
    runtime = _runtime(inp)
    budget = float(runtime.spec.graceful_shutdown.max_drain_seconds)
    drained = await _wait(TrinoActivities.drain_queries,
        DrainQueriesInput(ref=_ref(runtime), coordinator_url=coordinator_url, max_drain_seconds=budget,
                          poll_seconds=inp.poll_seconds, auth=_auth(runtime)), budget)
    if not drained.budget_exceeded:
        return f"queries drained in {drained.waited_seconds:.1f}s", None
    cut_off = (f"XTrinode {runtime.namespace}/{runtime.name} is {doing}: its drain budget of {budget:.0f}s "
               "(spec.gracefulShutdown.maxDrainSeconds) ran out while this query was running")
    await _route(inp, "DRAINING", message=cut_off)  # for the gateway: why a pinned backend went away
    killed: int = await _api(TrinoActivities.kill_queries, KillQueriesInput(
        ref=_ref(runtime), coordinator_url=coordinator_url, message=cut_off, auth=_auth(runtime)))
    return (f"drain budget of {budget:.0f}s (gracefulShutdown.maxDrainSeconds) exceeded with "
            f"{drained.remaining} queries still running; {killed} killed"), cut_off


async def _stop_role(inp: StepInput, role: Literal["coordinator", "worker"]) -> PodsResult:
    """Scale the role to zero and delete its pods with the short stop grace; wait until they are gone."""
    return await _stop_pods(_ref(_runtime(inp)), role, inp.stop_grace_seconds, inp.poll_seconds)


async def _stop_pods(ref: RuntimeRef, role: Literal["coordinator", "worker"], grace: int, poll: float) -> PodsResult:
    timeout = float(grace + 30)
    result: PodsResult = await _wait(
        KubernetesActivities.stop_pods,
        StopPodsInput(ref=ref, role=role, grace_seconds=grace, timeout_seconds=timeout, poll_seconds=poll),
        timeout)
    return result


async def _release(ref: RuntimeRef) -> None:
    """The end of a deletion: no route, no owned objects, no finalizer (Kubernetes then removes the XTrinode)."""
    await _api(KubernetesActivities.set_route, RouteUpdate(ref=ref, runtime=None))
    await _api(KubernetesActivities.delete_owned, DeleteOwnedInput(ref=ref))
    await _api(KubernetesActivities.set_finalizer, FinalizerInput(ref=ref, present=False))


@workflow.defn(name="SuspendRuntime")
class SuspendRuntime:
    """Route DRAINING, wait for queries (bounded by maxDrainSeconds) and kill those left, pause KEDA,
    stop the workers and the coordinator with a short grace, route PAUSED."""

    @workflow.run
    async def run(self, inp: StepInput) -> StepResult:
        if not workflow.patched(_PATCH_BOUNDED_STOP):
            return await self._run_draining_workers(inp)
        started = workflow.now()
        runtime = _runtime(inp)
        url = self._coordinator_url(inp)
        await _route(inp, "DRAINING")
        message, cut_off = await _drain_or_cut_off(inp, url, "suspending")
        if runtime.spec.keda_active:
            await _api(KubernetesActivities.set_keda_paused, KedaPauseInput(ref=_ref(runtime), paused=True))
        # No query runs any more (drained, or killed above): the workers' graceful drain would only sleep
        # through Trino's grace periods, so they and the coordinator stop with a short grace.
        await _stop_role(inp, "worker")
        await _stop_role(inp, "coordinator")
        await _route(inp, "PAUSED", message=cut_off)
        took = (workflow.now() - started).total_seconds()
        return StepResult(coordinator_url=url, workers_ready=0, message=f"{message}; suspended in {took:.1f}s")

    async def _run_draining_workers(self, inp: StepInput) -> StepResult:
        """Before the bounded stop: workers left through DrainWorkers (their preStop drain)."""
        runtime = _runtime(inp)
        ref = _ref(runtime)
        url = self._coordinator_url(inp)
        await _route(inp, "DRAINING")
        message = await _drain_queries(inp, url)
        if runtime.spec.keda_active:
            await _api(KubernetesActivities.set_keda_paused, KedaPauseInput(ref=ref, paused=True))
        await _drain_workers(runtime, 0, inp.poll_seconds)
        await _api(KubernetesActivities.scale_deployment, ScaleInput(ref=ref, role="coordinator", replicas=0))
        await _wait(
            KubernetesActivities.wait_pods_gone,
            WaitPodsGoneInput(ref=ref, role="coordinator", at_most=0, timeout_seconds=60,
                              poll_seconds=inp.poll_seconds),
            60,
        )
        await _route(inp, "PAUSED")
        return StepResult(coordinator_url=url, workers_ready=0, message=message)

    def _coordinator_url(self, inp: StepInput) -> str:
        from xtrinode.render import coordinator_service_url

        return coordinator_service_url(_runtime(inp))


@workflow.defn(name="ScaleWorkers")
class ScaleWorkers:
    """Move the worker count to `worker_replicas`: down through DrainWorkers, up by scaling and
    waiting for the new workers to register."""

    @workflow.run
    async def run(self, inp: StepInput) -> StepResult:
        runtime = _runtime(inp)
        started = workflow.now()
        if inp.worker_replicas < inp.current_workers:
            await _drain_workers(runtime, inp.worker_replicas, inp.poll_seconds)
            took = (workflow.now() - started).total_seconds()
            return StepResult(workers_ready=inp.worker_replicas,
                              message=f"drained to {inp.worker_replicas} worker(s) in {took:.1f}s")
        await _api(KubernetesActivities.scale_deployment,
                   ScaleInput(ref=_ref(runtime), role="worker", replicas=inp.worker_replicas))
        from xtrinode.render import coordinator_service_url

        url = coordinator_service_url(runtime)
        ready = await _wait(
            TrinoActivities.wait_coordinator_ready,
            WaitReadyInput(ref=_ref(runtime), coordinator_url=url, required_workers=inp.worker_replicas,
                           timeout_seconds=inp.ready_timeout_seconds, poll_seconds=inp.poll_seconds,
                           auth=_auth(runtime)), inp.ready_timeout_seconds)
        took = (workflow.now() - started).total_seconds()
        return StepResult(coordinator_url=url, workers_ready=ready.workers_ready,
                          message=f"scaled to {ready.workers_ready} worker(s) in {took:.1f}s")


_PATCH_DELETE_STOPS_PODS = "delete-scales-to-zero-first"
"""workflow.patched id: DeleteRuntime stops the coordinator (and any worker left) and waits for every pod
before it deletes what it owns."""


@workflow.defn(name="DeleteRuntime")
class DeleteRuntime:
    """Drain queries (bounded by maxDrainSeconds, then killed), stop the workers and the coordinator and
    wait until no pod of the runtime is left, remove the route, delete owned objects, release the
    finalizer so Kubernetes removes the XTrinode. Nothing is left to garbage collection that could still
    be running: without a garbage collector (or with a slow one) a Running coordinator stayed behind."""

    @workflow.run
    async def run(self, inp: StepInput) -> StepResult:
        from xtrinode.render import coordinator_service_url

        runtime = _runtime(inp)
        ref = _ref(runtime)
        message = "deleted"
        workers_stopped = inp.current_workers > 0 or not runtime.spec.suspended
        if workers_stopped:
            await _route(inp, "DRAINING")
            if workflow.patched(_PATCH_BOUNDED_STOP):
                # Bounded by maxDrainSeconds: the queries left are killed, the workers stop with a short grace.
                message, _ = await _drain_or_cut_off(inp, coordinator_service_url(runtime), "being deleted")
                await _stop_role(inp, "worker")
            else:
                message = await _drain_queries(inp, coordinator_service_url(runtime))
                await _drain_workers(runtime, 0, inp.poll_seconds)
        if workflow.patched(_PATCH_DELETE_STOPS_PODS):
            if not workers_stopped:  # suspended: normally none left, but nothing may run when the objects go
                await _stop_role(inp, "worker")
            await _stop_role(inp, "coordinator")
        await _release(ref)
        return StepResult(message=message)


async def release_without_spec(ref: RuntimeRef) -> None:
    """The deletion of a runtime whose spec no longer validates (a run started by the deletion, after the
    run that knew the spec was terminated): no drain settings are known, so stop the pods with the short
    grace, then release it as DeleteRuntime does."""
    defaults = StepInput(runtime={})
    for role in ("worker", "coordinator"):
        await _stop_pods(ref, role, defaults.stop_grace_seconds, defaults.poll_seconds)
    await _release(ref)


STEP_WORKFLOWS = (ProvisionRuntime, ResumeRuntime, SuspendRuntime, DrainWorkers, ScaleWorkers, DeleteRuntime)
