"""One trace from a client's query to the lifecycle: a plain `trino` client sends `traceparent` with a
query for an autosuspended runtime through the gateway, and the spans recorded in memory form one
connected tree: the client's span -> the gateway's statement span -> the held statement -> the
`resume` update (StartWorkflowUpdate -> HandleUpdate) -> the ResumeRuntime child workflow -> its
activities (RunActivity) -> their Kubernetes and Trino spans; every span's parent is in the trace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from kubernetes import client
from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.util._once import Once
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import WorkflowEnvironment

from .lifecycle_helpers import Cluster, eventually, run_sql, runtime_body, serve_gateway, tpch_catalog
from devstack.kubelet import Kubelet
from workers.operator import Operator
from xtrinode.tracing import tracing_active

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]


class _Forward(SpanProcessor):
    """The one span processor of the tests' provider: hands ended spans to the current test's exporter."""

    exporter: InMemorySpanExporter | None = None

    def on_end(self, span: ReadableSpan) -> None:
        if self.exporter is not None:
            self.exporter.export((span,))


_PROVIDER = TracerProvider(resource=Resource.create({"service.name": "xtrinode-tests"}))
_FORWARD = _Forward()
_PROVIDER.add_span_processor(_FORWARD)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span this process records while the test runs. The global provider is installed for the test
    and taken away after it, so the tests after this one run with tracing off, as a process without
    tracing settings does (`tracing_active()` false). It is the same provider object every time: the
    product's module-level tracers, once they have resolved a provider, stay bound to that one."""
    assert not tracing_active(), "another test left a tracer provider installed"
    trace.set_tracer_provider(_PROVIDER)
    exporter = InMemorySpanExporter()
    _FORWARD.exporter = exporter
    try:
        yield exporter
    finally:
        _FORWARD.exporter = None
        # OpenTelemetry sets its global provider once per process; its own tests reset these two the same way.
        trace._TRACER_PROVIDER = None
        trace._TRACER_PROVIDER_SET_ONCE = Once()


@pytest.fixture
async def traced_gateway(spans: InMemorySpanExporter, kubeconfig: Any, kubelet: Kubelet,
                         temporal_env: WorkflowEnvironment) -> AsyncIterator[int]:
    assert tracing_active()
    async with serve_gateway(kubeconfig, kubelet, temporal_env) as port:
        yield port


def _by_id(spans: list[ReadableSpan]) -> dict[int, ReadableSpan]:
    return {s.context.span_id: s for s in spans if s.context is not None}


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert found, f"no span {name!r} in the trace; spans: {sorted({s.name for s in spans})}"
    return found[0]


def _parent(span: ReadableSpan, index: dict[int, ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, f"span {span.name!r} has no parent"
    parent = index.get(span.parent.span_id)
    assert parent is not None, f"the parent of {span.name!r} is not in the trace"
    return parent


def _ancestors(span: ReadableSpan, index: dict[int, ReadableSpan]) -> list[str]:
    names = []
    while span.parent is not None:
        span = _parent(span, index)
        names.append(span.name)
    return names


async def test_a_resume_through_the_gateway_is_one_connected_trace(
    api_client: client.ApiClient, namespace: str, operator: Operator, traced_gateway: int,
    spans: InMemorySpanExporter,
) -> None:
    cluster = Cluster(api_client)
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "traced", autoSuspendAfter="2s"))
    await cluster.wait_phase(namespace, "traced", "Ready")
    await cluster.wait_phase(namespace, "traced", "Suspended", timeout=60)
    assert await cluster.route_state(namespace, "traced") == "PAUSED"

    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("client query") as client_span:
        headers = {"X-Trino-XTrinode": f"{namespace}/traced"}
        inject(headers)
        assert "traceparent" in headers
        rows = await asyncio.to_thread(run_sql, "127.0.0.1", traced_gateway, "SELECT count(*) FROM tpch.tiny.nation",
                                       "analyst", headers)
    assert rows == [[25]]
    trace_id = client_span.get_span_context().trace_id

    def resume_spans() -> list[ReadableSpan] | None:
        mine = [s for s in spans.get_finished_spans() if s.context is not None and s.context.trace_id == trace_id]
        names = {s.name for s in mine}
        wanted = {"client query", "gateway statement", "gateway held statement", "StartWorkflowUpdate:resume",
                  "HandleUpdate:resume", "StartChildWorkflow:ResumeRuntime", "RunWorkflow:ResumeRuntime",
                  "RunActivity:apply_runtime", "kubernetes apply_runtime", "RunActivity:wait_coordinator_ready",
                  "trino wait_coordinator_ready", "RunActivity:set_route", "kubernetes set_route"}
        return mine if wanted <= names else None

    mine = await eventually(resume_spans, "the resume's spans in the client's trace", timeout=30)
    index = _by_id(mine)
    for span in mine:  # parent links intact: every span but the client's has its parent in the trace
        if span.name != "client query":
            _parent(span, index)

    statement = _one(mine, "gateway statement")
    assert _parent(statement, index).name == "client query"  # traceparent honoured
    assert statement.attributes is not None
    assert statement.attributes["xtrinode.runtime"] == f"{namespace}/traced"
    assert statement.attributes["trino.query_id"]
    assert statement.attributes["xtrinode.namespace"] == namespace
    held = _one(mine, "gateway held statement")
    assert _parent(held, index) is statement
    assert held.attributes is not None and held.attributes["xtrinode.outcome"] == "submitted"
    update = _one(mine, "StartWorkflowUpdate:resume")
    assert "gateway held statement" in _ancestors(update, index)
    assert _parent(_one(mine, "HandleUpdate:resume"), index) is update
    child = _one(mine, "StartChildWorkflow:ResumeRuntime")
    assert "StartWorkflowUpdate:resume" in _ancestors(child, index)
    assert _parent(_one(mine, "RunWorkflow:ResumeRuntime"), index) is child
    apply = _one(mine, "kubernetes apply_runtime")
    assert _parent(apply, index).name == "RunActivity:apply_runtime"
    assert "StartChildWorkflow:ResumeRuntime" in _ancestors(apply, index)
    assert apply.attributes is not None
    assert (apply.attributes["xtrinode.namespace"], apply.attributes["xtrinode.name"],
            apply.attributes["xtrinode.step"]) == (namespace, "traced", "ResumeRuntime")
    ready = _one(mine, "trino wait_coordinator_ready")
    assert "RunWorkflow:ResumeRuntime" not in _ancestors(ready, index)  # workflow spans are zero-length leaves
    assert "HandleUpdate:resume" not in _ancestors(ready, index)
    assert held.end_time is not None and ready.end_time is not None and held.end_time >= ready.end_time


def test_the_tests_after_the_traced_one_run_with_tracing_off() -> None:
    # Runs after the test above (file order): a process without tracing settings records nothing, and the
    # rest of the suite must exercise that path, not the traced one.
    assert not tracing_active()
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
