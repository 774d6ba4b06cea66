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

from gateway.proxy import ENDPOINT, PRINCIPAL, QUERY_ID, ROUTE, TRINO_USER
from gateway.server import Answer
from xtrinode.tracing import ServerSpan, server_span

__all__ = ["tracer", "traced"]

tracer = trace.get_tracer("xtrinode.gateway")


def traced(pipeline: Callable[[web.Request], Awaitable[Answer]],
           with_tracer: trace.Tracer | None = None) -> Callable[[web.Request], Awaitable[Answer]]:
    """`pipeline` with a SERVER span around each request (parent: the request's `traceparent`)."""
    spans = with_tracer or tracer

    async def handle(request: web.Request) -> Answer:
        with server_span(spans, f"gateway {request.method}", request.headers) as served:
            try:
                answer = await pipeline(request)
                served.status = answer.status
                return answer
            except web.HTTPException as e:  # answered by the server with its own status
                served.status = e.status
                raise
            finally:
                if served.span.is_recording():
                    _describe(served, request)

    return handle


def _describe(served: ServerSpan, request: web.Request) -> None:
    endpoint = request.get(ENDPOINT)
    kind = endpoint.kind.value if endpoint is not None else "refused"
    served.span.update_name(f"gateway {kind}")
    attributes = served.attributes
    attributes.update({"http.request.method": request.method, "http.route": kind})
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
