"""Node state of one emulated Trino: startup delay, ACTIVE/DRAINING/DRAINED/SHUTTING_DOWN, worker tasks.

Follows `NodeStateManager`: a worker told SHUTTING_DOWN waits the grace period, then its tasks,
then the grace period again and asks the process to exit (`exit_requested`). Coordinators refuse.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from xtrinode.trino_protocol import NodeState

from .notifier import Notifier
from .settings import NodeSettings

__all__ = ["IllegalTransition", "NodeLifecycle", "UnsupportedTransition"]

log = logging.getLogger("devstack.trino.lifecycle")

_SETTABLE = frozenset({NodeState.ACTIVE, NodeState.DRAINING, NodeState.SHUTTING_DOWN})


class IllegalTransition(Exception):
    """400 `Invalid state transition to X`."""


class UnsupportedTransition(Exception):
    """The coordinator cannot drain or shut down: Trino answers 500."""


@dataclass(slots=True)
class _Task:
    task_id: str
    updated: float


class NodeLifecycle:
    """State machine plus the worker's task table; all methods run on the event loop."""

    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.state = NodeState.ACTIVE
        self.started_at = time.monotonic()
        self.started_wall = time.time()
        self.exit_requested = asyncio.Event()
        self._tasks: dict[str, _Task] = {}
        self._tasks_changed = Notifier()
        self._transition: asyncio.Task[None] | None = None

    # -- startup -----------------------------------------------------------------
    @property
    def starting(self) -> bool:
        return time.monotonic() - self.started_at < self.settings.startup_delay.total_seconds()

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_at

    async def wait_started(self) -> None:
        remaining = self.settings.startup_delay.total_seconds() - self.uptime_seconds
        if remaining > 0:
            await asyncio.sleep(remaining)

    @property
    def accepts_work(self) -> bool:
        return self.state == NodeState.ACTIVE and not self.starting

    # -- tasks (workers) -----------------------------------------------------------
    def update_task(self, task_id: str) -> bool:
        """Create or refresh a task; a node that is not ACTIVE takes no new tasks."""
        self._expire_tasks()
        if task_id not in self._tasks and not self.accepts_work:
            return False
        self._tasks[task_id] = _Task(task_id, time.monotonic())
        return True

    def remove_task(self, task_id: str) -> bool:
        removed = self._tasks.pop(task_id, None) is not None
        self._notify_tasks()
        return removed

    def active_tasks(self) -> list[str]:
        self._expire_tasks()
        return sorted(self._tasks)

    def _expire_tasks(self) -> None:
        limit = time.monotonic() - self.settings.task_client_timeout.total_seconds()
        stale = [task_id for task_id, task in self._tasks.items() if task.updated < limit]
        for task_id in stale:
            log.warning("task abandoned by the coordinator", extra={"task_id": task_id})
            del self._tasks[task_id]
        if stale:
            self._notify_tasks()

    def _notify_tasks(self) -> None:
        self._tasks_changed.notify()

    async def _wait_tasks_done(self) -> None:
        while self.active_tasks():
            await self._tasks_changed.wait(1.0)

    # -- state transitions -----------------------------------------------------
    def request_state(self, target: NodeState) -> None:
        """PUT /v1/info/state: validate and start the transition; repeats are no-ops."""
        if target not in _SETTABLE:
            raise IllegalTransition(f"Invalid state transition to {target}")
        if self.settings.coordinator:
            if target == NodeState.SHUTTING_DOWN:
                raise UnsupportedTransition("Cannot shutdown coordinator")
            if target == NodeState.DRAINING:
                raise UnsupportedTransition("Cannot drain coordinator")
            return
        current = self.state
        if target == current or (target == NodeState.DRAINING and current == NodeState.DRAINED):
            return
        if current == NodeState.SHUTTING_DOWN:
            raise IllegalTransition(f"Invalid state transition to {target}")
        if target == NodeState.ACTIVE:
            self._cancel_transition()
            self.state = NodeState.ACTIVE
            log.info("Node reactivated", extra=self._log_fields())
        elif target == NodeState.DRAINING:
            self.state = NodeState.DRAINING
            log.info("Drain requested", extra=self._log_fields())
            self._transition = asyncio.create_task(self._drain(), name="trino-drain")
        else:
            drained = current == NodeState.DRAINED
            self._cancel_transition()
            self.state = NodeState.SHUTTING_DOWN
            log.info("Shutdown requested", extra=self._log_fields())
            self._transition = asyncio.create_task(self._shutdown(immediately=drained), name="trino-shutdown")

    def _log_fields(self) -> dict[str, str]:
        return {"state": str(self.state), "node_id": self.settings.node_id}

    def _cancel_transition(self) -> None:
        if self._transition is not None and not self._transition.done():
            self._transition.cancel()
        self._transition = None

    async def _drain(self) -> None:
        await asyncio.sleep(self.settings.shutdown_grace_period.total_seconds())
        await self._wait_tasks_done()
        self.state = NodeState.DRAINED
        log.info("Node drained", extra=self._log_fields())

    async def _shutdown(self, *, immediately: bool) -> None:
        grace = self.settings.shutdown_grace_period.total_seconds()
        if not immediately:
            await asyncio.sleep(grace)
            await self._wait_tasks_done()
            log.info("All tasks finished; waiting the grace period again", extra={"grace_seconds": grace})
            await asyncio.sleep(grace)
        log.info("Shutting down the process", extra=self._log_fields())
        self.exit_requested.set()

    async def close(self) -> None:
        transition, self._transition = self._transition, None
        if transition is not None and not transition.done():
            transition.cancel()
            try:
                await transition
            except asyncio.CancelledError:
                pass
