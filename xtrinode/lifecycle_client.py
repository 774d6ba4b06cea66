"""`LifecycleClient`: how every process asks a runtime's workflow to resume or suspend.

Temporal admits only a few in-flight updates per workflow (10 by default). So, per process:
identical concurrent calls share one update, at most one update per runtime is in flight, and a
server that refuses for that limit (RESOURCE_EXHAUSTED) or a run that is closing (UNAVAILABLE) is
retried with jittered backoff under one update id, so the server deduplicates (notes/temporal.md 1).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from xtrinode.lifecycle import (
    QUERY_STATUS,
    UPDATE_RESUME,
    UPDATE_SUSPEND,
    ResumeRequest,
    RuntimeStatus,
    SuspendRequest,
    workflow_id_for,
)

__all__ = ["LifecycleClient", "RETRYABLE"]

RETRYABLE = frozenset({RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE})


class LifecycleClient:
    def __init__(self, client: Client, *, max_attempts: int = 12, base_delay: float = 0.2,
                 max_delay: float = 5.0) -> None:
        self.client = client
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._locks: dict[str, asyncio.Lock] = {}
        self._shared: dict[tuple[str, str, str], asyncio.Future[RuntimeStatus]] = {}
        self.rpcs = 0
        """Update RPCs sent (including retries): what coalescing saves is visible here."""

    async def resume(self, namespace: str, name: str, request: ResumeRequest | None = None) -> RuntimeStatus:
        """Resume and return once the runtime is Ready (raises the workflow's error otherwise)."""
        return await self.update(workflow_id_for(namespace, name), UPDATE_RESUME, request or ResumeRequest())

    async def suspend(self, namespace: str, name: str, request: SuspendRequest | None = None) -> RuntimeStatus:
        return await self.update(workflow_id_for(namespace, name), UPDATE_SUSPEND, request or SuspendRequest())

    async def status(self, namespace: str, name: str) -> RuntimeStatus:
        handle = self.client.get_workflow_handle(workflow_id_for(namespace, name))
        status: RuntimeStatus = await handle.query(QUERY_STATUS, result_type=RuntimeStatus)
        return status

    async def update(self, workflow_id: str, update: str, arg: Any) -> RuntimeStatus:
        """Send `update` (coalesced, retried) to a workflow by id; `resume`/`suspend` are shortcuts."""
        key = (workflow_id, update, arg.model_dump_json())
        shared = self._shared.get(key)
        if shared is None:
            shared = asyncio.get_running_loop().create_future()
            self._shared[key] = shared
            task = asyncio.create_task(self._send(workflow_id, update, arg), name=f"{update}:{workflow_id}")

            def settle(done: asyncio.Task[RuntimeStatus], key: tuple[str, str, str] = key,
                       future: asyncio.Future[RuntimeStatus] = shared) -> None:
                self._shared.pop(key, None)
                if future.done():
                    return
                if done.cancelled():
                    future.cancel()
                elif (error := done.exception()) is not None:
                    future.set_exception(error)
                else:
                    future.set_result(done.result())

            task.add_done_callback(settle)
            # A caller that gave up (cancelled) leaves the shared answer unread: mark it seen, not "never retrieved".
            shared.add_done_callback(lambda f: f.cancelled() or f.exception())
        # One caller giving up must not cancel the call the others share.
        return await asyncio.shield(shared)

    async def _send(self, workflow_id: str, update: str, arg: Any) -> RuntimeStatus:
        lock = self._locks.setdefault(workflow_id, asyncio.Lock())
        update_id = f"{update}-{uuid.uuid4()}"  # the same id on every retry: the server dedupes
        delay = self.base_delay
        async with lock:
            for attempt in range(1, self.max_attempts + 1):
                self.rpcs += 1
                try:
                    handle = self.client.get_workflow_handle(workflow_id)
                    result: RuntimeStatus = await handle.execute_update(
                        update, arg, id=update_id, result_type=RuntimeStatus)
                    return result
                except RPCError as e:
                    if e.status not in RETRYABLE or attempt == self.max_attempts:
                        raise
                except WorkflowUpdateRPCTimeoutOrCancelledError:
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise asyncio.CancelledError() from None  # the SDK turns our cancel into this error
                    if attempt == self.max_attempts:
                        raise
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self.max_delay)
        raise AssertionError("unreachable")  # pragma: no cover
