"""The API server's request span (workers/api/tracing.py): a `traceparent` makes it the caller's child
(the gateway's `resume.via: apiServer` sends one), it names the route template and the runtime, never
the Authorization header; without a tracer provider no middleware is installed."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.trace import SpanKind

from workers.api.tracing import traced_requests
from tests.spans import recording_tracer, run_fresh

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


async def _resume(request: web.Request) -> web.Response:
    return web.json_response({"state": "done"})


async def test_a_request_span_joins_the_callers_trace() -> None:
    tracer, exporter = recording_tracer()
    app = web.Application(middlewares=[traced_requests(tracer)])
    app.router.add_post("/v1/runtimes/{namespace}/{name}/resume", _resume)
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/v1/runtimes/analytics/demo/resume?wait=true", json={},
                                     headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
                                              "Authorization": "Bearer api-secret-token"})
        assert response.status == 200
    [span] = exporter.get_finished_spans()
    assert span.name == "api POST /v1/runtimes/{namespace}/{name}/resume" and span.kind is SpanKind.SERVER
    assert span.context is not None and format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT_ID
    assert dict(span.attributes or {}) == {
        "http.request.method": "POST", "http.route": "/v1/runtimes/{namespace}/{name}/resume",
        "xtrinode.namespace": "analytics", "xtrinode.name": "demo", "xtrinode.runtime": "analytics/demo",
        "http.response.status_code": 200,
    }
    assert "api-secret-token" not in span.to_json()


def _count(**env: str) -> str:
    probe = ("from xtrinode.tracing import configure_tracing; configure_tracing('api'); "
             "from workers.api.tracing import middlewares; print(len(middlewares()))")
    return run_fresh(probe, **env)


def test_no_middleware_without_a_tracer_provider(tmp_path: Path) -> None:
    assert _count() == "0"
    assert _count(XTRINODE_TRACES_DIR=str(tmp_path)) == "1"
