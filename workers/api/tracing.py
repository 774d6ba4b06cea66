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

from xtrinode.tracing import server_span, tracing_active

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
    with server_span(spans, f"api {request.method} {route}", request.headers) as served:
        served.attributes.update({"http.request.method": request.method, "http.route": route})
        namespace, name = request.match_info.get("namespace"), request.match_info.get("name")
        if namespace and name:
            served.attributes.update({"xtrinode.namespace": namespace, "xtrinode.name": name,
                                      "xtrinode.runtime": f"{namespace}/{name}"})
        try:
            response = await handler(request)
            served.status = response.status
            return response
        except web.HTTPException as e:  # aiohttp answers it with its own status
            served.status = e.status
            raise


def middlewares() -> list[Middleware]:
    """The tracing middleware when a tracer provider is installed, else none."""
    return [traced_requests()] if tracing_active() else []
