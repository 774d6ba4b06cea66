"""Tracing setup every process runs at start: an OpenTelemetry SDK tracer provider named after the
process, exporting where the standard `OTEL_*` variables (and `XTRINODE_TRACES_DIR`) say.

Nothing configured means nothing installed: the global provider stays the API's no-op one, and
`tracing_active()` is False, so the gateway does not even build a span per request.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from xtrinode.tracefile import JsonLinesSpanExporter

__all__ = ["TRACES_DIR_ENV", "TracingConfigError", "configure_tracing", "span_exporters", "tracing_active"]

log = logging.getLogger("xtrinode.tracing")

TRACES_DIR_ENV = "XTRINODE_TRACES_DIR"
"""A directory: spans also go there as OTLP-JSON lines, one file per process (the devstack sets it)."""

_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


class TracingConfigError(ValueError):
    """The OTEL_* environment asks for something this process cannot do."""


def _otlp_exporter(env: Mapping[str, str]) -> SpanExporter:
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    if protocol != "http/protobuf":
        raise TracingConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL is {protocol!r}; XTrinode exports OTLP over HTTP only: set it to "
            "'http/protobuf' and point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's HTTP port (4318)")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # The exporter reads endpoint, headers, timeout and TLS from the same OTEL_* variables itself.
    return OTLPSpanExporter()


def span_exporters(service_name: str, environ: Mapping[str, str] | None = None) -> list[SpanExporter]:
    """The exporters the environment asks for (empty: no tracing).

    `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn tracing off. `OTEL_TRACES_EXPORTER`
    (comma-separated `otlp`, `console`) chooses explicitly; unset, OTLP/HTTP is used when
    `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set. Independently,
    `XTRINODE_TRACES_DIR` adds the OTLP-JSON lines file exporter.
    """
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    chosen = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    if "none" in chosen:
        return []
    if not chosen and any(env.get(name) for name in _ENDPOINTS):
        chosen = ["otlp"]
    exporters: list[SpanExporter] = []
    for name in chosen:
        if name == "otlp":
            exporters.append(_otlp_exporter(env))
        elif name == "console":
            exporters.append(ConsoleSpanExporter(service_name=service_name))
        else:
            raise TracingConfigError(f"OTEL_TRACES_EXPORTER names {name!r}; XTrinode knows 'otlp', 'console' and 'none'")
    directory = env.get(TRACES_DIR_ENV)
    if directory:
        exporters.append(JsonLinesSpanExporter(directory, service_name))
    return exporters


def configure_tracing(service_name: str, environ: Mapping[str, str] | None = None) -> TracerProvider | None:
    """Install the global tracer provider when an exporter is configured; returns it (None: tracing off).

    `OTEL_SERVICE_NAME` overrides `service_name`; `OTEL_RESOURCE_ATTRIBUTES` adds attributes. Spans are
    batched; the provider flushes them at interpreter exit. A second call returns the provider already
    installed (the global provider can be set once per process).
    """
    env = os.environ if environ is None else environ
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    name = env.get("OTEL_SERVICE_NAME") or service_name
    exporters = span_exporters(name, env)
    if not exporters:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    log.info("tracing on: %s exports spans with %s", name, ", ".join(type(e).__name__ for e in exporters))
    return provider


def tracing_active() -> bool:
    """Whether an SDK tracer provider is installed (spans are recorded); callers skip span work if not."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


_CALLER_TRACE = TraceContextTextMapPropagator()


def caller_context(headers: Mapping[str, str]) -> Context | None:
    """The trace a request's `traceparent` names, or None without one; only the W3C trace context is
    read (a client's `baggage` is not: nothing here uses it)."""
    return _CALLER_TRACE.extract(headers) if "traceparent" in headers else None


def start_process(service: str, log_level: str | int = logging.INFO) -> None:
    """What every XTrinode process does first: JSON logs on stderr, then tracing from the OTEL_* variables.
    A tracing setting that cannot work ends the process with status 2 and a message saying what to set,
    never a traceback."""
    from xtrinode.logs import configure_logging

    configure_logging(log_level)
    try:
        configure_tracing(service)
    except TracingConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


class ServerSpan:
    """The request a `server_span` covers: set `status` (500 until the answer is known) and `attributes`;
    on exit the span gets them (when recorded) and an ERROR status for a 5xx."""

    def __init__(self, span: trace.Span) -> None:
        self.span, self.status = span, 500
        self.attributes: dict[str, str | int] = {}

    def _finish(self) -> None:
        if not self.span.is_recording():  # a span the sampler dropped gets no attributes (cheaper)
            return
        self.attributes["http.response.status_code"] = self.status
        self.span.set_attributes(self.attributes)
        if self.status >= 500:
            self.span.set_status(Status(StatusCode.ERROR))


@contextmanager
def server_span(tracer: trace.Tracer, name: str, headers: Mapping[str, str]) -> Iterator[ServerSpan]:
    """A SERVER span for one request, a child of the caller's `traceparent` when it sends one."""
    with tracer.start_as_current_span(name, context=caller_context(headers), kind=SpanKind.SERVER,
                                      record_exception=False, set_status_on_exception=False) as span:
        request = ServerSpan(span)
        try:
            yield request
        finally:
            request._finish()
