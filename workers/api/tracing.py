"""A span per API server request, in the caller's trace when it sends `traceparent` (the gateway's
`resume.via: apiServer` does), so a resume asked through the API joins the caller's trace.

Installed only when the process configured tracing (xtrinode/tracing.py): `middlewares()` is empty
otherwise. The span names the route template (`/v1/runtimes/{namespace}/{name}/resume`), never a
credential; the runtime's namespace and name come from the path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from xtrinode.tracing import caller_context, tracing_active

__all__ = ["middlewares", "traced_requests"]

tracer = trace.get_tracer("xtrinode.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def traced_requests(with_tracer: trace.Tracer | None = None) -> Middleware:
    """The middleware: a SERVER span per request (parent: the request's `traceparent`)."""
    spans = with_tracer or tracer

    @web.middleware
    async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await _serve(spans, request, handler)

    return traced


async def _serve(spans: trace.Tracer, request: web.Request, handler: Handler) -> web.StreamResponse:
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    parent = caller_context(request.headers)
    with spans.start_as_current_span(f"api {request.method} {route}", context=parent, kind=SpanKind.SERVER,
                                      record_exception=False, set_status_on_exception=False) as span:
        attributes: dict[str, str | int] = {"http.request.method": request.method, "http.route": route}
        namespace, name = request.match_info.get("namespace"), request.match_info.get("name")
        if namespace and name:
            attributes.update({"xtrinode.namespace": namespace, "xtrinode.name": name,
                               "xtrinode.runtime": f"{namespace}/{name}"})
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as e:  # aiohttp answers it with its own status
            status = e.status
            raise
        finally:
            attributes["http.response.status_code"] = status
            span.set_attributes(attributes)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))


def middlewares() -> list[Middleware]:
    """The tracing middleware when a tracer provider is installed, else none."""
    return [traced_requests()] if tracing_active() else []
