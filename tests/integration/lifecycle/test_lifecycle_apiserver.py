"""The API server over HTTP against real lifecycle parts (Temporal dev server, Kubernetes API emulator,
kubelet, Trino emulator, operator, lifecycle worker).

Checks: list and status merge the XTrinode status with the workflow's live status and the step running
now, with an ETag (If-None-Match -> 304); suspend and resume with ?wait=true answer with the phase
reached, without it 202 and a Location; 200 parallel resume calls on one suspended runtime all get their
answer and cause one ResumeRuntime; an unknown runtime is 404 with a clear message; a read token cannot
resume (403); a token limited to one namespace cannot see or touch another (404 for GET, resume and
events, and no trace in the list); events list lifecycle steps and Kubernetes Events newest first;
unknown body fields are refused (400); errors are JSON {error, code, requestId}; the OpenAPI document
lists exactly the routes the app serves; the API server's /metrics and this process's (the lifecycle
worker's and the operator's) serve every metric of tests/metrics_catalog.py with its labels, and an
autosuspend (check, transitions, drain, step durations, phase gauge), a resume over the API (resume
counter and latency histogram) and a delete (phase series removed) move them.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from kubernetes import client
from temporalio.client import Client

from tests.metrics_catalog import API_SERVER, LIFECYCLE_WORKER, OPERATOR, Scraped
from workers.api import ApiServerSettings, create_app
from workers.health import HealthServer
from workers.lifecycle import LifecycleWorker
from workers.api.openapi import OPERATIONS
from workers.operator import Operator
from xtrinode.lifecycle import workflow_id_for

from .lifecycle_helpers import Cluster, eventually, runtime_body

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]

TOKENS = {name: f"{name}-{uuid.uuid4().hex}" for name in ("admin", "reader", "team")}


class Api:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url

    async def call(self, method: str, path: str, token: str = "admin", **kw: Any) -> tuple[int, Any, Any]:
        headers = {"Authorization": f"Bearer {TOKENS[token]}", **kw.pop("headers", {})}
        async with self.http.request(method, self.url + path, headers=headers, **kw) as response:
            body = await response.json() if response.content_type == "application/json" else await response.text()
            return response.status, body, response.headers


@pytest.fixture
async def api(api_client: client.ApiClient, temporal_client: Client, tmp_path: Path, namespace: str,
              request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump([
        {"name": "admin", "token": TOKENS["admin"], "scopes": ["admin"]},
        {"name": "reader", "token": TOKENS["reader"], "scopes": ["read"]},
        {"name": "team", "token": TOKENS["team"], "scopes": ["resume"], "namespaces": [namespace]},
    ]))
    settings = ApiServerSettings.model_validate({
        "listen": {"host": "127.0.0.1", "port": 0}, "auth": {"tokens": {"file": str(tokens)}},
        "acceptWait": "300ms"})

    async def connect() -> Client:
        return temporal_client

    app = create_app(settings, connect=connect, kube=api_client)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        async with aiohttp.ClientSession() as http:
            yield Api(http, f"http://127.0.0.1:{runner.addresses[0][1]}")
    finally:
        await runner.cleanup()


@pytest.fixture
def cluster(api_client: client.ApiClient) -> Cluster:
    return Cluster(api_client)


async def _resume_runs(temporal_client: Client, namespace: str, name: str) -> int:
    query = f"ParentWorkflowId = '{workflow_id_for(namespace, name)}' AND WorkflowType = 'ResumeRuntime'"
    return len([w async for w in temporal_client.list_workflows(query)])


async def test_status_suspend_and_resume_over_http(
    api: Api, cluster: Cluster, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    await cluster.create_runtime(namespace, "web")
    status, view, headers = await api.call("GET", f"/v1/runtimes/{namespace}/web", token="reader")
    assert status == 200 and view["phase"] == "Ready" and view["live"] is True
    assert view["workers"] == {"ready": 1, "desired": 1} and view["workflowId"] == f"xtrinode/{namespace}/web"
    assert (await api.call("GET", f"/v1/runtimes/{namespace}/web", token="reader",
                           headers={"If-None-Match": headers["ETag"]}))[0] == 304
    status, listed, _ = await api.call("GET", f"/v1/runtimes?namespace={namespace}", token="reader")
    assert status == 200 and [r["name"] for r in listed["items"]] == ["web"]

    status, body, headers = await api.call("POST", f"/v1/runtimes/{namespace}/web/suspend?wait=true",
                                           json={"reason": "test"})
    assert status == 200 and body["state"] == "done" and body["runtime"]["phase"] == "Suspended", body
    status, body, headers = await api.call("POST", f"/v1/runtimes/{namespace}/web/resume")
    assert status == 202 and body["state"] == "accepted" and headers["Location"] == f"/v1/runtimes/{namespace}/web"

    async def ready() -> bool:
        return (await api.call("GET", headers["Location"], token="reader"))[1]["phase"] == "Ready"

    await eventually(ready, "the runtime Ready after an accepted resume", timeout=60)
    status, events, _ = await api.call("GET", f"/v1/runtimes/{namespace}/web/events", token="reader")
    assert status == 200
    reasons = [e["reason"] for e in events["items"] if e["source"] == "lifecycle"]
    assert reasons[:2] == ["ResumeRuntime", "SuspendRuntime"], reasons
    times = [datetime.fromisoformat(e["time"]) for e in events["items"] if e["time"]]
    assert times == sorted(times, reverse=True), "newest first"
    assert any(e["source"] == "kubernetes" for e in events["items"])


async def test_200_parallel_resumes_of_a_suspended_runtime_make_one_resume(
    api: Api, cluster: Cluster, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    await cluster.create_runtime(namespace, "busy")
    assert (await api.call("POST", f"/v1/runtimes/{namespace}/busy/suspend?wait=true"))[0] == 200
    results = await asyncio.gather(*(api.call("POST", f"/v1/runtimes/{namespace}/busy/resume?wait=true",
                                              token="team") for _ in range(200)))
    assert {status for status, _, _ in results} == {200}, {s for s, b, _ in results if s != 200}
    assert all(body["runtime"]["phase"] == "Ready" for _, body, _ in results)
    await eventually(lambda: _resume_runs(temporal_client, namespace, "busy"), "the ResumeRuntime in visibility")
    assert await _resume_runs(temporal_client, namespace, "busy") == 1


async def test_scopes_namespaces_and_unknown_runtimes(
    api: Api, cluster: Cluster, namespace: str, operator: Operator, api_client: client.ApiClient
) -> None:
    other = f"{namespace}-other"
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": other}})
    await cluster.create_runtime(other, "theirs")
    status, body, headers = await api.call("GET", f"/v1/runtimes/{namespace}/nope")
    assert status == 404 and body["code"] == "not_found" and f"{namespace}/nope" in body["error"]
    assert body["requestId"] == headers["X-Request-Id"]
    status, body, _ = await api.call("POST", f"/v1/runtimes/{other}/theirs/resume", token="reader")
    assert status == 403 and "resume" in body["error"]
    for method, path in (("GET", f"/v1/runtimes/{other}/theirs"), ("POST", f"/v1/runtimes/{other}/theirs/resume"),
                         ("POST", f"/v1/runtimes/{other}/theirs/suspend"), ("GET", f"/v1/runtimes/{other}/theirs/events")):
        status, body, _ = await api.call(method, path, token="team")
        assert status == 404, (method, path, status, body)
    status, listed, _ = await api.call("GET", "/v1/runtimes", token="team")
    assert all(item["namespace"] == namespace for item in listed["items"])
    assert (await api.call("GET", f"/v1/runtimes?namespace={other}", token="team"))[1] == {"items": []}
    status, body, _ = await api.call("POST", f"/v1/runtimes/{other}/theirs/resume", json={"reason": "x", "force": True})
    assert status == 400 and "force" in body["error"]
    status, body, _ = await api.call("GET", "/v1/runtimes", token="reader", headers={"Authorization": "Bearer wrong"})
    assert status == 401 and body["code"] == "unauthorized"


async def test_the_openapi_document_lists_exactly_the_served_routes(api: Api) -> None:
    async with api.http.get(api.url + "/openapi.json") as response:
        document = await response.json()
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    assert documented == set(OPERATIONS)
    app_routes = {(method, path) for method, path, _ in __import__("workers.api.app", fromlist=["ROUTES"]).ROUTES}
    assert documented == app_routes
    assert "RuntimeView" in document["components"]["schemas"]


async def test_methods_a_client_invents_share_one_metric_label(api: Api) -> None:
    """Methods the server does not route are refused and counted as `other`, so a client cannot grow the
    metric's label set (and the scrape) without bound. HTTP's parser knows dozens of WebDAV-style methods
    (they reach the handler as themselves); a token it does not know is refused by the parser with 400."""
    for unrouted in ("PROPFIND", "LOCK", "MKCOL"):
        status, _, _ = await api.call(unrouted, "/v1/runtimes")
        assert status == 405, unrouted
    status, _, _ = await api.call("XYZZY", "/v1/runtimes")
    assert status in (400, 405)
    async with api.http.get(api.url + "/metrics") as response:
        page = await response.text()
    for name in ("PROPFIND", "LOCK", "MKCOL", "XYZZY"):
        assert name not in page
    assert 'method="other"' in page


async def test_a_workflow_nobody_answers_does_not_stall_the_list(
    api: Api, cluster: Cluster, namespace: str, temporal_client: Client
) -> None:
    """A status query sent to a workflow no worker answers (a killed worker's sticky queue waits for
    Temporal's sticky timeout; here no worker polls at all) costs at most `statusTimeout` (2 s): the
    runtime is listed from its XTrinode status with `live: false`."""
    handle = await temporal_client.start_workflow(
        "RuntimeWorkflow", id=workflow_id_for(namespace, "stuck"), task_queue=f"nobody-polls-{uuid.uuid4().hex[:8]}")
    try:
        await cluster.create(runtime_body(namespace, "stuck"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        status, listed, _ = await api.call("GET", f"/v1/runtimes?namespace={namespace}", token="reader")
        took = loop.time() - started
        assert status == 200, listed
        assert [(r["name"], r["live"]) for r in listed["items"]] == [("stuck", False)]
        assert took < 4.5, f"the list waited {took:.1f}s on a workflow nobody answers"
    finally:
        await handle.terminate("test over")


async def test_metrics_of_the_worker_operator_and_api_server_move_with_the_lifecycle(
    api: Api, cluster: Cluster, namespace: str, operator: Operator, lifecycle: LifecycleWorker
) -> None:
    """Every issue-18 metric is served with its labels; an autosuspend, a drain, a resume and a delete move
    them. The lifecycle worker and the operator run in this process: its /metrics is theirs."""
    async with HealthServer(0, lambda: None, host="127.0.0.1") as health:
        async def scrape(url: str) -> Scraped:
            async with api.http.get(url + "/metrics") as response:
                assert response.status == 200
                return Scraped.parse(await response.text())

        process = f"http://127.0.0.1:{health.port}"
        before = await scrape(process)
        api_before = await scrape(api.url)  # the API server is shared: count only what this test's resume adds
        runtime = {"namespace": namespace, "name": "metered"}
        await cluster.create_runtime(namespace, "metered", phase="Suspended", autoSuspendAfter="1s")

        async def phase_gauge_shows(phase: str) -> bool:
            return (await scrape(process)).value("xtrinode_runtime_phase", **runtime, phase=phase) == 1

        await eventually(lambda: phase_gauge_shows("Suspended"), "the phase gauge at Suspended")
        suspended = await scrape(process)

        def moved(page: Scraped, sample: str, **labels: str) -> float:
            return page.value(sample, **labels) - before.value(sample, **labels)

        def moved_api(page: Scraped, sample: str, **labels: str) -> float:
            return page.value(sample, **labels) - api_before.value(sample, **labels)

        assert moved(suspended, "xtrinode_lifecycle_autosuspend_checks_total", outcome="idle") >= 1
        assert moved(suspended, "xtrinode_lifecycle_phase_transitions_total",
                     from_phase="Ready", to_phase="Suspending") >= 1
        assert moved(suspended, "xtrinode_lifecycle_phase_transitions_total",
                     from_phase="Suspending", to_phase="Suspended") >= 1
        assert moved(suspended, "xtrinode_lifecycle_step_duration_seconds_count",
                     step="SuspendRuntime", outcome="succeeded") >= 1
        assert moved(suspended, "xtrinode_lifecycle_step_duration_seconds_count",
                     step="ProvisionRuntime", outcome="succeeded") >= 1
        assert moved(suspended, "xtrinode_lifecycle_drains_total") >= 1
        assert moved(suspended, "xtrinode_lifecycle_drain_duration_seconds_count") >= 1
        assert suspended.value("xtrinode_runtime_phase", **runtime, phase="Ready") == 0
        assert moved(suspended, "xtrinode_operator_forwards_total", signal="spec_changed", outcome="sent") >= 1
        assert suspended.value("xtrinode_informer_lists_total", informer="xtrinodes") >= 1
        assert suspended.value("xtrinode_informer_lists_total", informer="deployments") >= 1

        status, body, _ = await api.call("POST", f"/v1/runtimes/{namespace}/metered/resume?wait=true")
        # The runtime suspends after 1 s idle: on a loaded machine the answer may already show that.
        assert status == 200 and body["state"] == "done", body
        assert body["runtime"]["phase"] in ("Ready", "Suspending", "Suspended"), body
        resumed = await scrape(process)
        assert moved(resumed, "xtrinode_lifecycle_resumes_total", outcome="ready") >= 1
        assert moved(resumed, "xtrinode_lifecycle_resume_duration_seconds_count") >= 1
        assert moved(resumed, "xtrinode_lifecycle_resume_duration_seconds_sum") > 0
        assert moved(resumed, "xtrinode_lifecycle_step_duration_seconds_count",
                     step="ResumeRuntime", outcome="succeeded") >= 1
        assert moved(resumed, "xtrinode_lifecycle_phase_transitions_total",
                     from_phase="Resuming", to_phase="Ready") >= 1
        assert resumed.problems(LIFECYCLE_WORKER) == []
        assert resumed.problems(OPERATOR) == []

        api_page = await scrape(api.url)
        assert api_page.problems(API_SERVER) == []
        assert moved_api(api_page, "xtrinode_api_actions_total", action="resume", outcome="done") == 1
        assert moved_api(api_page, "xtrinode_api_request_duration_seconds_count") >= 1

        await cluster.delete(namespace, "metered")

        async def series_gone() -> bool:
            page = await scrape(process)
            return not any(labels.get("namespace") == namespace
                           for _, labels, _ in page.families["xtrinode_runtime_phase"][1])

        await eventually(series_gone, "the deleted runtime's phase series removed", timeout=60)
