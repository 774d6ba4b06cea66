"""Finding 2: held statements were public (slug never checked, ids from a per-replica counter).

A statement for the PAUSED runtime `team-a/sleepy` is held by the gateway process while a stub lifecycle
workflow (real Temporal dev server) resumes it only when the test says so. Meanwhile: a poll without a
credential is 401; bob, with the right slug, gets 404; alice with a wrong slug (random, a prefix, another
held statement's) gets 404; a DELETE with a wrong slug or by bob is 404 and the statement stays held.
After the resume only alice, with her slug, gets the rows. Held ids are not sequential.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.security.security_helpers import GatewayProcess, RecordingCoordinator, key, raw_request, route, write_routes
from xtrinode.lifecycle import ResumeRequest, RuntimeStatus, workflow_id_for

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.shared_services]


class Wake(BaseModel):
    routes_namespace: str
    backend: str


@workflow.defn(name="RuntimeWorkflow")
class HeldUntilToldWorkflow:
    """`resume` waits for the `go` signal, then routes team-a/sleepy RUNNING (activity) and answers Ready."""

    @workflow.init
    def __init__(self, wake: Wake) -> None:
        self.wake = wake
        self.go = False

    @workflow.run
    async def run(self, wake: Wake) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name="go")
    def release(self) -> None:
        self.go = True

    @workflow.update(name="resume")
    async def resume(self, request: ResumeRequest) -> RuntimeStatus:
        await workflow.wait_condition(lambda: self.go)
        await workflow.execute_activity("route_running", self.wake, start_to_close_timeout=timedelta(seconds=20))
        return RuntimeStatus(namespace="team-a", name="sleepy", phase="Ready")


class Routes:
    def __init__(self, a: RecordingCoordinator, b: RecordingCoordinator, kube_url: str) -> None:
        self.a, self.b, self.kube_url = a, b, kube_url

    @activity.defn(name="route_running")
    async def route_running(self, wake: Wake) -> None:
        async with aiohttp.ClientSession() as http:
            await write_routes(http, self.kube_url, wake.routes_namespace,
                               route("team-a", "etl", self.a.url, header="etl"),
                               route("team-b", "bi", self.b.url, default=True),
                               route("team-a", "sleepy", wake.backend))


async def _held(gw: GatewayProcess, who: str) -> dict[str, Any]:
    response = await raw_request(gw.port, "POST", "/v1/statement", [key(who), ("X-Trino-XTrinode", "team-a/sleepy")],
                                 body=b"SELECT count(*) FROM tpch.tiny.nation")
    assert response.status == 200, response.text
    page: dict[str, Any] = response.json()
    assert page["stats"]["state"] == "QUEUED" and "nextUri" in page
    return page


def _path(uri: str) -> str:
    return "/" + uri.split("/", 3)[3]


async def test_held_statements_answer_only_their_owner_with_the_right_slug(
    keyed: GatewayProcess, coordinator_a: RecordingCoordinator, coordinator_b: RecordingCoordinator,
    temporal_client: Client, kube: Any,
) -> None:
    namespace = keyed.config["routes"]["namespace"]
    queue = f"sec-held-{uuid.uuid4().hex[:8]}"
    routes = Routes(coordinator_a, coordinator_b, kube.url)
    async with Worker(temporal_client, task_queue=queue, workflows=[HeldUntilToldWorkflow],
                      activities=[routes.route_running], workflow_runner=UnsandboxedWorkflowRunner()):
        handle = await temporal_client.start_workflow(
            "RuntimeWorkflow", Wake(routes_namespace=namespace, backend=coordinator_a.url),
            id=workflow_id_for("team-a", "sleepy"), task_queue=queue,
        )
        try:
            page = await _held(keyed, "alice")
            other = await _held(keyed, "alice")
            query_id, next_path = page["id"], _path(page["nextUri"])
            slug = next_path.split("/")[-2]
            number, coordinator = query_id.split("_")[2:4]
            assert (number, coordinator) != tuple(other["id"].split("_")[2:4]), "held ids are not sequential"

            assert (await raw_request(keyed.port, "GET", next_path)).status == 401, "no credential: 401"
            assert (await raw_request(keyed.port, "GET", next_path, [key("bob")])).status == 404, "not bob's"
            other_slug = _path(other["nextUri"]).split("/")[-2]
            for wrong in ("y" + uuid.uuid4().hex + "0" * 8, slug[:-1], other_slug, slug[:-1] + "A"):
                response = await raw_request(keyed.port, "GET", next_path.replace(slug, wrong), [key("alice")])
                assert response.status == 404, (wrong, response.text)
                response = await raw_request(keyed.port, "DELETE", next_path.replace(slug, wrong), [key("alice")])
                assert response.status == 404
            assert (await raw_request(keyed.port, "DELETE", next_path, [key("bob")])).status == 404
            still = await raw_request(keyed.port, "GET", next_path, [key("alice")])
            assert still.status == 200 and still.json()["stats"]["state"] == "QUEUED", "still held"

            await handle.signal("go")
            page = still.json()
            rows: list[Any] = []
            for _ in range(200):
                if "nextUri" not in page:
                    break
                path = _path(page["nextUri"])
                assert (await raw_request(keyed.port, "GET", path, [key("bob")])).status == 404
                response = await raw_request(keyed.port, "GET", path, [key("alice")])
                assert response.status == 200, response.text
                page = response.json()
                rows.extend(page.get("data") or [])
            assert "error" not in page and rows == [[25]]
            seen = [s for s in coordinator_a.seen if s.method == "POST"][-1]
            assert seen.headers["X-Trino-User"] == "alice"
        finally:
            await handle.terminate()
            async with aiohttp.ClientSession() as http:
                await write_routes(http, kube.url, namespace,
                                   route("team-a", "etl", coordinator_a.url, header="etl"),
                                   route("team-b", "bi", coordinator_b.url, default=True),
                                   route("team-a", "sleepy", "http://127.0.0.1:9", state="PAUSED"))
            await asyncio.sleep(0.2)
