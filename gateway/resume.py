"""Asking a runtime's workflow to resume: the Temporal update `resume` (or, with `resume.via: apiServer`,
the API server's `POST /v1/runtimes/{ns}/{name}/resume?wait=true`), one in flight per runtime per replica.

`Resumer.resume(entry)` coalesces concurrent callers onto one update (notes/temporal.md section 1:
same update id on every retry, own backoff on RESOURCE_EXHAUSTED/UNAVAILABLE, in LifecycleClient) and turns every failure
into `ResumeFailed`, whose message names the runtime and the reason.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from opentelemetry.propagate import inject

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from gateway.metrics import GatewayMetrics
from gateway.settings import ResumeSettings
from xtrinode.lifecycle import UPDATE_RESUME, ResumeRequest, RuntimeStatus, workflow_id_for
from xtrinode.lifecycle_client import LifecycleClient
from xtrinode.models.routes import RouteEntry
from xtrinode.trino_protocol import ErrorCode, StandardError

__all__ = ["ResumeFailed", "Resumer"]

log = logging.getLogger("xtrinode.gateway.resume")

_RETRYABLE = frozenset({RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE})


def _workflow_id(entry: RouteEntry) -> str:
    return entry.workflow_id or workflow_id_for(entry.namespace, entry.name)


class ResumeFailed(Exception):
    """A runtime could not be resumed; `message` is what the client sees, `code` its Trino error."""

    def __init__(self, message: str, code: ErrorCode = StandardError.GENERIC_INTERNAL_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _cause_text(error: BaseException) -> str:
    cause: BaseException = error
    if isinstance(error, WorkflowUpdateFailedError) and error.cause is not None:
        cause = error.cause
    text = getattr(cause, "message", None) or str(cause) or type(cause).__name__
    return str(text)[:500]


class Resumer:
    """One shared resume flight per workflow id; callers wait on it with their own deadline."""

    def __init__(
        self, settings: ResumeSettings, metrics: GatewayMetrics, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._connect = connect
        self._client: Client | None = None
        self._client_lock = asyncio.Lock()
        self._flights: dict[str, asyncio.Task[RuntimeStatus]] = {}
        self._http: aiohttp.ClientSession | None = None

    async def _temporal(self) -> Client:
        async with self._client_lock:
            if self._client is None:
                self._client = await self._connect()
            return self._client

    async def resume(self, entry: RouteEntry, timeout: float) -> RuntimeStatus:
        """Wait (at most `timeout` s) for the runtime's resume; joins a flight already under way."""
        wf_id = _workflow_id(entry)
        flight = self._flights.get(wf_id)
        if flight is None:
            flight = asyncio.create_task(self._fly(entry, wf_id), name=f"resume {wf_id}")
            self._flights[wf_id] = flight
            flight.add_done_callback(functools.partial(self._landed, wf_id))
        try:
            return await asyncio.wait_for(asyncio.shield(flight), timeout)
        except TimeoutError:
            raise ResumeFailed(
                f"runtime {entry.key} did not become ready within {self._settings.timeout.total_seconds():.0f}s "
                "(resume still in progress); "
                "retry the query later or check the runtime's workflow in the Temporal UI",
                StandardError.GENERIC_INSUFFICIENT_RESOURCES,
            ) from None

    def _landed(self, wf_id: str, task: asyncio.Task[RuntimeStatus]) -> None:
        if self._flights.get(wf_id) is task:
            del self._flights[wf_id]
        if not task.cancelled():
            task.exception()  # retrieved: callers saw it through the shield

    async def forget(self, entry: RouteEntry) -> None:
        """Nobody here waits for this runtime any more: stop asking (the workflow may already resume it)."""
        flight = self._flights.pop(_workflow_id(entry), None)
        if flight is not None and not flight.done():
            flight.cancel()
            await asyncio.gather(flight, return_exceptions=True)
            log.info("stopped asking runtime %s to resume: its held statements were cancelled", entry.key)

    async def _fly(self, entry: RouteEntry, wf_id: str) -> RuntimeStatus:
        started = time.monotonic()
        outcome = "failed"
        try:
            status = await asyncio.wait_for(self._update(entry, wf_id), self._settings.timeout.total_seconds())
            outcome = "ok"
            log.info("runtime %s resumed (phase %s) in %.1fs", entry.key, status.phase, time.monotonic() - started)
            return status
        except asyncio.CancelledError:
            outcome = "canceled"
            raise
        except TimeoutError:
            outcome = "timeout"
            raise ResumeFailed(
                f"runtime {entry.key} did not become ready within {self._settings.timeout.total_seconds():.0f}s; "
                "check the runtime's workflow and coordinator logs",
                StandardError.GENERIC_INSUFFICIENT_RESOURCES,
            ) from None
        finally:
            self._metrics.resume_requests.labels(entry.namespace, entry.name, outcome).inc()
            self._metrics.resume_seconds.labels(outcome).observe(time.monotonic() - started)

    async def _update(self, entry: RouteEntry, wf_id: str) -> RuntimeStatus:
        if self._settings.via == "apiServer":
            return await self._through_api(entry)
        try:
            client = await self._temporal()
        except Exception as e:  # connect errors are RuntimeError/RPCError from the core bridge
            raise ResumeFailed(
                f"runtime {entry.key} could not be resumed: Temporal is unreachable ({str(e)[:200]}); "
                "retry when the lifecycle service is back"
            ) from e
        lifecycle = LifecycleClient(client, max_attempts=self._settings.max_update_attempts)
        try:
            return await lifecycle.update(wf_id, UPDATE_RESUME, ResumeRequest(reason="gateway"))
        except WorkflowUpdateFailedError as e:
            raise ResumeFailed(f"runtime {entry.key} could not be resumed: {_cause_text(e)}") from e
        except WorkflowUpdateRPCTimeoutOrCancelledError as e:
            raise ResumeFailed(f"runtime {entry.key} could not be resumed: the resume update timed out") from e
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise ResumeFailed(
                    f"runtime {entry.key} could not be resumed: its lifecycle workflow {wf_id!r} is not running "
                    f"({e.message[:200]}); check that the XTrinode exists and the operator runs"
                ) from e
            raise ResumeFailed(
                f"runtime {entry.key} could not be resumed: Temporal answered {e.status.name} ({e.message[:200]})"
            ) from e

    async def _through_api(self, entry: RouteEntry) -> RuntimeStatus:
        """The API server's resume with ?wait=true (its own coalescing and retries); errors name the runtime."""
        link = self._settings.api_server
        assert link.url is not None and link.token_file is not None
        try:
            token = (await asyncio.to_thread(Path(link.token_file).read_text, encoding="utf-8")).strip()
        except OSError as e:
            raise ResumeFailed(f"runtime {entry.key} could not be resumed: the gateway's API token file "
                               f"{link.token_file!r} cannot be read ({e.strerror}); check the mounted Secret") from e
        if self._http is None:
            self._http = aiohttp.ClientSession()
        url = f"{link.url.rstrip('/')}/v1/runtimes/{entry.namespace}/{entry.name}/resume?wait=true"
        try:
            headers = {"Authorization": f"Bearer {token}"}
            inject(headers)  # traceparent: the API server's span (and the resume) join this trace
            async with self._http.post(url, json={"reason": "gateway"}, headers=headers) as response:
                body = await response.json(content_type=None) if response.content_length != 0 else {}
                status = response.status
        except (aiohttp.ClientError, ValueError) as e:
            raise ResumeFailed(f"runtime {entry.key} could not be resumed: the API server at {link.url} cannot be "
                               f"reached ({type(e).__name__}); check resume.apiServer.url") from e
        detail = str(body.get("error", ""))[:300] if isinstance(body, dict) else ""
        if status == 200 and isinstance(body, dict) and body.get("state") == "done":
            runtime = body.get("runtime") or {}
            return RuntimeStatus(namespace=entry.namespace, name=entry.name, phase=runtime.get("phase", "Ready"),
                                 coordinator_url=runtime.get("coordinatorUrl"))
        if status == 202:
            raise ResumeFailed(f"runtime {entry.key} is still resuming after the API server's wait; retry the query",
                               StandardError.GENERIC_INSUFFICIENT_RESOURCES)
        if status in (401, 403):
            raise ResumeFailed(f"runtime {entry.key} could not be resumed: the API server refused the gateway's token "
                               f"({status}: {detail}); give it the resume scope in this namespace")
        raise ResumeFailed(f"runtime {entry.key} could not be resumed: {detail or f'the API server answered {status}'}")

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        flights = list(self._flights.values())
        for flight in flights:
            flight.cancel()
        await asyncio.gather(*flights, return_exceptions=True)
