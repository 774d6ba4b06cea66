"""Held statements: a new query for a suspended runtime waits in the gateway behind synthetic QUEUED pages.

The hold resumes the runtime and submits the original statement with the original headers as soon as
the route's backend is a coordinator started since the hold (its `/v1/info` uptime) and done starting,
polling its first `nextUri` once so that Trino dispatches it: Trino analyses it and waits for its
`query-manager.required-workers` while the lifecycle still waits for the workers to register. The
client's next poll after the resume (route RUNNING, coordinator ready) gets that backend answer; when no
new coordinator answered first, the statement is submitted then, and the client gets the POST answer.
A resume that fails after an early submission cancels the query. As in Trino, nothing starts before
the client's first poll of the queued URI: a statement cancelled (DELETE) before that never asks for a
resume, and a cancel answers later polls with Trino's FAILED `USER_CANCELED` page. Abandonment (no poll for `resume.abandonAfter`) drops it. A held statement
is as private as Trino's own: its random slug is checked in constant time on every poll and cancel
(`slug_matches`), and it remembers the principal that sent it (`owner`). Once submitted, its id is an
alias of the coordinator's (`StickyStore.alias`), so `/v1/query/<held id>` still answers.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web
from multidict import CIMultiDict
from opentelemetry import trace
from opentelemetry.context import Context, get_current
from opentelemetry.trace import Status, StatusCode

from gateway.forward import Forwarder, NotReached, UpstreamError, UpstreamReply, json_body
from gateway.server import ProxiedAnswer
from gateway.health import HealthMonitor
from gateway.inflight import InflightTracker
from gateway.metrics import GatewayMetrics
from gateway.pages import QueryIdMaker, failed_page, new_slug, queued_page
from gateway.resume import ResumeFailed, Resumer
from gateway.routewatch import RouteSource
from gateway.settings import ResumeSettings
from gateway.sticky import StickyStore, Target, coordinator_id_of
from xtrinode.models.routes import RouteEntry
from xtrinode.trino_protocol import ErrorCode, Path, StandardError
from xtrinode.tracing import tracing_active

__all__ = ["HeldStatement", "HeldStatements"]

tracer = trace.get_tracer("xtrinode.gateway")

_EARLY_PROBE_INTERVAL = 0.25
"""Seconds between probes of a resuming runtime's coordinator for an early submission."""

log = logging.getLogger("xtrinode.gateway.held")


@dataclass(eq=False)
class HeldStatement:
    """One statement waiting for its runtime; `reply` is set once it is submitted or has failed."""

    query_id: str
    entry: RouteEntry
    body: bytes
    headers: CIMultiDict[str]
    base: str
    owner: str | None = None
    slug: str = field(default_factory=new_slug)
    created: float = field(default_factory=time.monotonic)
    last_poll: float = field(default_factory=time.monotonic)
    polling: int = 0
    reply: UpstreamReply | None = None
    handed_at: float | None = None
    canceled: bool = False
    real_id: str | None = None
    """The coordinator's id of the submitted query."""
    submitted_to: str | None = None
    """The backend the statement was submitted to."""
    done: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    trace_context: Context | None = None
    """The trace of the request that sent it (when tracing is on): its wait is a span there."""


def _path_of(uri: str) -> str:
    """Path and query of a page's URI (the gateway's own address in it is not where it is sent)."""
    parts = urlsplit(uri)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class HeldStatements:
    """The held statements of this replica, keyed by their gateway-made query id."""

    def __init__(
        self,
        *,
        settings: ResumeSettings,
        ids: QueryIdMaker,
        resumer: Resumer,
        routes: RouteSource,
        health: HealthMonitor,
        forwarder: Forwarder,
        sticky: StickyStore,
        inflight: InflightTracker,
        metrics: GatewayMetrics,
    ) -> None:
        self._settings = settings
        self._ids = ids
        self._resumer = resumer
        self._routes = routes
        self._health = health
        self._forwarder = forwarder
        self._sticky = sticky
        self._inflight = inflight
        self._metrics = metrics
        self._held: dict[str, HeldStatement] = {}

    def __contains__(self, query_id: str) -> bool:
        return query_id in self._held

    def get(self, query_id: str) -> HeldStatement | None:
        return self._held.get(query_id)

    @staticmethod
    def slug_matches(held: HeldStatement, slug: str | None) -> bool:
        """Constant-time comparison of a request's slug with the held statement's."""
        return slug is not None and hmac.compare_digest(held.slug.encode(), slug.encode("ascii", "replace"))

    def count(self, route_key: str) -> int:
        return sum(1 for h in self._held.values() if h.entry.key == route_key and h.handed_at is None and not h.canceled)

    def hold(
        self, entry: RouteEntry, body: bytes, headers: CIMultiDict[str], base: str, owner: str | None = None
    ) -> HeldStatement:
        """Hold a new statement; answer the client at once with `first_page(held)`."""
        query_id = self._ids.next()
        while query_id in self._held:
            query_id = self._ids.next()
        held = HeldStatement(query_id, entry, body, headers, base, owner)
        if tracing_active():
            held.trace_context = get_current()
        self._held[held.query_id] = held
        self._inflight.held_changed(entry, +1)
        log.info("holding query %s for runtime %s until it resumes", held.query_id, entry.key,
                 extra={"runtime": entry.key, "query_id": held.query_id})
        return held

    @staticmethod
    def first_page(held: HeldStatement) -> web.Response:
        """The QUEUED page answering the statement's POST."""
        return web.json_response(queued_page(held.base, held.query_id, held.slug, 1))

    def _start(self, held: HeldStatement) -> None:
        """Begin resuming and submitting (on the first poll, as Trino submits a query on its first poll)."""
        if held.task is None and held.reply is None:
            held.task = asyncio.create_task(self._submit_when_ready(held), name=f"held {held.query_id}")

    def _finish(self, held: HeldStatement, reply: UpstreamReply, outcome: str) -> None:
        if held.reply is None:
            held.reply = reply
            self._inflight.held_changed(held.entry, -1)
            self._metrics.held_statements.labels(held.entry.namespace, held.entry.name, outcome).inc()
            held.done.set()

    def _failed(self, held: HeldStatement, code_message: ResumeFailed) -> UpstreamReply:
        return self._failed_reply(held, code_message.code, code_message.message)

    @staticmethod
    def _failed_reply(held: HeldStatement, code: ErrorCode, message: str) -> UpstreamReply:
        page = failed_page(held.base, held.query_id, code, message)
        headers: CIMultiDict[str] = CIMultiDict({"Content-Type": "application/json"})
        return UpstreamReply(200, headers, json.dumps(page).encode())

    async def _submit_when_ready(self, held: HeldStatement) -> None:
        if held.trace_context is None:
            await self._resume_and_submit(held)
            return
        entry = held.entry
        with tracer.start_as_current_span(
            "gateway held statement", context=held.trace_context,
            attributes={"xtrinode.runtime": entry.key, "xtrinode.namespace": entry.namespace,
                        "xtrinode.name": entry.name, "trino.query_id": held.query_id},
        ) as span:
            outcome = await self._resume_and_submit(held)
            span.set_attribute("xtrinode.outcome", outcome)
            if outcome == "failed":
                span.set_status(Status(StatusCode.ERROR))

    async def _resume_and_submit(self, held: HeldStatement) -> str:
        """Resume, wait, submit; the outcome (`submitted` or `failed`) is also the held statement's reply."""
        deadline = held.created + self._settings.timeout.total_seconds()
        entry = held.entry
        try:
            reply = await self._resumed_and_submitted(held, deadline)
        except ResumeFailed as e:
            log.warning("held query %s failed: %s", held.query_id, e.message,
                        extra={"runtime": entry.key, "query_id": held.query_id})
            self._finish(held, self._failed(held, e), "failed")
            return "failed"
        except Exception as e:  # a bug or an unexpected client error must still end the client's wait
            log.exception("held query %s failed unexpectedly", held.query_id,
                          extra={"runtime": entry.key, "query_id": held.query_id})
            failure = ResumeFailed(f"runtime {entry.key} could not be resumed: gateway error {type(e).__name__}: {str(e)[:200]}")
            self._finish(held, self._failed(held, failure), "failed")
            return "failed"
        self._finish(held, reply, "submitted")
        return "submitted"

    async def _resumed_and_submitted(self, held: HeldStatement, deadline: float) -> UpstreamReply:
        """Resume the runtime and submit the statement; the reply is what the client's next poll gets.

        The statement goes to the coordinator as soon as a coordinator started since the hold answers
        (`_submit_early`), while the lifecycle still waits for the workers to register: Trino analyses it
        and holds it for `query-manager.required-workers` itself, so that work overlaps the resume. The
        client still gets its answer once the resume is done and the route RUNNING (its follow-ups need
        that route). A resume that fails after the early submission cancels the submitted query."""
        resumed = asyncio.create_task(self._resumed(held, deadline), name=f"resume for held {held.query_id}")
        try:
            early = await self._submit_early(held, resumed, deadline)
            try:
                entry = await resumed
            except BaseException:
                if early is not None:
                    await self._cancel_query(held, early)
                raise
            return early if early is not None else await self._submit(held, entry, deadline)
        finally:
            if not resumed.done():
                resumed.cancel()
                await asyncio.gather(resumed, return_exceptions=True)

    async def _resumed(self, held: HeldStatement, deadline: float) -> RouteEntry:
        entry = await self._wait_running(held, deadline)
        return await self._wait_ready(entry, deadline)

    async def _submit_early(
        self, held: HeldStatement, resumed: asyncio.Task[RouteEntry], deadline: float
    ) -> UpstreamReply | None:
        """Submit the statement once the route's backend is a coordinator started after the runtime's oldest
        waiting hold (so not the old one still draining after a suspend) and done starting, before the
        resume finishes; None when the resume finished (or failed) first."""
        key = held.entry.key
        while not resumed.done() and time.monotonic() + _EARLY_PROBE_INTERVAL < deadline:
            entry = self._routes.entry(key)
            if entry is not None and await self._health.started_within(entry.backend, self._oldest_hold_age(key)):
                reply = await self._submit(held, entry, deadline)
                log.info("submitted held query %s to the new coordinator of %s while it resumes",
                         held.query_id, key, extra={"runtime": key, "query_id": held.query_id})
                return await self._dispatch(held, entry, reply)
            await asyncio.wait({resumed}, timeout=_EARLY_PROBE_INTERVAL)
        return None

    def _oldest_hold_age(self, route_key: str) -> float:
        now = time.monotonic()
        return max((now - h.created for h in self._held.values() if h.entry.key == route_key and h.handed_at is None),
                   default=0.0)

    async def _dispatch(self, held: HeldStatement, entry: RouteEntry, reply: UpstreamReply) -> UpstreamReply:
        """Poll the POST answer's `nextUri` once, as the client's first poll would: Trino dispatches a query
        (and so starts waiting for its workers) only then. The client gets this poll's answer instead,
        which goes on from there; if the poll reached nobody, the POST answer (the client polls it)."""
        try:
            page = reply.json()
        except ValueError:
            return reply
        next_uri = page.get("nextUri") if isinstance(page, dict) and reply.status == 200 else None
        if not isinstance(next_uri, str):
            return reply
        try:
            polled = await self._forwarder.fetch("GET", entry.backend, _path_of(next_uri), held.headers, b"",
                                                 "follow_up")
        except (NotReached, UpstreamError) as e:
            log.warning("could not poll held query %s after submitting it early (%s); the client will",
                        held.query_id, e, extra={"runtime": entry.key, "query_id": held.query_id})
            return reply
        try:
            polled_page = polled.json() if polled.status == 200 else None
        except ValueError:
            polled_page = None
        if held.real_id is not None and not (isinstance(polled_page, dict) and polled_page.get("nextUri")):
            self._inflight.end(held.real_id)
        return polled

    async def _wait_running(self, held: HeldStatement, deadline: float) -> RouteEntry:
        key = held.entry.key
        settle = self._settings.settle.total_seconds()
        while True:
            remaining = deadline - time.monotonic()
            current = self._routes.entry(key)
            if current is None:
                raise ResumeFailed(f"runtime {key} has no route any more (deleted?); check the XTrinode")
            await self._resumer.resume(current, max(remaining, 0.01))
            remaining = deadline - time.monotonic()
            found = await self._routes.wait_for(key, lambda e: e.state == "RUNNING", min(max(remaining, 0.01), settle))
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise ResumeFailed(
                    f"runtime {key} reported Ready but its gateway route stayed {current.state} "
                    f"for {self._settings.timeout.total_seconds():.0f}s; check the routes ConfigMap",
                    StandardError.GENERIC_INSUFFICIENT_RESOURCES,
                )

    async def _wait_ready(self, entry: RouteEntry, deadline: float) -> RouteEntry:
        """Probe the route's current backend until it is ready (the route may still move to a new backend)."""
        while True:
            current = self._routes.entry(entry.key) or entry
            if current.state == "RUNNING" and await self._health.probe(current.backend):
                return current
            if time.monotonic() + 0.2 > deadline:
                raise ResumeFailed(
                    f"runtime {entry.key} is {current.state} but its coordinator {current.backend} did not become ready "
                    f"({self._health.state(current.backend).detail}) within {self._settings.timeout.total_seconds():.0f}s",
                    StandardError.GENERIC_INSUFFICIENT_RESOURCES,
                )
            await self._routes.wait_for(entry.key, lambda e, b=current.backend: e.backend != b, 0.2)

    async def _submit(self, held: HeldStatement, entry: RouteEntry, deadline: float) -> UpstreamReply:
        while True:
            try:
                reply = await self._forwarder.fetch(
                    "POST", entry.backend, Path.STATEMENT, held.headers, held.body, "statement"
                )
                break
            except NotReached as e:  # never reached the coordinator: safe to try again until the deadline
                self._health.record_failure(entry.backend, str(e))
                if time.monotonic() + 0.25 > deadline:
                    raise ResumeFailed(
                        f"runtime {entry.key} resumed but its coordinator {entry.backend} refused connections: {e}",
                        StandardError.GENERIC_INSUFFICIENT_RESOURCES,
                    ) from e
                await asyncio.sleep(0.25)
            except UpstreamError as e:  # it may have reached the coordinator: never send it again
                self._health.record_failure(entry.backend, type(e).__name__)
                raise ResumeFailed(
                    f"the coordinator of runtime {entry.key} failed while accepting the statement ({e}); "
                    "it may have started, so check before running it again"
                ) from e
        self._health.record_success(entry.backend)
        held.submitted_to = entry.backend
        held.real_id = await self.adopt(entry, reply, held.owner)
        if held.real_id is not None:
            await self._sticky.alias(held.query_id, held.real_id)
        return reply

    async def adopt(self, entry: RouteEntry, reply: UpstreamReply, owner: str | None = None) -> str | None:
        """Learn the query a backend's POST answer started (sticky mapping with its owner, shared through
        Redis when set, coordinator id, in-flight count); returns its id."""
        learned = self.adopt_now(entry, reply.status, reply.body, reply.headers.get("Content-Encoding"), owner)
        if learned is None:
            return None
        await self._sticky.share(*learned)
        return learned[0]

    def adopt_now(self, entry: RouteEntry, status: int, body: bytes, content_encoding: str | None,
                  owner: str | None) -> tuple[str, Target] | None:
        """`adopt` in this replica only: the query id and its target, which the caller shares through Redis
        (`StickyStore.share`) before the client sees the page when `StickyStore.shared`."""
        if status != 200:
            return None
        try:
            page = json_body(body, content_encoding)
        except ValueError:
            return None
        query_id = page.get("id") if isinstance(page, dict) else None
        if not isinstance(query_id, str):
            return None
        self._sticky.note_coordinator(entry.backend, coordinator_id_of(query_id))
        target = Target(entry.key, entry.backend, owner)
        self._sticky.put_local(query_id, target)
        if page.get("nextUri"):
            self._inflight.start(query_id, entry)
        return query_id, target

    async def poll(self, request: web.Request, held: HeldStatement, token: int) -> web.Response | ProxiedAnswer:
        """GET of a held statement's queued URI (slug already checked): long-poll, then QUEUED again or
        the real answer (or, once cancelled, Trino's FAILED USER_CANCELED page)."""
        self._start(held)
        held.polling += 1
        try:
            if held.reply is None:
                try:
                    await asyncio.wait_for(held.done.wait(), self._settings.poll_wait.total_seconds())
                except TimeoutError:
                    pass
        finally:
            held.polling -= 1
            held.last_poll = time.monotonic()
        if held.reply is None:
            return web.json_response(
                queued_page(held.base, held.query_id, held.slug, token + 1, time.monotonic() - held.created)
            )
        if held.handed_at is None:
            held.handed_at = time.monotonic()
        return held.reply.to_response()

    async def cancel(self, held: HeldStatement) -> web.Response:
        """DELETE of a held statement's URI (slug already checked): stop waiting (and cancel the real query
        if it was submitted); later polls get Trino's FAILED USER_CANCELED page, and when no other held
        statement waits for the runtime, this replica stops asking for its resume."""
        if held.canceled or held.handed_at is not None:
            return web.Response(status=204)
        held.canceled = True
        await self._drop(held, "canceled")
        held.reply = self._failed_reply(held, StandardError.USER_CANCELED, "Query was canceled")
        held.handed_at = time.monotonic()  # reaped abandonAfter from now
        if self.count(held.entry.key) == 0:
            await self._resumer.forget(held.entry)
        return web.Response(status=204)

    async def _drop(self, held: HeldStatement, outcome: str) -> None:
        if held.task is not None and not held.task.done():
            held.task.cancel()
            await asyncio.gather(held.task, return_exceptions=True)
        if held.reply is None:
            self._inflight.held_changed(held.entry, -1)
            self._metrics.held_statements.labels(held.entry.namespace, held.entry.name, outcome).inc()
            held.done.set()
        elif held.handed_at is None:
            await self._cancel_submitted(held)

    async def _cancel_submitted(self, held: HeldStatement) -> None:
        assert held.reply is not None
        await self._cancel_query(held, held.reply)

    async def _cancel_query(self, held: HeldStatement, reply: UpstreamReply) -> None:
        """DELETE the query a submission's last page (`reply`) names, on the runtime's backend."""
        try:
            page = reply.json()
            next_uri = page.get("nextUri") if isinstance(page, dict) else None
            if isinstance(next_uri, str):
                backend = held.submitted_to or held.entry.backend
                reply = await self._forwarder.fetch("DELETE", backend, _path_of(next_uri), held.headers, b"", "follow_up")
                self._inflight.end(str(page.get("id")))
                log.info("canceled submitted query %s of hold %s (%d)", page.get("id"), held.query_id, reply.status)
        except (ValueError, NotReached, UpstreamError, OSError) as e:
            log.warning("could not cancel the query of hold %s: %s", held.query_id, e)

    async def reap(self) -> None:
        """Drop holds nobody polls any more, and replies handed over long enough ago."""
        now = time.monotonic()
        limit = self._settings.abandon_after.total_seconds()
        for query_id, held in list(self._held.items()):
            if held.polling:
                continue
            if held.handed_at is not None and now - held.handed_at > limit:
                self._held.pop(query_id, None)
            elif held.handed_at is None and now - held.last_poll > limit:
                self._held.pop(query_id, None)
                log.info("held query %s for %s abandoned: no poll for %.0fs", query_id, held.entry.key, limit)
                await self._drop(held, "abandoned")

    async def close(self) -> None:
        holds = list(self._held.values())
        self._held.clear()
        tasks = [h.task for h in holds if h.task is not None and not h.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

