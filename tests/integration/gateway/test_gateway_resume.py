"""Transparent resume: held statements, the `resume` update on the real Temporal dev server, FAILED pages.

A stub `RuntimeWorkflow` (own task queue) answers the update `resume` by starting a Trino emulator
coordinator in an activity and writing the route RUNNING to the routes ConfigMap, as the lifecycle does.
Checks: a plain trino client query to a PAUSED runtime returns its rows with no error (and /metrics
serves every SPEC gateway metric with its labels, the resume counted and its duration observed); ten concurrent
clients cause ONE update; a failing resume gives a FAILED result naming the runtime and the reason; a
resume that takes longer than resume.timeout fails within that limit (INSUFFICIENT_RESOURCES); a held
statement is counted as demand and DELETE cancels it (204), after which its URI answers Trino's FAILED
USER_CANCELED page; a statement cancelled before its first poll never asks for a resume (as Trino submits
on the first poll); a hold nobody polls is abandoned; the client's query id (the gateway's) answers
`/v1/query/<id>` once the statement runs on the coordinator; a runtime suspended again right after a
resume is resumed again at once (no wait on an earlier answer); twenty statements held on one resume
probe its starting coordinator's `/v1/info` about as often as one; with `resume.via: apiServer` the same
query resumes the runtime through the API server (the gateway's token file), and a token without the
resume scope gives a FAILED result that says so.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import trino

from tests.metrics_catalog import GATEWAY, Scraped
import yaml
from aiohttp import web
from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from gateway_helpers import GatewayFactory, RoutesConfigMap, connect, coordinator_settings, eventually, fetch_all, route
from devstack.trino import TrinoNode
from xtrinode.lifecycle import ResumeRequest, RuntimeStatus, workflow_id_for
from devstack.ports import free_port as _free_port

USER = {"X-Trino-User": "alice"}


class StubConfig(BaseModel):
    namespace: str
    name: str
    fail: str | None = None
    delay_seconds: float = 0.0
    early_port: int | None = None
    """Start the coordinator on this port before the delay (a real resume starts it long before Ready) and
    route the runtime RUNNING to it afterwards, instead of starting one at the end."""
    early_needs_worker: bool = False
    """The early coordinator schedules on workers only (`query-manager.required-workers` 1, none come)."""


@workflow.defn(name="RuntimeWorkflow")
class StubRuntimeWorkflow:
    """Just enough of the lifecycle: `resume` starts the backend (activity) and returns a RuntimeStatus."""

    @workflow.init
    def __init__(self, config: StubConfig) -> None:
        self.config = config
        self.resumes = 0

    @workflow.run
    async def run(self, config: StubConfig) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update(name="resume")
    async def resume(self, request: ResumeRequest) -> RuntimeStatus:
        self.resumes += 1
        if self.config.early_port is not None:
            await workflow.execute_activity(
                "start_coordinator", self.config, start_to_close_timeout=timedelta(seconds=30))
        if self.config.delay_seconds:
            await asyncio.sleep(self.config.delay_seconds)
        if self.config.fail:
            raise ApplicationError(self.config.fail, type="ResumeFailed", non_retryable=True)
        url = await workflow.execute_activity(
            "start_backend", self.config, result_type=str, start_to_close_timeout=timedelta(seconds=30)
        )
        return RuntimeStatus(namespace=self.config.namespace, name=self.config.name, phase="Ready", coordinator_url=url)

    @workflow.query(name="resumes")
    def resume_count(self) -> int:
        return self.resumes


class Backends:
    """The activity side: starts coordinators in-process and routes them RUNNING; stops them after the test."""

    def __init__(self, routes_cm: RoutesConfigMap) -> None:
        self.routes_cm = routes_cm
        self.nodes: list[TrinoNode] = []

    @activity.defn(name="start_backend")
    async def start_backend(self, config: StubConfig) -> str:
        if config.early_port is not None:
            url = f"http://127.0.0.1:{config.early_port}"
        else:
            node = TrinoNode(coordinator_settings())
            await node.start()
            self.nodes.append(node)
            url = node.url
        await self.routes_cm.write(route(config.namespace, config.name, url, default=True))
        return url

    @activity.defn(name="start_coordinator")
    async def start_coordinator(self, config: StubConfig) -> None:
        assert config.early_port is not None
        extra = {"include_coordinator": False, "required_workers": 1} if config.early_needs_worker else {}
        node = TrinoNode(coordinator_settings(port=config.early_port, **extra))
        await node.start()
        self.nodes.append(node)


Runtime = Callable[..., Awaitable[WorkflowHandle[Any, Any]]]


@pytest.fixture
async def runtime(
    temporal_client: Client, task_queue: str, routes_cm: RoutesConfigMap
) -> AsyncIterator[Runtime]:
    """`await runtime(**StubConfig fields)`: a PAUSED route plus its stub workflow on a worker."""
    backends = Backends(routes_cm)
    handles: list[WorkflowHandle[Any, Any]] = []
    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[StubRuntimeWorkflow],
        activities=[backends.start_backend, backends.start_coordinator],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):

        async def make(name: str = "sleepy", backend: str = "http://127.0.0.1:9", **config: Any) -> WorkflowHandle[Any, Any]:
            ns = routes_cm.namespace
            await routes_cm.write(route(ns, name, backend, state="PAUSED", default=True))
            handle = await temporal_client.start_workflow(
                "RuntimeWorkflow", StubConfig(namespace=ns, name=name, **config),
                id=workflow_id_for(ns, name), task_queue=task_queue,
            )
            handles.append(handle)
            return handle

        try:
            yield make
        finally:
            for handle in handles:
                await handle.terminate("test over")
    for node in backends.nodes:
        await node.stop()


@pytest.fixture
def temporal_section(temporal_client: Client) -> dict[str, str]:
    return {"address": temporal_client.service_client.config.target_host, "namespace": temporal_client.namespace}


async def resumes(handle: WorkflowHandle[Any, Any]) -> int:
    count: int = await handle.query("resumes", result_type=int)
    return count


async def test_a_plain_query_to_a_paused_runtime_returns_its_rows(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_section: dict[str, str], routes_cm: RoutesConfigMap
) -> None:
    handle = await runtime()
    async with start_gateway(temporal=temporal_section) as gw:
        rows = await asyncio.to_thread(fetch_all, gw.port, "SELECT x FROM UNNEST(sequence(1, 120)) AS t(x)")
        assert rows == [[x] for x in range(1, 121)]
        assert await resumes(handle) == 1
        labels = {"namespace": routes_cm.namespace, "xtrinode": "sleepy"}
        assert gw.metric("xtrinode_gateway_held_statements_total", **labels, outcome="submitted") == 1
        assert gw.metric("xtrinode_gateway_inflight_queries", **labels, routing_group="adhoc", state="held") == 0
        async with aiohttp.ClientSession() as http, http.get(gw.url + "/metrics") as response:
            page = Scraped.parse(await response.text())
        assert page.problems(GATEWAY) == []  # every SPEC section 4 metric, with its labels
        assert page.value("xtrinode_gateway_resume_requests_total", **labels, outcome="ok") == 1
        assert page.value("xtrinode_gateway_resume_duration_seconds_count", outcome="ok") == 1
        assert page.value("xtrinode_gateway_resume_duration_seconds_sum", outcome="ok") > 0
        assert page.value("xtrinode_gateway_requests_total", route=f"{routes_cm.namespace}/sleepy") >= 2
        assert page.value("xtrinode_gateway_upstream_duration_seconds_count") >= 1


async def test_ten_concurrent_clients_cause_one_resume_update(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_section: dict[str, str], routes_cm: RoutesConfigMap
) -> None:
    handle = await runtime(delay_seconds=0.5)
    loop = asyncio.get_running_loop()
    async with start_gateway(temporal=temporal_section) as gw:
        with ThreadPoolExecutor(10, thread_name_prefix="gw-test-client") as pool:
            results = await asyncio.gather(
                *(loop.run_in_executor(pool, fetch_all, gw.port, f"SELECT {i}") for i in range(10))
            )
        assert sorted(r[0][0] for r in results) == list(range(10))
        assert await resumes(handle) == 1
        labels = {"namespace": routes_cm.namespace, "xtrinode": "sleepy"}
        assert gw.metric("xtrinode_gateway_resume_requests_total", **labels, outcome="ok") == 1
        assert gw.metric("xtrinode_gateway_held_statements_total", **labels, outcome="submitted") == 10


async def test_a_failing_resume_gives_a_failed_result_naming_the_runtime_and_reason(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_section: dict[str, str], routes_cm: RoutesConfigMap
) -> None:
    await runtime(fail="coordinator image pull failed: ErrImagePull")
    async with start_gateway(temporal=temporal_section) as gw:
        with pytest.raises(trino.exceptions.TrinoQueryError) as info:
            await asyncio.to_thread(fetch_all, gw.port, "SELECT 1")
        message = str(info.value)
        assert f"{routes_cm.namespace}/sleepy" in message and "ErrImagePull" in message
        assert info.value.error_type == "INTERNAL_ERROR"


async def test_a_resume_slower_than_the_timeout_fails_within_the_limit(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_section: dict[str, str], routes_cm: RoutesConfigMap
) -> None:
    await runtime(delay_seconds=30)
    async with start_gateway(temporal=temporal_section, resume={"timeout": "2s"}) as gw:
        started = time.monotonic()
        with pytest.raises(trino.exceptions.TrinoQueryError) as info:
            await asyncio.to_thread(fetch_all, gw.port, "SELECT 1")
        assert time.monotonic() - started < 6
        assert info.value.error_type == "INSUFFICIENT_RESOURCES"
        assert f"{routes_cm.namespace}/sleepy" in str(info.value) and "within 2s" in str(info.value)


async def test_held_statements_count_as_demand_and_delete_cancels_them(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_section: dict[str, str], routes_cm: RoutesConfigMap,
    http: aiohttp.ClientSession,
) -> None:
    await runtime(delay_seconds=30)
    ns = routes_cm.namespace
    async with start_gateway(temporal=temporal_section) as gw:
        async with http.post(f"{gw.url}/v1/statement", data="SELECT 1", headers=USER) as response:
            page: dict[str, Any] = await response.json()
        assert page["stats"]["state"] == "QUEUED" and page["nextUri"].startswith(f"{gw.url}/v1/statement/queued/")
        async with http.get(page["nextUri"], headers=USER) as response:
            page = await response.json()
        assert page["stats"]["state"] == "QUEUED" and page["nextUri"].endswith("/2")
        async with http.get(f"{gw.internal_url}/v1/xtrinode/demand/{ns}/sleepy") as response:
            assert await response.json() == {"held": 1, "inflight": 0}
        async with http.get(f"{gw.internal_url}/v1/xtrinode/load/{ns}/sleepy") as response:
            assert await response.json() == {"inflight": 1}
        async with http.delete(page["nextUri"], headers=USER) as response:
            assert response.status == 204
        async with http.get(f"{gw.internal_url}/v1/xtrinode/demand/{ns}/sleepy") as response:
            assert await response.json() == {"held": 0, "inflight": 0}
        assert gw.metric("xtrinode_gateway_held_statements_total", namespace=ns, xtrinode="sleepy", outcome="canceled") == 1
        async with http.get(page["nextUri"], headers=USER) as response:
            assert response.status == 200
            cancelled = await response.json()
        assert "nextUri" not in cancelled and cancelled["stats"]["state"] == "FAILED"
        assert (cancelled["error"]["errorName"], cancelled["error"]["message"]) == ("USER_CANCELED", "Query was canceled")


async def test_a_statement_cancelled_before_its_first_poll_never_asks_for_a_resume(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_section: dict[str, str], http: aiohttp.ClientSession,
) -> None:
    handle = await runtime()
    async with start_gateway(temporal=temporal_section) as gw:
        async with http.post(f"{gw.url}/v1/statement", data="SELECT 1", headers=USER) as response:
            page: dict[str, Any] = await response.json()
        async with http.delete(page["nextUri"], headers=USER) as response:
            assert response.status == 204
        await asyncio.sleep(0.5)
        assert await resumes(handle) == 0, "nobody waits: the runtime stays suspended"
        assert gw.metric("xtrinode_gateway_resume_requests_total", namespace=handle.id.split("/")[1],
                         xtrinode="sleepy", outcome="ok") == 0


async def test_the_clients_query_id_answers_v1_query_after_the_resume(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_section: dict[str, str], http: aiohttp.ClientSession,
) -> None:
    await runtime()
    async with start_gateway(temporal=temporal_section) as gw:

        def run() -> str:
            with connect(gw.port) as conn:
                cursor = conn.cursor()
                cursor.execute("SELECT 42")
                assert cursor.fetchall() == [[42]]
                return str(cursor.query_id)

        client_id = await asyncio.to_thread(run)
        async with http.get(f"{gw.url}/v1/query/{client_id}", headers=USER) as response:
            assert response.status == 200, await response.text()
            info = await response.json()
        assert info["queryId"] != client_id, "the gateway's id stands for the coordinator's"
        assert info["state"] == "FINISHED"


async def test_a_runtime_suspended_again_right_after_a_resume_is_resumed_at_once(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_section: dict[str, str], routes_cm: RoutesConfigMap,
) -> None:
    handle = await runtime()
    async with start_gateway(temporal=temporal_section) as gw:
        assert await asyncio.to_thread(fetch_all, gw.port, "SELECT 1") == [[1]]
        await routes_cm.write(route(routes_cm.namespace, "sleepy", "http://127.0.0.1:9", state="PAUSED", default=True))
        await eventually(lambda: _route_paused(gw), "the gateway to see the route PAUSED again")
        started = time.monotonic()
        assert await asyncio.to_thread(fetch_all, gw.port, "SELECT 2") == [[2]]
        assert time.monotonic() - started < 5, "no wait on the earlier resume's answer (resume.settle is 10s)"
        assert await resumes(handle) == 2


async def test_a_held_statement_reaches_the_new_coordinator_before_the_resume_ends(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_section: dict[str, str], http: aiohttp.ClientSession,
) -> None:
    # A real resume starts the coordinator long before Ready (the lifecycle then waits for the workers to
    # register): the statement goes to it at once, Trino analyses it and waits for its workers itself.
    port = _free_port()
    await runtime(backend=f"http://127.0.0.1:{port}", early_port=port, delay_seconds=5)
    async with start_gateway(temporal=temporal_section) as gw:
        running = asyncio.create_task(asyncio.to_thread(fetch_all, gw.port, "SELECT x FROM UNNEST(sequence(1, 120)) AS t(x)"))
        # Listed (as in Trino, only once dispatched by a poll of its first nextUri) while the route is PAUSED.
        await eventually(lambda: _queries(http, port), "the statement on the new coordinator", timeout=20)
        assert await _route_paused(gw), "submitted while the resume was still under way"
        assert await running == [[x] for x in range(1, 121)]
        assert len(await _queries(http, port)) == 1, "submitted once"


async def test_a_resume_that_fails_after_an_early_submission_cancels_the_query(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_section: dict[str, str], routes_cm: RoutesConfigMap,
    http: aiohttp.ClientSession,
) -> None:
    port = _free_port()
    await runtime(backend=f"http://127.0.0.1:{port}", early_port=port, early_needs_worker=True, delay_seconds=3,
                  fail="workers never registered: ImagePullBackOff")
    async with start_gateway(temporal=temporal_section) as gw:
        with pytest.raises(trino.exceptions.TrinoQueryError) as info:
            await asyncio.to_thread(fetch_all, gw.port, "SELECT 1")
        assert "ImagePullBackOff" in str(info.value)
        queries = await _queries(http, port)
        assert len(queries) == 1, "it was submitted early, waiting for a worker"
        assert queries[0]["state"] == "FAILED" and queries[0]["errorCode"]["name"] == "USER_CANCELED"
        labels = {"namespace": routes_cm.namespace, "xtrinode": "sleepy"}
        assert gw.metric("xtrinode_gateway_inflight_queries", **labels, routing_group="adhoc", state="running") == 0


async def test_a_coordinator_older_than_the_hold_gets_no_early_submission(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_section: dict[str, str], http: aiohttp.ClientSession,
) -> None:
    # The route went PAUSED while its old coordinator still drains: that one must not get the statement.
    async with TrinoNode(coordinator_settings()) as draining:
        await asyncio.sleep(1.0)
        await runtime(backend=draining.url, delay_seconds=2)
        async with start_gateway(temporal=temporal_section) as gw:
            assert await asyncio.to_thread(fetch_all, gw.port, "SELECT 7") == [[7]]
        old_port = int(draining.url.rsplit(":", 1)[1])
        assert await _queries(http, old_port) == []


async def test_many_held_statements_probe_the_resuming_coordinator_as_one(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_section: dict[str, str],
) -> None:
    # Every held statement watches for the new coordinator (early submission); a starting JVM must not
    # get a /v1/info request per statement per interval when a whole team's clients wait on one resume.
    infos = 0

    async def info(_: web.Request) -> web.Response:
        nonlocal infos
        infos += 1
        return web.json_response({"starting": True, "uptime": "1.00s"})

    app = web.Application()
    app.router.add_get("/v1/info", info)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        await runtime(backend=f"http://127.0.0.1:{port}", delay_seconds=3)
        loop = asyncio.get_running_loop()
        async with start_gateway(temporal=temporal_section, health={"interval": "1h"}) as gw:
            started = time.monotonic()
            with ThreadPoolExecutor(20, thread_name_prefix="gw-test-client") as pool:
                results = await asyncio.gather(
                    *(loop.run_in_executor(pool, fetch_all, gw.port, f"SELECT {i}") for i in range(20)))
            elapsed = time.monotonic() - started
        assert sorted(r[0][0] for r in results) == list(range(20))
        # One statement alone probes about 4 times a second; twenty did 80 a second before.
        assert infos <= 8 * elapsed + 5, f"{infos} /v1/info requests in {elapsed:.1f}s for 20 held statements"
    finally:
        await runner.cleanup()


async def test_a_held_statement_nobody_polls_is_abandoned(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_section: dict[str, str], routes_cm: RoutesConfigMap,
    http: aiohttp.ClientSession,
) -> None:
    await runtime(delay_seconds=30)
    ns = routes_cm.namespace
    async with start_gateway(temporal=temporal_section, resume={"abandonAfter": "1s"}) as gw:
        async with http.post(f"{gw.url}/v1/statement", data="SELECT 1", headers=USER) as response:
            page: dict[str, Any] = await response.json()
        labels = {"namespace": ns, "xtrinode": "sleepy"}

        async def abandoned() -> float:
            return gw.metric("xtrinode_gateway_held_statements_total", **labels, outcome="abandoned")

        await eventually(abandoned, "the unpolled held statement to be abandoned", timeout=5)
        assert gw.metric("xtrinode_gateway_inflight_queries", **labels, routing_group="adhoc", state="held") == 0
        async with http.get(page["nextUri"], headers=USER) as response:
            assert response.status == 404


async def test_a_running_route_whose_backend_refuses_connections_is_resumed(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_section: dict[str, str], routes_cm: RoutesConfigMap
) -> None:
    handle = await runtime()
    async with TrinoNode(coordinator_settings()) as doomed:
        await routes_cm.write(route(routes_cm.namespace, "sleepy", doomed.url, default=True))
        async with start_gateway(temporal=temporal_section, health={"interval": "1h"}) as gw:
            await eventually(
                lambda: _value(gw.metric("xtrinode_gateway_backend_healthy", backend=doomed.url)), "the first probe"
            )
            await doomed.stop()  # the gateway still thinks it healthy: the POST's connect is refused
            assert await asyncio.to_thread(fetch_all, gw.port, "SELECT 7") == [[7]]
            assert await resumes(handle) == 1
            assert gw.metric("xtrinode_gateway_held_statements_total", namespace=routes_cm.namespace,
                             xtrinode="sleepy", outcome="submitted") == 1


async def _value(value: float) -> float:
    return value


async def _queries(http: aiohttp.ClientSession, port: int) -> list[dict[str, Any]]:
    """The queries a coordinator lists (`GET /v1/query`); [] while it does not answer."""
    try:
        async with http.get(f"http://127.0.0.1:{port}/v1/query", headers=USER) as response:
            return list(await response.json()) if response.status == 200 else []
    except aiohttp.ClientError:
        return []


async def _route_paused(gw: Any) -> bool:
    from gateway.app import ROUTES

    entry = next((r for r in gw.app[ROUTES].routes() if r.name == "sleepy"), None)
    return entry is not None and entry.state == "PAUSED"


async def _api_server(kubeconfig: Path, temporal_client: Client, tokens: Path) -> tuple[web.AppRunner, str]:
    from kubernetes import config as kube_config

    from workers.api import ApiServerSettings, create_app as create_api

    settings = ApiServerSettings.model_validate({"auth": {"tokens": {"file": str(tokens)}}})

    async def connect() -> Client:
        return temporal_client

    app = create_api(settings, connect=connect, kube=kube_config.new_client_from_config(config_file=str(kubeconfig)))
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def _xtrinode(http: aiohttp.ClientSession, kube_url: str, namespace: str, name: str) -> None:
    crd = yaml.safe_load((Path(__file__).resolve().parents[3] / "deploy/crds/xtrinodes.analytics.xtrinode.io.yaml").read_text())
    async with http.post(f"{kube_url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd) as response:
        assert response.status in (201, 409), await response.text()
    body = {"apiVersion": "analytics.xtrinode.io/v1", "kind": "XTrinode", "metadata": {"name": name, "namespace": namespace},
            "spec": {"size": "xs", "maxWorkers": 1, "catalogSelector": {"matchLabels": {"x": "y"}}}}
    async with http.post(f"{kube_url}/apis/analytics.xtrinode.io/v1/namespaces/{namespace}/xtrinodes", json=body) as response:
        assert response.status == 201, await response.text()


@pytest.mark.parametrize("scope", ["resume", "read"])
async def test_resume_through_the_api_server(
    runtime: Runtime, start_gateway: GatewayFactory, temporal_client: Client, routes_cm: RoutesConfigMap,
    kubeconfig: Path, kube: Any, http: aiohttp.ClientSession, tmp_path: Path, scope: str,
) -> None:
    handle = await runtime()
    await _xtrinode(http, kube.url, routes_cm.namespace, "sleepy")
    token = f"gw-{uuid.uuid4().hex}"
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump([{"name": "gateway", "token": token, "scopes": [scope]}]))
    (tmp_path / "gateway-token").write_text(token + "\n")
    runner, api_url = await _api_server(kubeconfig, temporal_client, tokens)
    try:
        resume = {"via": "apiServer", "apiServer": {"url": api_url, "tokenFile": str(tmp_path / "gateway-token")}}
        async with start_gateway(resume=resume) as gw:
            if scope == "resume":
                assert await asyncio.to_thread(fetch_all, gw.port, "SELECT 5") == [[5]]
                assert await resumes(handle) == 1
            else:
                with pytest.raises(trino.exceptions.TrinoQueryError, match="refused the gateway's token"):
                    await asyncio.to_thread(fetch_all, gw.port, "SELECT 5")
                assert await resumes(handle) == 0
    finally:
        await runner.cleanup()
