"""A span per proxied request, in the client's trace when it sends `traceparent`.

`traced(pipeline)` wraps the public pipeline only when the process installed a tracer provider
(xtrinode/tracing.py); otherwise the pipeline runs as it is and a request costs no span work. The
span names the endpoint kind, never the path: held-statement and query paths carry private slugs.
Attributes: the route (`namespace/name`), the query id and the principal's name (never a credential).
The resume update runs in this context (gateway/resume.py), so the lifecycle joins the trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from gateway.proxy import ENDPOINT, PRINCIPAL, QUERY_ID, ROUTE, TRINO_USER
from gateway.server import Answer
from xtrinode.tracing import caller_context

__all__ = ["tracer", "traced"]

tracer = trace.get_tracer("xtrinode.gateway")


def traced(pipeline: Callable[[web.Request], Awaitable[Answer]],
           with_tracer: trace.Tracer | None = None) -> Callable[[web.Request], Awaitable[Answer]]:
    """`pipeline` with a SERVER span around each request (parent: the request's `traceparent`)."""
    spans = with_tracer or tracer

    async def handle(request: web.Request) -> Answer:
        parent = caller_context(request.headers)
        with spans.start_as_current_span(f"gateway {request.method}", context=parent, kind=SpanKind.SERVER,
                                          record_exception=False, set_status_on_exception=False) as span:
            status = 500
            try:
                answer = await pipeline(request)
                status = answer.status
                return answer
            except web.HTTPException as e:  # answered by the server with its own status
                status = e.status
                raise
            finally:
                if span.is_recording():  # a span the sampler dropped gets no attributes (cheaper)
                    _describe(span, request, status)

    return handle


def _describe(span: trace.Span, request: web.Request, status: int) -> None:
    endpoint = request.get(ENDPOINT)
    kind = endpoint.kind.value if endpoint is not None else "refused"
    span.update_name(f"gateway {kind}")
    attributes: dict[str, str | int] = {"http.request.method": request.method, "http.route": kind,
                                        "http.response.status_code": status}
    route = request.get(ROUTE)
    if route is not None:
        namespace, _, name = route.partition("/")
        attributes.update({"xtrinode.runtime": route, "xtrinode.namespace": namespace, "xtrinode.name": name})
    query_id = request.get(QUERY_ID)
    if query_id is not None:
        attributes["trino.query_id"] = query_id
    principal = request.get(PRINCIPAL)
    if principal is not None:
        attributes["xtrinode.principal"] = principal.name
    user = request.get(TRINO_USER)
    if user is not None:
        attributes["trino.user"] = user
    span.set_attributes(attributes)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
