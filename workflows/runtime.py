"""`RuntimeWorkflow`: one durable entity workflow per XTrinode, id `xtrinode/<namespace>/<name>`.

It keeps the desired spec and the observed phase, runs one lifecycle step at a time as a child
workflow, owns the autosuspend timer and the wake window, answers `resume`/`suspend` updates and
the `status` query, and continues as new before its history grows large.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, ChildWorkflowError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.kube import KubernetesActivities
    from activities.payloads import (
        EventInput,
        QueryActivityInput,
        ResumeTiming,
        RuntimeRef,
        StatusPatch,
        StepTiming,
        autosuspend_outcome,
    )
    from activities.trino import TrinoActivities
    from workflows.state import (
        Action,
        RuntimeState,
        autosuspend_due_at,
        conditions_for,
        next_action,
        running_workers,
        target_workers,
        wants_suspended,
    )
    from workflows.steps import (
        DeleteRuntime,
        ProvisionRuntime,
        ResumeRuntime,
        ScaleWorkers,
        StepInput,
        StepResult,
        SuspendRuntime,
        release_without_spec,
    )
    from xtrinode.lifecycle import (
        QUERY_STATUS,
        RUNTIME_WORKFLOW,
        SIGNAL_DELETED,
        SIGNAL_REQUEST_RESUME,
        SIGNAL_REQUEST_SUSPEND,
        SIGNAL_SPEC_CHANGED,
        UPDATE_RESUME,
        UPDATE_SUSPEND,
        DeleteRequest,
        ResumeRequest,
        RuntimeStatus,
        SpecChange,
        SuspendRequest,
        child_workflow_id,
    )
    from xtrinode.models import Phase
    from xtrinode.render import coordinator_service_url
    from xtrinode.temporal import NAME_ATTR, NAMESPACE_ATTR, PHASE_ATTR
    from xtrinode.temporal_tracing import attached_trace, trace_carrier

__all__ = ["RuntimeWorkflow"]

_STEP_PHASE: dict[Action, Phase] = {
    Action.PROVISION: "Provisioning",
    Action.RESUME: "Resuming",
    Action.SUSPEND: "Suspending",
    Action.DELETE: "Deleting",
}
_QUICK = timedelta(seconds=30)
_PATCH_EVENTS_IN_BACKGROUND = "events-in-background"
"""workflow.patched id: Events are written while the lifecycle goes on (before: awaited one by one)."""
_PATCH_PROVISION_KEEPS_SUSPENDED = "provision-keeps-suspended"
"""workflow.patched id: a spec change on a runtime suspended by request is provisioned with compute at
zero and leaves it Suspended (before: a full provision ran, recorded Ready, then a suspend followed,
undoing a resume accepted meanwhile)."""
_PATCH_SCALE_DOWN_FIRST = "scale-down-before-provision"
"""workflow.patched id: a spec change that lowers the worker count of a Ready runtime drains the workers
first (ScaleWorkers), then provisions the rest (before: one ProvisionRuntime scaled them down without
draining and recorded the workers still leaving as ready)."""
_PATCH_PROVISION_ANSWERS_RESUME = "provision-answers-resume"
"""workflow.patched id: a resume accepted while a provision of a suspended-by-request runtime wrote its
first status (so the provision ran with compute up) clears the manual suspend (before: the runtime went
Ready, the resume answered Ready, and a suspend followed at once)."""
_PATCH_RECORD_STEP_SPEC = "record-what-the-step-applied"
"""workflow.patched id: a provision's outcome is recorded from the spec it applied (before: from the spec
current when it ended, so a provision of a suspended spec that ended after `suspended: false` arrived
recorded Ready with no compute, and one that ended after `suspended: true` recorded Suspended with its
pods still running)."""
_RETRY_BACKOFF_MAX = timedelta(seconds=60)


def _fingerprint(change: SpecChange) -> str:
    """What a provision depends on: the spec, the selected catalogs' specs and the Secret versions."""
    import hashlib
    import json

    body = [change.runtime.get("spec"), [(c.get("metadata", {}).get("name"), c.get("spec")) for c in change.catalogs],
            change.secret_versions]
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@workflow.defn(name=RUNTIME_WORKFLOW)
class RuntimeWorkflow:
    @workflow.init
    def __init__(self, state: RuntimeState) -> None:
        self.state = state
        self._dirty = False
        self._failures = 0
        self._published: Phase = state.phase
        """The phase the XTrinode status shows; updates answer only once the cluster says so too."""
        self._published_status: RuntimeStatus = state.status()
        """The status as last written to the XTrinode (what a resume answers once it is Ready)."""
        self._events: set[asyncio.Future[None]] = set()
        """Event activities still running (written in the background)."""
        self._resume_asked_at: datetime | None = None
        """Workflow time of the first resume request not yet answered (the resume latency metric)."""
        self._resume_trace: dict[str, str] = {}
        """The trace context of the `resume` update that asked for the next resume step (its step, child
        workflow and activities join the caller's trace: xtrinode/temporal_tracing.py)."""

    # -- messages ----------------------------------------------------------------------------
    @workflow.signal(name=SIGNAL_SPEC_CHANGED)
    def spec_changed(self, change: SpecChange) -> None:
        if self.state.generation is not None and change.generation < self.state.generation:
            return  # a late duplicate from another operator replica
        fingerprint = _fingerprint(change)
        if fingerprint != self.state.fingerprint:
            self.state.fingerprint = fingerprint
            self.state.revision += 1
        self.state.runtime = change.runtime
        self.state.catalogs = change.catalogs
        self.state.secret_versions = change.secret_versions
        self.state.generation = change.generation
        self.state.uid = (change.runtime.get("metadata") or {}).get("uid") or self.state.uid
        self._dirty = True

    @workflow.signal(name=SIGNAL_DELETED)
    def deleted(self, request: DeleteRequest) -> None:
        self.state.deleted = True
        self._dirty = True

    @workflow.signal(name=SIGNAL_REQUEST_RESUME)
    def request_resume(self, request: ResumeRequest) -> None:
        """Fire-and-forget resume (CLI and scripts); the `resume` update is the one that answers."""
        runtime = self.state.spec_model()
        if self.state.deleted or runtime is None or runtime.spec.suspended:
            workflow.logger.warning("resume signal ignored: runtime is being deleted, has no spec or "
                                    "spec.suspended is true")
            return
        self._wake(request, runtime.spec.wake_min_workers, runtime.spec.wake_ttl)
        if self.state.phase != "Ready" or self._suspending_soon():
            self.state.resume_requested = True
            self._resume_asked()
        self._dirty = True

    @workflow.signal(name=SIGNAL_REQUEST_SUSPEND)
    def request_suspend(self, request: SuspendRequest) -> None:
        """Fire-and-forget suspend; the `suspend` update is the one that answers."""
        if not self.state.deleted and self.state.phase != "Suspended":
            self.state.suspend_requested = True
            self._dirty = True

    def _resume_asked(self) -> None:
        if self._resume_asked_at is None:
            self._resume_asked_at = workflow.now()

    def _resume_answered(self, phase: Phase) -> ResumeTiming | None:
        """The resume a status write answers (Ready, or Error), for the metrics the activity records."""
        asked = self._resume_asked_at
        if asked is None or phase not in ("Ready", "Error"):
            return None
        if phase == "Ready" and self.state.resume_requested:
            return None  # Ready from another step (a scale) while the resume is still to run
        self._resume_asked_at = None
        seconds = max((workflow.now() - asked).total_seconds(), 0.0)
        return ResumeTiming(seconds=seconds, outcome="ready" if phase == "Ready" else "failed")

    def _wake(self, request: ResumeRequest, spec_floor: int | None, spec_ttl: timedelta) -> None:
        now = workflow.now()
        self.state.last_activity = now
        floor = request.wake_min_workers if request.wake_min_workers is not None else spec_floor
        if floor:
            self.state.wake_min_workers = floor
            self.state.wake_expires_at = now + (request.wake_ttl or spec_ttl)

    @workflow.update(name=UPDATE_RESUME)
    async def resume(self, request: ResumeRequest) -> RuntimeStatus:
        runtime = self.state.spec_model()
        assert runtime is not None  # the validator rejects a workflow without a spec
        self._wake(request, runtime.spec.wake_min_workers, runtime.spec.wake_ttl)
        if self.state.phase == "Ready" and not self._suspending_soon():
            self._dirty = True  # the wake floor may need a scale
            return self.state.status()
        self.state.resume_requested = True
        self._resume_asked()
        self._resume_trace = trace_carrier() or self._resume_trace  # the newest caller's trace
        self._dirty = True
        await workflow.wait_condition(
            lambda: (self._published == "Ready" and not self.state.resume_requested)
            or self._published == "Error" or self.state.deleted
        )
        if self._published != "Ready":
            # Answered at once by an Error already published: no status write will close this resume,
            # so its start time and trace must not wait for (and be counted by) some later Ready.
            self._resume_asked_at, self._resume_trace = None, {}
            raise ApplicationError(
                f"runtime {self.state.namespace}/{self.state.name} could not resume: "
                f"{self.state.message or self.state.phase}",
                type="ResumeFailed", non_retryable=True,
            )
        # The status that was published Ready: the loop may already be starting the next step (a spec
        # change that came during the resume), which must not turn this answer into "Provisioning".
        return self._published_status

    @resume.validator
    def _validate_resume(self, request: ResumeRequest) -> None:
        if self.state.deleted:
            raise ValueError(f"runtime {self.state.namespace}/{self.state.name} is being deleted; it cannot resume")
        runtime = self.state.spec_model()
        if runtime is None:
            raise ValueError(f"runtime {self.state.namespace}/{self.state.name} has no spec yet; apply the XTrinode")
        if runtime.spec.suspended:
            raise ValueError(
                f"runtime {self.state.namespace}/{self.state.name} has spec.suspended=true; set it to false "
                "(kubectl patch xtrinode ... --type merge -p '{\"spec\":{\"suspended\":false}}') to resume it")

    @workflow.update(name=UPDATE_SUSPEND)
    async def suspend(self, request: SuspendRequest) -> RuntimeStatus:
        if self.state.phase != "Suspended":
            self.state.suspend_requested = True
            self._dirty = True
            await workflow.wait_condition(
                lambda: self._published in ("Suspended", "Error") or self.state.deleted)
        self.state.manually_suspended = True
        if self._published != "Suspended":
            raise ApplicationError(
                f"runtime {self.state.namespace}/{self.state.name} could not suspend: {self.state.message}",
                type="SuspendFailed", non_retryable=True)
        return self.state.status()

    @suspend.validator
    def _validate_suspend(self, request: SuspendRequest) -> None:
        if self.state.deleted:
            raise ValueError(f"runtime {self.state.namespace}/{self.state.name} is being deleted")

    @workflow.query(name=QUERY_STATUS)
    def status(self) -> RuntimeStatus:
        return self.state.status()

    # -- the story -----------------------------------------------------------------------------
    @workflow.run
    async def run(self, state: RuntimeState) -> RuntimeStatus:
        self._publish_search_attributes()
        while True:
            action = self._next_action()
            if action is Action.DELETE:
                await self._step(action)
                break
            if action is not Action.NONE:
                await self._step(action)
                continue
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._events_written()
                # An update accepted in this same activation has not started its handler yet: let it
                # start, and go round again when it (or anything else) has work, so it is never
                # abandoned by the new run ("workflow completed before the update completed").
                await asyncio.sleep(0)
                if workflow.all_handlers_finished() and next_action(self.state, workflow.now()) is Action.NONE:
                    workflow.continue_as_new(self.state)
                continue
            await self._wait_for_something()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._events_written()
        return self.state.status()

    def _next_action(self) -> Action:
        now = workflow.now()
        action = next_action(self.state, now)
        if (action is Action.PROVISION and self.state.phase == "Ready"
                and running_workers(self.state, now) < self.state.workers_desired
                and workflow.patched(_PATCH_SCALE_DOWN_FIRST)):
            return Action.SCALE  # drain first; the provision of the rest of the change follows
        return action

    def _suspending_soon(self) -> bool:
        return self.state.suspend_requested or self.state.manually_suspended

    async def _wait_for_something(self) -> None:
        """Sleep until a message arrives, the autosuspend check is due or the wake window ends."""
        self._dirty = False
        now = workflow.now()
        deadlines = [d for d in (autosuspend_due_at(self.state), self.state.wake_expires_at) if d and d > now]
        timeout = (min(deadlines) - now) if deadlines else None
        if autosuspend_due_at(self.state) is not None and not deadlines:
            await self._idle_check()
            return
        try:
            await workflow.wait_condition(lambda: self._dirty, timeout=timeout)
        except asyncio.TimeoutError:
            due = autosuspend_due_at(self.state)
            if due is not None and workflow.now() >= due:
                await self._idle_check()

    async def _idle_check(self) -> None:
        """The autosuspend timer fired: suspend when neither the coordinator nor the gateway has work."""
        runtime = self.state.spec_model()
        assert runtime is not None and runtime.spec.auto_suspend_after is not None
        activity = await workflow.execute_activity_method(
            TrinoActivities.query_activity,
            QueryActivityInput(ref=self._ref(), coordinator_url=coordinator_service_url(runtime),
                               last_activity=self.state.last_activity),
            start_to_close_timeout=_QUICK,
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        now = workflow.now()
        outcome = autosuspend_outcome(activity, self.state.last_activity)
        if outcome in ("busy", "unreachable"):
            self.state.last_activity = now
        elif outcome == "recent_query":
            self.state.last_activity = activity.newest_query_at
        else:
            self.state.manually_suspended = True
            self.state.message = (f"idle for {runtime.spec.auto_suspend_after.total_seconds():.0f}s "
                                  "(spec.autoSuspendAfter): suspending")
        self._dirty = True

    async def _step(self, action: Action) -> None:
        """Run one lifecycle step as a child workflow and record what came of it (a resume in the trace
        of the update that asked for it)."""
        if action is not Action.RESUME:
            await self._run_step(action)
            return
        carrier, self._resume_trace = self._resume_trace, {}
        with attached_trace(carrier):
            await self._run_step(action)

    async def _run_step(self, action: Action) -> None:
        now = workflow.now()
        runtime = self.state.spec_model()
        if runtime is None:
            # Only a deletion gets here without a valid spec: the run the deletion started, for an XTrinode
            # whose spec no longer validates (the run that knew it was terminated).
            assert action is Action.DELETE
            await release_without_spec(self._ref())
            return
        workers = running_workers(self.state, now)
        if action is Action.SCALE:
            await self._set_phase("Draining" if workers < self.state.workers_desired else "Ready",
                                  f"scaling workers from {self.state.workers_desired} to {workers}")
        else:
            await self._set_phase(_STEP_PHASE[action], f"{action.value} started")
        step = {
            Action.PROVISION: ProvisionRuntime.run,
            Action.RESUME: ResumeRuntime.run,
            Action.SUSPEND: SuspendRuntime.run,
            Action.SCALE: ScaleWorkers.run,
            Action.DELETE: DeleteRuntime.run,
        }[action]
        first = self.state.applied_revision is None
        generation, revision = self.state.generation, self.state.revision
        keep_suspended = False
        if action is Action.PROVISION and not runtime.spec.suspended and wants_suspended(self.state, runtime):
            keep_suspended = workflow.patched(_PATCH_PROVISION_KEEPS_SUSPENDED)
        inp = StepInput(
            runtime=self.state.runtime or {}, catalogs=self.state.catalogs,
            secret_versions=self.state.secret_versions, worker_replicas=workers,
            current_workers=self.state.workers_desired, first_provision=first, keep_suspended=keep_suspended,
        )
        self.state.step_sequence += 1
        name = step.__qualname__.split(".")[0]
        started = workflow.now()
        try:
            result: StepResult = await workflow.execute_child_workflow(
                cast(Any, step), inp, id=child_workflow_id(workflow.info().workflow_id, name, self.state.step_sequence))
        except ChildWorkflowError as e:
            await self._failed(action, e, StepTiming(step=name, seconds=self._since(started), outcome="failed"))
            return
        self._failures = 0
        self._record(action, result, generation, revision, workers, keep_suspended=keep_suspended,
                     step_suspended=bool((inp.runtime.get("spec") or {}).get("suspended")))
        if action is not Action.DELETE:
            await self._set_phase(self.state.phase, result.message or self.state.phase,
                                  step=StepTiming(step=name, seconds=self._since(started), outcome="succeeded"))

    @staticmethod
    def _since(started: datetime) -> float:
        return max((workflow.now() - started).total_seconds(), 0.0)

    def _record(self, action: Action, result: StepResult, generation: int | None, revision: int,
                workers: int, *, keep_suspended: bool, step_suspended: bool) -> None:
        now = workflow.now()
        runtime = self.state.spec_model()
        assert runtime is not None
        self.state.coordinator_url = result.coordinator_url or self.state.coordinator_url
        self.state.message = result.message
        if action in (Action.PROVISION, Action.RESUME):
            self.state.applied_generation = generation
            self.state.applied_revision = revision
            self.state.error_revision = None
            suspended = runtime.spec.suspended  # the spec now: it may have changed while the step ran
            if suspended != step_suspended and workflow.patched(_PATCH_RECORD_STEP_SPEC):
                suspended = step_suspended
            if suspended or keep_suspended:
                self.state.phase, self.state.workers_desired, self.state.workers_ready = "Suspended", 0, 0
            else:
                self.state.phase = "Ready"
                self.state.workers_desired, self.state.workers_ready = workers, result.workers_ready
                self.state.last_activity = now
            if action is Action.RESUME:
                self.state.manually_suspended = False
            elif (self.state.phase == "Ready" and self.state.resume_requested and self.state.manually_suspended
                  and workflow.patched(_PATCH_PROVISION_ANSWERS_RESUME)):
                # The resume came while this provision's first status write was on its way (after the
                # step was chosen, before it started): the provision brought compute up, so it answers
                # the resume, and the manual suspend it ends must not suspend the runtime right after.
                self.state.manually_suspended = False
            if not keep_suspended:  # a resume accepted during a suspended provision is still to run
                self.state.resume_requested = False
                self._resume_trace = {}  # answered by this provision: the next RESUME step has its own
        elif action is Action.SUSPEND:
            self.state.phase, self.state.workers_desired, self.state.workers_ready = "Suspended", 0, 0
            if self.state.suspend_requested:
                self.state.manually_suspended = True
            self.state.suspend_requested = False
        elif action is Action.SCALE:
            self.state.phase = "Ready"
            self.state.workers_desired = target_workers(self.state, now)
            self.state.workers_ready = result.workers_ready
        elif action is Action.DELETE:
            self.state.phase = "Deleting"

    async def _failed(self, action: Action, error: ChildWorkflowError, timing: StepTiming) -> None:
        cause: BaseException | None = error
        # Unwrap ChildWorkflowError -> ActivityError -> ApplicationError to the message that explains.
        while isinstance(cause, FailureError) and not isinstance(cause, ApplicationError) and cause.cause is not None:
            cause = cause.cause
        message = str(cause) if cause is not None else str(error)
        permanent = isinstance(cause, ApplicationError) and cause.non_retryable
        self._failures += 1
        self.state.message = f"{action.value} failed: {message}"
        if permanent:
            self.state.error_revision = self.state.revision
        await self._set_phase("Error", self.state.message, warning=True, step=timing)
        if action is Action.DELETE or not permanent:
            backoff = min(timedelta(seconds=2 ** min(self._failures, 6)), _RETRY_BACKOFF_MAX)
            self._dirty = False
            try:
                await workflow.wait_condition(lambda: self._dirty, timeout=backoff)
            except asyncio.TimeoutError:
                pass

    # -- publishing ------------------------------------------------------------------------------
    def _ref(self) -> RuntimeRef:
        return RuntimeRef(namespace=self.state.namespace, name=self.state.name, uid=self.state.uid)

    def _publish_search_attributes(self) -> None:
        workflow.upsert_search_attributes([
            NAMESPACE_ATTR.value_set(self.state.namespace),
            NAME_ATTR.value_set(self.state.name),
            PHASE_ATTR.value_set(self.state.phase),
        ])

    async def _set_phase(self, phase: Phase, message: str, *, warning: bool = False,
                         step: StepTiming | None = None) -> None:
        """Record the phase, upsert search attributes, patch the CR status (handing the activity the
        transition, the step that ended and the resume answered, for its metrics), emit an Event."""
        changed = phase != self._published
        previous = self._published
        self.state.phase = phase
        self.state.message = message
        self._publish_search_attributes()
        now = workflow.now()
        self.state.conditions = conditions_for(self.state, now, self.state.conditions)
        status = {
            "phase": phase,
            "observedGeneration": self.state.applied_generation,
            "coordinatorURL": self.state.coordinator_url,
            "workers": {"ready": self.state.workers_ready, "desired": self.state.workers_desired},
            "lastActivity": self.state.last_activity.strftime("%Y-%m-%dT%H:%M:%SZ")
            if self.state.last_activity else None,
            "wake": {"minWorkers": self.state.wake_min_workers,
                     "expiresAt": self.state.wake_expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
            if self.state.wake_expires_at else None,
            "observedCatalogs": sorted(
                str((c.get("metadata") or {}).get("name", "")) for c in self.state.catalogs),
            "workflowId": workflow.info().workflow_id,
            "message": message[:1000],
            "conditions": self.state.conditions,
        }
        snapshot = self.state.status()
        await workflow.execute_activity_method(
            KubernetesActivities.patch_status,
            StatusPatch(ref=self._ref(), status=status, previous_phase=previous, step=step,
                        resume=self._resume_answered(phase)),
            start_to_close_timeout=_QUICK, retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
        )
        self._published = phase
        self._published_status = snapshot
        if changed or warning:
            event = workflow.start_activity_method(
                KubernetesActivities.emit_event,
                EventInput(ref=self._ref(), reason=phase, message=message,
                           type="Warning" if warning else "Normal"),
                start_to_close_timeout=_QUICK,
                # Events are informational: a few tries, then the lifecycle goes on without one.
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
            if workflow.patched(_PATCH_EVENTS_IN_BACKGROUND):
                # The step goes on while the Event is written (a resume no longer waits for it).
                self._events.add(event)
                event.add_done_callback(self._event_done)
            else:  # histories recorded before the patch awaited each Event in turn
                await event

    def _event_done(self, event: asyncio.Future[None]) -> None:
        self._events.discard(event)
        if not event.cancelled() and event.exception() is not None:
            workflow.logger.warning("could not record an Event: %s", event.exception())

    async def _events_written(self) -> None:
        """Before the run ends or continues as new: the Events started in the background are done."""
        await workflow.wait_condition(lambda: not self._events)
