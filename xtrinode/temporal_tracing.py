"""Temporal's OpenTelemetry interceptor, made to carry an update's trace into the work it causes.

temporalio's `TracingInterceptor` parents every workflow-side span on the context the workflow was
*started* with; an update's context is only a link. A runtime workflow runs for months and resumes
because of a gateway request, so the `resume` update's context must be the parent: `HandleUpdate`
spans here are children of the caller's `StartWorkflowUpdate` span, and the handler runs in that
context, where the workflow can keep it (`trace_carrier()`) and start its step under it later
(`attached_trace(carrier)`), so the step's child workflow and activities join the caller's trace.
Both helpers are pure context operations (deterministic; safe in the workflow sandbox).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import opentelemetry.context
import opentelemetry.trace
import temporalio.worker
from opentelemetry.propagate import get_global_textmap
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor

__all__ = ["UpdateTracingInterceptor", "attached_trace", "trace_carrier"]


def trace_carrier() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`); empty when there is none."""
    carrier: dict[str, str] = {}
    get_global_textmap().inject(carrier)
    return carrier


@contextlib.contextmanager
def attached_trace(carrier: dict[str, str] | None) -> Iterator[None]:
    """Run the block in the trace context of `carrier` (from `trace_carrier`); a no-op without one."""
    if not carrier:
        yield
        return
    current = opentelemetry.context.get_current()
    token = opentelemetry.context.attach(get_global_textmap().extract(carrier, context=current))
    try:
        yield
    finally:
        opentelemetry.context.detach(token)


class _UpdateParentedWorkflowInterceptor(TracingWorkflowInboundInterceptor):
    async def handle_update_handler(self, input: temporalio.worker.HandleUpdateInput) -> Any:
        header = input.headers.get(self.header_key)
        if not header:
            return await super().handle_update_handler(input)
        carrier = self.payload_converter.from_payloads([header])[0]
        context = self._set_on_context(self.text_map_propagator.extract(carrier))
        token = opentelemetry.context.attach(context)
        try:
            self._completed_span(f"HandleUpdate:{input.update}", kind=opentelemetry.trace.SpanKind.SERVER)
            return await self.next.handle_update_handler(input)
        finally:
            opentelemetry.context.detach(token)


class UpdateTracingInterceptor(TracingInterceptor):
    """`TracingInterceptor` whose update handlers run in (and whose spans hang off) the update's context."""

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)
        return _UpdateParentedWorkflowInterceptor
