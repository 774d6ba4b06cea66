"""The fast path (gateway/fastpath.py): page polls and new statements answered from the servers' callbacks.

In front of a small scripted coordinator (Trino's statement protocol over raw asyncio streams, so a test
can make one answer fail in a chosen way). Polls: those of a running query take the fast path and are
counted, timed, logged and tracked in flight exactly as with `fastPath: false`; pipelined polls and a
statement behind them are answered in order; a poll whose reused backend connection died unanswered is
sent again and answered; a backend that breaks mid-answer is a 502 and the poll is not sent twice; a page
larger than the small-answer limit streams whole; a client that leaves while its poll is upstream harms
nothing after it; with API keys the polls take the fast path and a wrong key is still refused 401; with OAuth, polls and
statements take it and a token that expired on the same header lines is refused 401.
Statements: accounted exactly as with `fastPath: false` (metrics, in flight, sticky route, access line);
one rate-limit token each, and the 429 is the pipeline's; never sent twice when the reused backend
connection dies unanswered; one without an idle backend connection connects afresh with its one token;
with Redis, its route is in Redis before its first page is answered; one to a runtime that is not
RUNNING is the pipeline's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.accesslog import ACCESS_LOGGER
from gateway.fastpath import FastProxy
from gateway.forward import SMALL_BODY
from gateway_helpers import GatewayFactory, RoutesConfigMap, RunningGateway, route
from tests.idp import AUDIENCE, IdP, claims, public_jwk, serve_idp, sign

USER = {"X-Trino-User": "alice"}
PAGES = 4
"""Polls of a scripted query: pages with a nextUri, the last without."""


class ScriptedCoordinator:
    """Trino's statement protocol for `SELECT 1`-like queries: POST /v1/statement answers a QUEUED page, each
    poll a page of one row, the PAGES-th poll the last page. `plan` scripts the next polls: "ok", "drop"
    (close the connection without answering), "break" (half an answer, then close), "big" (a last page
    larger than the gateway's small-answer limit), "slow" (answer after 0.3 s)."""

    def __init__(self) -> None:
        self.plan: list[str] = []
        self.post_plan: list[str] = []
        """Like `plan`, for the next statements: "ok", "drop" (close without answering), "slow"."""
        self.polls: list[str] = []
        self.posts = 0
        """Statements received (answered or not)."""
        self.bodies: list[bytes] = []
        self.queries = 0
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> ScriptedCoordinator:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ")
                headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
                if int(headers.get("content-length", "0")):
                    self.bodies.append(await reader.readexactly(int(headers["content-length"])))
                if not await self._answer(method, target, headers, writer):
                    writer.transport.abort()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def _answer(self, method: str, target: str, headers: dict[str, str], writer: asyncio.StreamWriter) -> bool:
        base = f"{headers.get('x-forwarded-proto', 'http')}://{headers.get('x-forwarded-host', headers['host'])}"
        if target == "/v1/info":
            return self._json(writer, {"starting": False, "uptime": "5.00m", "coordinator": True})
        if method == "POST" and target == "/v1/statement":
            self.posts += 1
            post_action = self.post_plan.pop(0) if self.post_plan else "ok"
            if post_action == "drop":
                return False
            if post_action == "slow":
                await asyncio.sleep(0.3)
            self.queries += 1
            query_id = f"20261204_000000_{self.queries:05d}_abcde"
            return self._json(writer, {"id": query_id, "infoUri": f"{base}/ui/query.html?{query_id}",
                                       "nextUri": f"{base}/v1/statement/executing/{query_id}/y1/1",
                                       "stats": {"state": "QUEUED"}})
        parts = target.split("/")  # /v1/statement/executing/<id>/<slug>/<token>
        if method != "GET" or len(parts) != 7:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return True
        self.polls.append(target)
        action = self.plan.pop(0) if self.plan else "ok"
        query_id, token = parts[4], int(parts[6])
        page: dict[str, Any] = {"id": query_id, "columns": [{"name": "x", "type": "integer"}], "data": [[token]],
                                "stats": {"state": "RUNNING"}}
        if token < PAGES and action != "big":
            page = {"id": query_id, "nextUri": f"{base}/v1/statement/executing/{query_id}/y1/{token + 1}", **page}
        else:
            page["stats"]["state"] = "FINISHED"
        if action == "drop":
            return False
        if action == "break":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"id\"")
            return False
        if action == "big":
            page["data"] = [["x" * 1000] for _ in range(SMALL_BODY // 1000 + 50)]
        if action == "slow":
            await asyncio.sleep(0.3)
        return self._json(writer, page, EXTRA_HEADERS.get(action, b""))

    @staticmethod
    def _json(writer: asyncio.StreamWriter, document: dict[str, Any], extra: bytes = b"") -> bool:
        body = json.dumps(document).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
                     % (extra, len(body), body))
        return True


EXTRA_HEADERS = {
    "headers": b"Keep-Alive: timeout=5\r\nConnection: keep-alive\r\nX-Trino-Set-Session: a=1\r\n"
               b"X-Trino-Set-Session: b=2\r\nX-Note: caf\xe9\r\nTrailer: X-Later\r\n",
    "named": b"Connection: keep-alive, X-Hop\r\nX-Hop: only-for-the-gateway\r\nX-Trino-Set-Catalog: tpch\r\n",
}
"""Poll plan actions that add header lines to the page (hop-by-hop ones among them)."""


@pytest.fixture
async def coordinator() -> AsyncIterator[ScriptedCoordinator]:
    async with ScriptedCoordinator() as found:
        yield found


@pytest.fixture
async def gw(coordinator: ScriptedCoordinator, routes_cm: RoutesConfigMap,
             start_gateway: GatewayFactory) -> AsyncIterator[RunningGateway]:
    await routes_cm.write(route(routes_cm.namespace, "one", coordinator.url, default=True))
    async with start_gateway() as running:
        yield running


def fast_path(gw: RunningGateway) -> FastProxy:
    found = gw.serving.public.fast
    assert isinstance(found, FastProxy), "the gateway serves without its fast path"
    return found


async def run_query(session: aiohttp.ClientSession, gw: RunningGateway, **headers: str) -> list[tuple[int, Any]]:
    """POST a statement and follow its nextUri to the end: (status, page or text) of every poll."""
    async with session.post(f"{gw.url}/v1/statement", data="SELECT 1", headers={**USER, **headers}) as response:
        assert response.status == 200, await response.text()
        page = await response.json()
    polls = []
    while isinstance(page, dict) and "nextUri" in page:
        async with session.get(page["nextUri"], headers={**USER, **headers}) as response:
            page = await response.json() if response.content_type == "application/json" else await response.text()
            polls.append((response.status, page))
    return polls


async def scripted_query(gw: RunningGateway, coordinator: ScriptedCoordinator, *plan: str) -> tuple[list[tuple[int, Any]], int]:
    """One query to warm the fast path (an idle keep-alive backend connection), then a query whose polls
    follow `plan`: its polls as run_query gives them, and how many polls the coordinator received for it."""
    async with aiohttp.ClientSession() as session:
        await run_query(session, gw)
        coordinator.plan = list(plan)
        before = len(coordinator.polls)
        polls = await run_query(session, gw)
    return polls, len(coordinator.polls) - before


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "pipeline-only"])
async def test_polls_take_the_fast_path_and_are_accounted_as_the_pipeline_accounts_them(
    coordinator: ScriptedCoordinator, routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], fast: bool
) -> None:
    await routes_cm.write(route(routes_cm.namespace, "one", coordinator.url, default=True))
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)  # the access log is written only when INFO is on
    key = f"{routes_cm.namespace}/one"
    async with start_gateway(fastPath=fast) as gw, aiohttp.ClientSession() as session:
        polls = await run_query(session, gw)
        assert [page["data"] for _, page in polls] == [[[t]] for t in range(1, PAGES + 1)]
        assert gw.metric("xtrinode_gateway_requests_total", route=key, kind="follow_up", status="200") == PAGES
        assert gw.metric("xtrinode_gateway_request_duration_seconds_count", kind="follow_up") == PAGES
        assert gw.metric("xtrinode_gateway_upstream_duration_seconds_count", kind="follow_up") == PAGES
        assert gw.metric("xtrinode_gateway_sticky_hits_total", source="local") == PAGES
        assert gw.metric("xtrinode_gateway_inflight_queries", namespace=routes_cm.namespace, xtrinode="one",
                         routing_group="adhoc", state="running") == 0, "the last page ended the query"
        if fast:
            # the first poll on the connection runs the pipeline (its header lines are judged then); the rest are fast
            assert fast_path(gw).taken == PAGES - 1
        else:
            assert gw.serving.public.fast is None
    # the gateway is closed: its access log was flushed
    lines = [json.loads(text) for text in capsys.readouterr().err.splitlines() if text.startswith("{")]
    polled = [line for line in lines if line.get("logger") == ACCESS_LOGGER and line.get("method") == "GET"
              and str(line.get("path")).startswith("/v1/statement/executing/")]
    assert len(polled) == PAGES and {line["status"] for line in polled} == {200}
    assert {line["runtime"] for line in polled} == {key} and {line["principal"] for line in polled} == {None}
    assert all(line["query_id"] == polls[0][1]["id"] for line in polled)


async def _read_answer(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    return head + await reader.readexactly(length)


async def _exchange(port: int, payload: bytes, answers: int) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        return [await _read_answer(reader) for _ in range(answers)]
    finally:
        writer.close()


def _body(answer: bytes) -> Any:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


STATEMENT = b"POST /v1/statement HTTP/1.1\r\nHost: gw\r\nX-Trino-User: alice\r\nContent-Length: 8\r\n\r\nSELECT 1"


def _poll(next_uri: str, token: int) -> bytes:
    path = "/" + next_uri.split("//", 1)[1].split("/", 1)[1].rsplit("/", 1)[0] + f"/{token}"
    return f"GET {path} HTTP/1.1\r\nHost: gw\r\nX-Trino-User: alice\r\n\r\n".encode()


async def test_pipelined_polls_and_a_statement_behind_them_are_answered_in_order(gw: RunningGateway) -> None:
    first = _body((await _exchange(gw.port, STATEMENT, 1))[0])
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    try:
        writer.write(_poll(first["nextUri"], 1))  # the connection's header lines are judged (pipeline)
        assert _body(await _read_answer(reader))["data"] == [[1]]
        # one write: the first poll is taken by the fast path, the rest queue behind it and keep their order
        writer.write(b"".join(_poll(first["nextUri"], token) for token in (2, 3, 1, 2)) + STATEMENT)
        bodies = [_body(await _read_answer(reader)) for _ in range(5)]
    finally:
        writer.close()
    assert [b.get("data") for b in bodies[:4]] == [[[2]], [[3]], [[1]], [[2]]]
    assert bodies[4]["id"] != first["id"] and bodies[4]["stats"]["state"] == "QUEUED"
    assert fast_path(gw).taken == 1


async def test_a_poll_whose_reused_backend_connection_died_unanswered_is_sent_again(
    gw: RunningGateway, coordinator: ScriptedCoordinator
) -> None:
    polls, received = await scripted_query(gw, coordinator, "ok", "drop")
    assert [status for status, _ in polls] == [200] * PAGES, polls
    assert [page["data"] for _, page in polls] == [[[t]] for t in range(1, PAGES + 1)]
    assert received == PAGES + 1, "the dropped poll was sent once more"
    assert fast_path(gw).resent == 1


async def test_a_backend_that_breaks_mid_answer_is_a_502_and_the_poll_is_not_sent_twice(
    gw: RunningGateway, coordinator: ScriptedCoordinator, routes_cm: RoutesConfigMap
) -> None:
    polls, received = await scripted_query(gw, coordinator, "ok", "break")
    assert [status for status, _ in polls] == [200, 502], polls
    assert "failed" in polls[1][1] and coordinator.url.split("//")[1] in polls[1][1]
    assert received == 2, "the broken poll reached the backend: it is not sent again"
    assert fast_path(gw).resent == 0
    assert gw.metric("xtrinode_gateway_requests_total", route=f"{routes_cm.namespace}/one", kind="follow_up",
                     status="502") == 1


async def test_a_page_larger_than_the_small_answer_limit_streams_whole(
    gw: RunningGateway, coordinator: ScriptedCoordinator, routes_cm: RoutesConfigMap
) -> None:
    polls, _ = await scripted_query(gw, coordinator, "ok", "big")
    assert [status for status, _ in polls] == [200, 200]
    big = polls[1][1]
    assert len(big["data"]) == SMALL_BODY // 1000 + 50 and big["stats"]["state"] == "FINISHED"
    assert gw.metric("xtrinode_gateway_inflight_queries", namespace=routes_cm.namespace, xtrinode="one",
                     routing_group="adhoc", state="running") == 0, "the streamed last page ended the query"


async def test_a_client_that_leaves_while_its_poll_is_upstream_harms_nothing_after_it(
    gw: RunningGateway, coordinator: ScriptedCoordinator
) -> None:
    async with aiohttp.ClientSession() as session:
        await run_query(session, gw)
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(STATEMENT)
        page = _body(await _read_answer(reader))
        writer.write(_poll(page["nextUri"], 1))
        await _read_answer(reader)
        coordinator.plan = ["slow"]
        taken = fast_path(gw).taken
        writer.write(_poll(page["nextUri"], 2))  # taken by the fast path (the connection's lines are known)
        await asyncio.sleep(0.05)
        assert fast_path(gw).taken == taken + 1
        writer.transport.abort()  # gone while its poll waits upstream
        await asyncio.sleep(0.5)
        assert gw.serving.public.in_flight == 0
        polls = await run_query(session, gw)
    assert [status for status, _ in polls] == [200] * PAGES


async def test_with_api_keys_polls_take_the_fast_path_and_a_wrong_key_is_still_refused(
    coordinator: ScriptedCoordinator, routes_cm: RoutesConfigMap, start_gateway: GatewayFactory
) -> None:
    await routes_cm.write(route(routes_cm.namespace, "one", coordinator.url, default=True))
    auth = {"enabled": True, "type": "apiKey", "apiKeys": {"inline": {"alice": "s3cret-key-a"}}}
    async with start_gateway(auth=auth) as gw, aiohttp.ClientSession() as session:
        polls = await run_query(session, gw, **{"X-API-Key": "s3cret-key-a"})
        assert [status for status, _ in polls] == [200] * PAGES
        assert fast_path(gw).taken == PAGES - 1
        async with session.post(f"{gw.url}/v1/statement", data="SELECT 1",
                                headers={**USER, "X-API-Key": "s3cret-key-a"}) as response:
            page = await response.json()
        for _ in range(2):  # the same header lines as an accepted poll except the key
            async with session.get(page["nextUri"], headers={**USER, "X-API-Key": "not-the-key"}) as response:
                assert response.status == 401
        assert fast_path(gw).taken == PAGES - 1
        assert gw.metric("xtrinode_gateway_auth_failed_total", reason="bad_key") == 2


# -- new statements ----------------------------------------------------------------------------------------
async def post_statement(session: aiohttp.ClientSession, gw: RunningGateway) -> tuple[int, Any, dict[str, str]]:
    """POST `SELECT 1` (the same header lines each time, so the connection's verdict is memoised after the first)."""
    async with session.post(f"{gw.url}/v1/statement", data="SELECT 1", headers=USER) as response:
        page = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, page, dict(response.headers)


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "pipeline-only"])
async def test_statements_take_the_fast_path_and_are_accounted_as_the_pipeline_accounts_them(
    coordinator: ScriptedCoordinator, routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], fast: bool
) -> None:
    await routes_cm.write(route(routes_cm.namespace, "one", coordinator.url, default=True))
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    key, inflight = f"{routes_cm.namespace}/one", {"namespace": routes_cm.namespace, "xtrinode": "one",
                                                     "routing_group": "adhoc", "state": "running"}
    async with start_gateway(fastPath=fast) as gw, aiohttp.ClientSession() as session:
        for _ in range(3):
            assert [status for status, _ in await run_query(session, gw)] == [200] * PAGES
        status, page, _ = await post_statement(session, gw)
        assert status == 200 and page["stats"]["state"] == "QUEUED"
        assert gw.metric("xtrinode_gateway_inflight_queries", **inflight) == 1, "a started query is counted in flight"
        polls = await run_query(session, gw)  # the gateway knows the query: its polls follow it to its coordinator
        assert gw.metric("xtrinode_gateway_inflight_queries", **inflight) == 1
        async with session.get(page["nextUri"], headers=USER) as response:
            assert response.status == 200  # the sticky route of the 4th query, learned from its first page
        assert gw.metric("xtrinode_gateway_requests_total", route=key, kind="statement", status="200") == 5
        assert gw.metric("xtrinode_gateway_request_duration_seconds_count", kind="statement") == 5
        assert gw.metric("xtrinode_gateway_upstream_duration_seconds_count", kind="statement") == 5
        assert gw.metric("xtrinode_gateway_requests_total", route=key, kind="follow_up", status="200") == 4 * PAGES + 1
        assert polls and coordinator.posts == coordinator.queries == 5
        if fast:
            # each POST header set is judged by the pipeline once per connection; the later POSTs are fast
            assert fast_path(gw).statements == 4
        else:
            assert gw.serving.public.fast is None
    lines = [json.loads(text) for text in capsys.readouterr().err.splitlines() if text.startswith("{")]
    posted = [line for line in lines if line.get("logger") == ACCESS_LOGGER and line.get("method") == "POST"]
    assert len(posted) == 5 and {line["status"] for line in posted} == {200}
    assert {line["runtime"] for line in posted} == {key} and posted[3]["query_id"] == page["id"]
    assert len({line["query_id"] for line in posted}) == 5


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "pipeline-only"])
async def test_a_fast_statement_takes_one_rate_limit_token_and_a_refusal_is_the_pipelines_429(
    coordinator: ScriptedCoordinator, routes_cm: RoutesConfigMap, start_gateway: GatewayFactory, fast: bool
) -> None:
    await routes_cm.write(route(routes_cm.namespace, "one", coordinator.url, default=True))
    limits = {"enabled": True, "perPrincipal": {"ratePerSecond": 0.01, "burst": 3}, "perRuntime": None}
    async with start_gateway(fastPath=fast, rateLimit=limits) as gw, aiohttp.ClientSession() as session:
        answers = [await post_statement(session, gw) for _ in range(5)]
        assert [status for status, _, _ in answers] == [200, 200, 200, 429, 429]
        assert "Too many statements (principal limit)" in answers[3][1] and int(answers[3][2]["Retry-After"]) >= 1
        assert gw.metric("xtrinode_gateway_rate_limited_total", scope="principal") == 2
        assert coordinator.posts == 3
        if fast:
            assert fast_path(gw).statements == 2


async def test_a_statement_is_never_sent_twice_when_its_reused_backend_connection_dies_unanswered(
    gw: RunningGateway, coordinator: ScriptedCoordinator
) -> None:
    async with aiohttp.ClientSession() as session:
        await run_query(session, gw)
        coordinator.post_plan = ["drop"]
        status, page, _ = await post_statement(session, gw)
        assert fast_path(gw).statements == 1
        assert status == 200 and page["stats"]["state"] == "FAILED"
        assert "it may have started, so check before running it again" in page["error"]["message"]
        assert coordinator.posts == 2, "the statement reached the backend once, and was not sent again"
        status, page, _ = await post_statement(session, gw)  # the next one goes out on a new connection
        assert status == 200 and page["stats"]["state"] == "QUEUED"
        assert coordinator.posts == 3


async def test_a_statement_that_finds_no_idle_backend_connection_is_submitted_with_its_one_token(
    coordinator: ScriptedCoordinator, routes_cm: RoutesConfigMap, start_gateway: GatewayFactory
) -> None:
    await routes_cm.write(route(routes_cm.namespace, "one", coordinator.url, default=True))
    limits = {"enabled": True, "perPrincipal": {"ratePerSecond": 0.01, "burst": 2}, "perRuntime": None}
    async with start_gateway(rateLimit=limits) as gw, aiohttp.ClientSession() as session:
        status, page, _ = await post_statement(session, gw)  # the pipeline; one backend connection, now idle
        assert status == 200
        coordinator.plan = ["slow"]
        async with aiohttp.ClientSession() as other:  # its poll holds the only backend connection for 0.3 s
            poll = asyncio.create_task(other.get(page["nextUri"], headers=USER))
            await asyncio.sleep(0.1)
            status, second, _ = await post_statement(session, gw)
            assert status == 200 and second["stats"]["state"] == "QUEUED"
            assert not poll.done(), "the statement did not wait for the busy backend connection"
            (await poll).release()
        assert fast_path(gw).statements == 0
        status, _, _ = await post_statement(session, gw)
        assert status == 429, "the statement that connected afresh took one token, not two"
        assert gw.metric("xtrinode_gateway_requests_total", route=f"{routes_cm.namespace}/one", kind="statement",
                         status="200") == 2
        async with session.get(second["nextUri"], headers=USER) as response:
            assert response.status == 200 and (await response.json())["data"] == [[1]]


async def test_with_redis_a_fast_statements_route_is_shared_before_its_first_page_is_answered(
    coordinator: ScriptedCoordinator, routes_cm: RoutesConfigMap, start_gateway: GatewayFactory, redis_url: str
) -> None:
    await routes_cm.write(route(routes_cm.namespace, "one", coordinator.url, default=True))
    prefix = f"fast:{routes_cm.namespace}:"
    shared = {"redis": {"url": redis_url, "keyPrefix": prefix}}
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with start_gateway(**shared) as gw1, start_gateway(**shared) as gw2, aiohttp.ClientSession() as session:
            await run_query(session, gw1)
            status, page, _ = await post_statement(session, gw1)
            assert status == 200 and fast_path(gw1).statements == 1
            assert await client.get(f"{prefix}q:{page['id']}") is not None, "written before the page was answered"
            async with session.get(page["nextUri"].replace(gw1.url, gw2.url), headers=USER) as response:
                assert response.status == 200 and (await response.json())["data"] == [[1]]
            assert gw2.metric("xtrinode_gateway_sticky_hits_total", source="redis") == 1
    finally:
        await client.aclose()


async def test_statements_to_a_runtime_that_is_not_running_are_left_to_the_pipeline(
    coordinator: ScriptedCoordinator, routes_cm: RoutesConfigMap, start_gateway: GatewayFactory
) -> None:
    await routes_cm.write(route(routes_cm.namespace, "one", coordinator.url, default=True, state="PAUSED"))
    async with start_gateway(resume={"enabled": False}) as gw, aiohttp.ClientSession() as session:
        for _ in range(3):
            status, page, _ = await post_statement(session, gw)
            assert status == 200 and page["error"]["errorName"] == "NO_NODES_AVAILABLE"
            assert "is PAUSED" in page["error"]["message"]
        assert fast_path(gw).statements == 0 and coordinator.posts == 0


async def test_statements_of_different_lengths_share_the_connections_verdict_and_keep_their_own_bodies(
    gw: RunningGateway, coordinator: ScriptedCoordinator
) -> None:
    sqls = ["SELECT 22", "SELECT 1", "SELECT 333 -- " + "x" * 300, "SELECT 4444"]
    async with aiohttp.ClientSession() as session:
        await run_query(session, gw)  # the poll lines and the POST lines of this connection are judged
        pages = []
        for sql in sqls:
            async with session.post(f"{gw.url}/v1/statement", data=sql, headers=USER) as response:
                assert response.status == 200
                pages.append(await response.json())
        assert fast_path(gw).statements == len(sqls), "only the Content-Length differed: the verdict stood"
        assert coordinator.bodies[-len(sqls):] == [sql.encode() for sql in sqls]
        taken = fast_path(gw).taken
        async with session.get(pages[-1]["nextUri"], headers=USER) as response:
            assert response.status == 200
        assert fast_path(gw).taken == taken + 1, "the poll lines were kept while statement lengths varied"
    # the same lines but a second X-Trino-User: judged afresh, and refused
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    try:
        for sql, extra in ((b"SELECT 1", b""), (b"SELECT 55", b"X-Trino-User: mallory\r\n")):
            writer.write(b"POST /v1/statement HTTP/1.1\r\nHost: gw\r\nX-Trino-User: alice\r\n" + extra
                         + b"Content-Length: %d\r\n\r\n%s" % (len(sql), sql))
            answer = await _read_answer(reader)
        assert answer.startswith(b"HTTP/1.1 400 ") and b"X-Trino-User" in answer
    finally:
        writer.close()
    assert coordinator.bodies[-1] == b"SELECT 1"


def _header_lines(answer: bytes) -> list[bytes]:
    return answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]


async def test_answer_headers_pass_as_they_came_without_hop_by_hop_ones_or_those_connection_names(
    gw: RunningGateway, coordinator: ScriptedCoordinator
) -> None:
    first = _body((await _exchange(gw.port, STATEMENT, 1))[0])
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    try:
        answers = []
        for token, action in enumerate(("ok", "headers", "named"), start=1):
            coordinator.plan = [action]
            writer.write(_poll(first["nextUri"], token))
            answers.append(await _read_answer(reader))
    finally:
        writer.close()
    assert fast_path(gw).taken == 2, "the second and third polls took the fast path"
    plain, passed, named = (_header_lines(answer) for answer in answers)
    assert plain == [b"Content-Type: application/json", b"Content-Length: %d" % len(answers[0].split(b"\r\n\r\n")[1])]
    assert passed[:4] == [b"Content-Type: application/json", b"X-Trino-Set-Session: a=1", b"X-Trino-Set-Session: b=2",
                          b"X-Note: caf\xe9"], "in order, repeated ones kept, bytes as they came"
    assert not [line for line in passed if line.split(b":")[0].lower() in (b"keep-alive", b"connection", b"trailer")]
    assert named[:2] == [b"Content-Type: application/json", b"X-Trino-Set-Catalog: tpch"]
    assert not [line for line in named if line.lower().startswith((b"x-hop", b"connection"))]
    assert [_body(answer)["data"] for answer in answers] == [[[1]], [[2]], [[3]]]


async def test_with_oauth_polls_and_statements_take_the_fast_path_and_an_expired_token_is_refused(
    coordinator: ScriptedCoordinator, routes_cm: RoutesConfigMap, start_gateway: GatewayFactory
) -> None:
    await routes_cm.write(route(routes_cm.namespace, "one", coordinator.url, default=True))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with serve_idp(IdP(keys=[public_jwk(key, "a")])) as idp:
        oauth = {"issuer": idp.issuer, "audience": AUDIENCE, "jwksURL": idp.url + "/jwks", "leeway": "0s"}
        async with start_gateway(auth={"enabled": True, "type": "oauth", "oauth": oauth}) as gw, \
                aiohttp.ClientSession() as session:
            expires = int(time.time()) + 4
            token = {"Authorization": "Bearer " + sign(key, claims(idp, exp=expires))}
            for _ in range(2):
                assert [status for status, _ in await run_query(session, gw, **token)] == [200] * PAGES
            assert fast_path(gw).taken == 2 * PAGES - 1 and fast_path(gw).statements == 1
            async with session.post(f"{gw.url}/v1/statement", data="SELECT 1", headers={**USER, **token}) as response:
                page = await response.json()
            await asyncio.sleep(max(0.0, expires + 1.1 - time.time()))  # past the token's exp (no leeway)
            for _ in range(2):  # the same header lines as the accepted polls: checked again, and refused
                async with session.get(page["nextUri"], headers={**USER, **token}) as response:
                    assert response.status == 401 and "expired" in await response.text()
            assert gw.metric("xtrinode_gateway_auth_failed_total", reason="expired") == 2
            assert fast_path(gw).taken == 2 * PAGES - 1
