"""Queries on the coordinator: ids, states, the dispatch-and-run task, cancel, abandonment, history.

A query is created QUEUED by the POST and dispatched on the first queued GET (as Trino does);
it waits for required workers, registers a task on each active worker while it runs, and is
FINISHED once its last page has been served.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp

from xtrinode.trino_protocol import (
    COORDINATOR_ID_ALPHABET,
    ErrorCode,
    Path,
    QueryState,
    StandardError,
    format_airlift_duration,
)

from .config import ConfigError, parse_airlift_duration
from .discovery import NodeRegistry
from .engine import Engine, StatementResult
from .rows import RowSource
from .errors import QueryFailure, failure_from_exception
from .lifecycle import NodeLifecycle
from .metadata import QueryRow
from .notifier import Notifier
from .results import ResultBuffer
from .session import Identity
from .settings import NodeSettings
from .parsed import Explain, Query as QueryStatement
from .sql import parse_statement

__all__ = ["Identity", "Query", "QueryManager", "iso_time"]

log = logging.getLogger("devstack.trino.queries")

QUEUED_CONTEXT = 0
EXECUTING_CONTEXT = 1


def iso_time(wall: float) -> str:
    """Timestamps as Trino's JSON writes them: ISO-8601 UTC with milliseconds."""
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Query:
    """One query's state, result buffer and page cache; changes wake the long-polling requests."""

    def __init__(self, query_id: str, sql: str, identity: Identity) -> None:
        self.query_id = query_id
        self.sql = sql
        self.identity = identity
        self.state = QueryState.QUEUED
        self.created_wall = time.time()
        self.created = time.monotonic()
        self.planning_started: float | None = None
        self.planning_ended: float | None = None
        self.execution_started: float | None = None
        self.finishing_started: float | None = None
        self.ended: float | None = None
        self.ended_wall: float | None = None
        self.dispatched = False
        self.failure: QueryFailure | None = None
        self.result: StatementResult | None = None
        self.buffer: ResultBuffer | None = None
        self.rows_sent = 0
        self.queued_token = 0
        self.executing_token = -1
        self.page_cache: tuple[int, bytes, list[tuple[str, str]]] | None = None
        self.page_lock = asyncio.Lock()
        self.pollers = 0
        self.last_access = time.monotonic()
        self.last_access_wall = time.time()
        self.cancel_event = threading.Event()
        self.task: asyncio.Task[None] | None = None
        self.workers: list[str] = []
        self._source: RowSource | None = None
        self._source_lock = threading.Lock()
        self._slug_secret = secrets.token_bytes(16)
        self._changed = Notifier()

    # -- slugs and access ---------------------------------------------------------
    def slug(self, context: int, token: int) -> str:
        digest = hmac.new(self._slug_secret, f"{context}:{token}".encode(), hashlib.sha1).hexdigest()
        return "y" + digest

    def slug_valid(self, context: int, token: int, slug: str) -> bool:
        return hmac.compare_digest(self.slug(context, token), slug)

    def touch(self) -> None:
        self.last_access = time.monotonic()
        self.last_access_wall = time.time()

    @contextlib.contextmanager
    def polled(self) -> Iterator[None]:
        """A client request is waiting on this query: it is not abandoned meanwhile."""
        self.pollers += 1
        self.touch()
        try:
            yield
        finally:
            self.pollers -= 1
            self.touch()

    @property
    def started(self) -> bool:
        """A client polled the queued URI once: Trino creates (lists, counts) the query only then."""
        return self.task is not None

    # -- state -----------------------------------------------------------------------
    def set_state(self, state: QueryState) -> None:
        if self.state.done:
            return
        self.state = state
        now = time.monotonic()
        if state == QueryState.PLANNING and self.planning_started is None:
            self.planning_started = now
        if state in (QueryState.STARTING, QueryState.RUNNING) and self.planning_ended is None:
            self.planning_ended = now
        if state == QueryState.RUNNING and self.execution_started is None:
            self.execution_started = now
        if state == QueryState.FINISHING and self.finishing_started is None:
            self.finishing_started = now
        if state.done:
            self.ended = now
            self.ended_wall = time.time()
            log.info("query done", extra={
                "query_id": self.query_id, "state": str(state), "elapsed_ms": int(self.elapsed_seconds() * 1000),
                "error_name": self.failure.code.name if self.failure else None,
            })
        self._notify()

    def fail(self, failure: QueryFailure) -> None:
        if self.state.done:
            return
        self.failure = failure
        self.set_state(QueryState.FAILED)

    def set_result(self, result: StatementResult) -> None:
        self.result = result
        self._notify()

    def _notify(self) -> None:
        self._changed.notify()

    def changed(self) -> None:
        self._notify()

    async def wait_changed(self, timeout: float) -> None:
        await self._changed.wait(timeout)

    def on_rows(self, source: RowSource) -> None:
        """Called from the planning thread with the row source, so a cancel can interrupt it."""
        with self._source_lock:
            self._source = source
        if self.cancel_event.is_set():
            source.interrupt()

    def interrupt(self) -> None:
        self.cancel_event.set()
        with self._source_lock:
            source = self._source
        if source is not None:
            source.interrupt()

    # -- timing --------------------------------------------------------------------------
    def elapsed_seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.created

    def queued_seconds(self) -> float:
        return (self.planning_started or self.ended or time.monotonic()) - self.created

    def planning_seconds(self) -> float:
        if self.planning_started is None:
            return 0.0
        return (self.planning_ended or self.ended or time.monotonic()) - self.planning_started

    def finishing_seconds(self) -> float:
        if self.finishing_started is None:
            return 0.0
        return (self.ended or time.monotonic()) - self.finishing_started

    def execution_seconds(self) -> float:
        if self.execution_started is None:
            return 0.0
        return (self.ended or time.monotonic()) - self.execution_started

    def row(self) -> QueryRow:
        """This query as a line of `system.runtime.queries`."""
        def stamp(monotonic: float | None) -> datetime | None:
            return None if monotonic is None else datetime.fromtimestamp(
                self.created_wall + (monotonic - self.created), UTC)

        created = datetime.fromtimestamp(self.created_wall, UTC)
        return QueryRow(
            self.query_id, str(self.state), self.identity.user, self.identity.source, self.sql,
            int(self.queued_seconds() * 1000), int(self.planning_seconds() * 500), int(self.planning_seconds() * 1000),
            created, stamp(self.execution_started), datetime.fromtimestamp(self.last_access_wall, UTC),
            stamp(self.ended), str(self.failure.code.type) if self.failure else None,
            self.failure.code.name if self.failure else None,
        )


class QueryManager:
    """All queries of this coordinator plus the tasks that run them."""

    def __init__(
        self,
        settings: NodeSettings,
        lifecycle: NodeLifecycle,
        registry: NodeRegistry,
        engine: Engine,
        session: Callable[[], aiohttp.ClientSession],
    ) -> None:
        self.settings = settings
        self.lifecycle = lifecycle
        self.registry = registry
        self.engine = engine
        self._session = session
        self.coordinator_id = "".join(secrets.choice(COORDINATOR_ID_ALPHABET) for _ in range(5))
        self.queries: dict[str, Query] = {}
        self._counter_day = ""
        self._counter = 0
        self._background: set[asyncio.Task[None]] = set()

    def new_query_id(self) -> str:
        now = datetime.now(UTC)
        day = now.strftime("%Y%m%d")
        if day != self._counter_day:
            self._counter_day, self._counter = day, 0
        number = self._counter % 100000
        self._counter += 1
        return f"{now.strftime('%Y%m%d_%H%M%S')}_{number:05d}_{self.coordinator_id}"

    def create(self, sql: str, identity: Identity) -> Query:
        query = Query(self.new_query_id(), sql, identity)
        self.queries[query.query_id] = query
        log.info("query created", extra={"query_id": query.query_id, "user": identity.user})
        self._prune()
        return query

    def get(self, query_id: str) -> Query | None:
        return self.queries.get(query_id)

    def start(self, query: Query) -> None:
        """Dispatch on the first queued GET; later calls do nothing."""
        if query.task is None and not query.state.done:
            query.task = asyncio.create_task(self._run(query), name=f"query-{query.query_id}")

    def cancel(self, query: Query, code: ErrorCode = StandardError.USER_CANCELED,
               message: str = "Query was canceled") -> None:
        if query.state.done:
            return
        query.fail(QueryFailure(code, message))
        query.interrupt()
        if query.task is not None and not query.task.done():
            query.task.cancel()
        elif query.buffer is not None:
            self._spawn(query.buffer.close())
        log.info("query canceled", extra={"query_id": query.query_id, "error_name": code.name})

    def visible(self) -> list[Query]:
        """Queries as `/v1/query` and system.runtime.queries list them: only those a client polled once."""
        return [q for q in self.queries.values() if q.started]

    def running_count(self) -> int:
        return sum(1 for q in self.visible() if not q.state.done and not q.state.queued)

    def queued_count(self) -> int:
        return sum(1 for q in self.visible() if q.state.queued)

    # -- running -----------------------------------------------------------------------
    async def _run(self, query: Query) -> None:
        try:
            if self.lifecycle.starting:
                raise QueryFailure(StandardError.SERVER_STARTING_UP, "Trino server is still initializing")
            statement = parse_statement(query.sql)  # a syntax error fails before dispatch, as in Trino
            query.set_state(QueryState.WAITING_FOR_RESOURCES)
            await self._wait_for_workers(query.identity.properties)
            query.set_state(QueryState.DISPATCHING)
            query.dispatched = True
            query.set_state(QueryState.PLANNING)
            if isinstance(statement, (QueryStatement, Explain)):
                query.set_state(QueryState.STARTING)
                await self._assign_tasks(query)
                query.set_state(QueryState.RUNNING)  # DuckDB binds and starts the query in one step
            result = await self._execute(query, statement)
            if query.state.done:
                if result.rows is not None:
                    result.rows.close()
                return
            if result.rows is not None:
                query.buffer = ResultBuffer(result.rows, self.engine.executor, query.changed,
                                            self.settings.page_rows or 512, 4 * self.settings.target_result_size)
                query.buffer.start()
                query.set_state(QueryState.RUNNING)  # SHOW and DESCRIBE answers skip STARTING
            query.set_result(result)
            if query.buffer is not None:
                await self._follow(query, query.buffer)
        except QueryFailure as failure:
            query.fail(failure)
        except asyncio.CancelledError:
            if query.buffer is not None:
                self._spawn(query.buffer.close())
            raise
        except Exception as error:
            log.exception("query failed unexpectedly", extra={"query_id": query.query_id})
            query.fail(failure_from_exception(error))
        finally:
            if query.workers:
                self._spawn(self._release_tasks(query.query_id, list(query.workers)))
                query.workers.clear()

    async def _execute(self, query: Query, statement: Any) -> StatementResult:
        """The engine's answer; when the query is cancelled meanwhile, a result arriving later is closed."""
        future = asyncio.ensure_future(
            self.engine.execute(statement, query.sql, query.identity, query.cancel_event, query.on_rows))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            def close_late(done: asyncio.Future[StatementResult]) -> None:
                if not done.cancelled() and done.exception() is None and done.result().rows is not None:
                    rows = done.result().rows
                    assert rows is not None
                    rows.close()

            future.add_done_callback(close_late)
            raise

    async def _follow(self, query: Query, buffer: ResultBuffer) -> None:
        """While rows are produced: keep the worker tasks alive; then FINISHING until the client drains them."""
        assert buffer.task is not None
        refresh = max(0.2, min(5.0, self.settings.task_client_timeout.total_seconds() / 3))
        while not buffer.task.done():
            await asyncio.wait({buffer.task}, timeout=refresh)
            if not buffer.task.done() and query.workers:
                await self._refresh_tasks(query)
        if buffer.failure is not None:
            query.fail(buffer.failure)
        elif not buffer.drained and query.state == QueryState.RUNNING:
            query.set_state(QueryState.FINISHING)

    def _required_workers(self, session: dict[str, str]) -> tuple[int, float]:
        """Config values, overridden by the session properties `required_workers_count` / `..._max_wait_time`."""
        required = self.settings.required_workers
        max_wait = self.settings.required_workers_max_wait.total_seconds()
        try:
            if "required_workers_count" in session:
                required = int(session["required_workers_count"])
            if "required_workers_max_wait_time" in session:
                max_wait = parse_airlift_duration(session["required_workers_max_wait_time"], "session").total_seconds()
        except (ValueError, ConfigError) as e:
            raise QueryFailure(StandardError.INVALID_SESSION_PROPERTY, f"Invalid session property value: {e}") from e
        return max(required, 1), max_wait

    async def _wait_for_workers(self, session: dict[str, str]) -> None:
        required, max_wait = self._required_workers(session)
        deadline = time.monotonic() + max_wait
        while (count := self.registry.schedulable_count()) < required:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise QueryFailure(
                    StandardError.GENERIC_INSUFFICIENT_RESOURCES,
                    f"Insufficient active worker nodes. Waited {format_airlift_duration(max_wait)} for at least "
                    f"{required} workers, but only {count} workers are active",
                )
            await self.registry.wait_changed(min(remaining, 1.0))

    def _task_url(self, worker_uri: str, query_id: str, index: int) -> str:
        return worker_uri + Path.TASK.format(task_id=f"{query_id}.0.{index}.0")

    async def _assign_tasks(self, query: Query) -> None:
        workers = [node.uri for node in self.registry.active_workers()]
        results = await asyncio.gather(*(self._post_task(uri, query.query_id, i) for i, uri in enumerate(workers)))
        query.workers = [uri for uri, ok in zip(workers, results, strict=True) if ok]

    async def _refresh_tasks(self, query: Query) -> None:
        await asyncio.gather(*(self._post_task(uri, query.query_id, i) for i, uri in enumerate(query.workers)))

    async def _post_task(self, worker_uri: str, query_id: str, index: int) -> bool:
        try:
            async with self._session().post(
                self._task_url(worker_uri, query_id, index), json={"queryId": query_id},
                timeout=aiohttp.ClientTimeout(total=2.0),
            ) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def _release_tasks(self, query_id: str, workers: list[str]) -> None:
        async def delete(uri: str, index: int) -> None:
            try:
                async with self._session().delete(
                    self._task_url(uri, query_id, index), timeout=aiohttp.ClientTimeout(total=2.0)
                ):
                    pass
            except (aiohttp.ClientError, TimeoutError):
                pass

        await asyncio.gather(*(delete(uri, i) for i, uri in enumerate(workers)))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- housekeeping ------------------------------------------------------------------
    async def reap(self) -> None:
        """Fail queries no client polls for `query.client.timeout` (ABANDONED_QUERY)."""
        timeout = self.settings.query_client_timeout.total_seconds()
        while True:
            await asyncio.sleep(max(0.05, min(1.0, timeout / 4)))
            now = time.monotonic()
            for query in list(self.queries.values()):
                if not query.state.done and not query.pollers and now - query.last_access > timeout:
                    self.cancel(
                        query,
                        StandardError.ABANDONED_QUERY,
                        f"Query {query.query_id} was abandoned by the client, as it may have exited or stopped "
                        f"checking for query results. Query results have not been accessed since "
                        f"{iso_time(query.last_access_wall)}: currently {iso_time(time.time())}",
                    )

    def _prune(self) -> None:
        done = sorted((q for q in self.queries.values() if q.state.done), key=lambda q: q.ended or 0.0)
        for query in done[: max(0, len(done) - self.settings.max_query_history)]:
            del self.queries[query.query_id]

    async def close(self) -> None:
        for query in self.queries.values():
            if not query.state.done:
                self.cancel(query, StandardError.SERVER_SHUTTING_DOWN, "Server is shutting down")
            elif query.buffer is not None:
                self._spawn(query.buffer.close())
        tasks = [q.task for q in self.queries.values() if q.task is not None]
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        while self._background:  # task releases (2 s timeouts) and result buffers stopping their fetch
            await asyncio.gather(*list(self._background), return_exceptions=True)
