"""The gateway's request span (gateway/tracing.py): a client's `traceparent` makes it a child of the
client's span, without one it starts a trace; it names the endpoint kind (never the path, whose held
statement slugs are private) and carries route, namespace, name, query id and principal name, never a
credential; a 5xx answer marks it as an error. Without a tracer provider the app's pipeline is not
wrapped at all (a fresh process)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from gateway.auth import Principal
from gateway.edge import Endpoint, EndpointKind
from gateway.proxy import ENDPOINT, PRINCIPAL, QUERY_ID, ROUTE
from gateway.server import Answer, GatewayRequest
from gateway.tracing import traced
from tests.spans import recording_tracer, run_fresh

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
SLUG = "y4a2b7secretslug"


def _request(headers: dict[str, str], path: str = f"/v1/statement/queued/q1/{SLUG}/1") -> GatewayRequest:
    return GatewayRequest("GET", path, CIMultiDictProxy(CIMultiDict(headers)), b"", "127.0.0.1", web.Application(),
                          (1, 1), None)


async def _serve(request: GatewayRequest, status: int = 200) -> tuple[ReadableSpan, Answer]:
    tracer, exporter = recording_tracer()

    async def pipeline(req: web.Request) -> Answer:
        req[ENDPOINT] = Endpoint(EndpointKind.PAGE, "q1", SLUG)
        req[ROUTE] = "analytics/demo"
        req[QUERY_ID] = "20261202_000000_00001_abcde"
        req[PRINCIPAL] = Principal(name="etl-job", kind="apiKey", subject="key-1", user="etl")
        return web.Response(status=status, text="{}")

    answer = await traced(pipeline, tracer)(request)  # type: ignore[arg-type]
    [span] = exporter.get_finished_spans()
    return span, answer


async def test_a_client_traceparent_makes_the_request_span_its_child() -> None:
    span, answer = await _serve(_request({"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
                                          "Authorization": "Bearer sk-live-credential"}))
    assert answer.status == 200
    assert span.context is not None and format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT_ID
    assert span.kind is SpanKind.SERVER and span.name == "gateway page"
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET", "http.route": "page", "http.response.status_code": 200,
        "xtrinode.runtime": "analytics/demo", "xtrinode.namespace": "analytics", "xtrinode.name": "demo",
        "trino.query_id": "20261202_000000_00001_abcde", "xtrinode.principal": "etl-job",
    }
    text = repr(span.to_json())
    assert SLUG not in text and "sk-live-credential" not in text and "key-1" not in text


async def test_without_traceparent_the_request_starts_a_trace() -> None:
    span, _ = await _serve(_request({}))
    assert span.parent is None and span.context is not None and span.context.trace_id != int(TRACE_ID, 16)


async def test_a_server_error_marks_the_span() -> None:
    span, _ = await _serve(_request({}), status=502)
    assert span.status.status_code is StatusCode.ERROR


async def test_an_http_exception_is_recorded_with_its_own_status() -> None:
    tracer, exporter = recording_tracer()

    async def pipeline(req: web.Request) -> Answer:
        raise web.HTTPRequestEntityTooLarge(max_size=10, actual_size=20)

    with pytest.raises(web.HTTPRequestEntityTooLarge):
        await traced(pipeline, tracer)(_request({}))  # type: ignore[arg-type]
    [span] = exporter.get_finished_spans()
    assert (span.attributes or {})["http.response.status_code"] == 413
    assert span.status.status_code is not StatusCode.ERROR


def _pipeline_type(**env: str) -> str:
    probe = ("from xtrinode.tracing import configure_tracing; configure_tracing('gw'); "
             "from gateway.app import PIPELINE, create_app; from gateway.settings import GatewaySettings; "
             "print(type(create_app(GatewaySettings())[PIPELINE]).__name__)")
    return run_fresh(probe, **env)


def test_without_a_tracer_provider_the_pipeline_is_not_wrapped(tmp_path: Path) -> None:
    assert _pipeline_type() == "partial"  # edge -> guard -> dispatch, as built; no span wrapper
    assert _pipeline_type(XTRINODE_TRACES_DIR=str(tmp_path)) == "function"  # traced(...)
