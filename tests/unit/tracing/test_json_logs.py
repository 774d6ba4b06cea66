"""The JSON log lines of every process (xtrinode/logs.py): message, level, logger and a UTC time; the
trace and span ids inside a recorded span; namespace/name from `runtime=`, from a Temporal workflow
id or from the span's attributes; query_id; fields named like secrets hidden."""

from __future__ import annotations

import json
import logging
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from xtrinode.logs import JsonFormatter


def _line(message: str = "resumed %s", args: tuple[Any, ...] = ("demo",), **extra: Any) -> dict[str, Any]:
    record = logging.LogRecord("xtrinode.lifecycle", logging.INFO, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    line: dict[str, Any] = json.loads(JsonFormatter().format(record))
    return line


def test_plain_fields_and_no_trace_outside_a_span() -> None:
    line = _line()
    assert line["message"] == "resumed demo" and line["level"] == "INFO" and line["logger"] == "xtrinode.lifecycle"
    assert line["ts"].endswith("+00:00")
    assert "trace_id" not in line and "span_id" not in line


def test_trace_and_span_ids_and_span_attributes_inside_a_span() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("gateway statement", attributes={
            "xtrinode.namespace": "analytics", "xtrinode.name": "demo", "trino.query_id": "q-1"}) as span:
        line = _line()
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x") and line["span_id"] == format(context.span_id, "016x")
    assert (line["namespace"], line["name"], line["query_id"]) == ("analytics", "demo", "q-1")


def test_runtime_and_query_id_from_extra() -> None:
    line = _line(runtime="analytics/demo", query_id="q-2")
    assert (line["namespace"], line["name"], line["query_id"]) == ("analytics", "demo", "q-2")


def test_workflow_id_from_temporal_log_context_gives_the_runtime() -> None:
    line = _line(temporal_activity={"workflow_id": "xtrinode/analytics/demo/ResumeRuntime-3", "namespace": "default",
                                    "activity_type": "apply_runtime"})
    assert line["workflow_id"] == "xtrinode/analytics/demo/ResumeRuntime-3"
    assert (line["namespace"], line["name"]) == ("analytics", "demo")  # not Temporal's namespace


def test_secret_named_fields_are_hidden() -> None:
    line = _line(password="hunter2", api_key="k-123", authorization="Bearer t", client_token="t0k")
    assert {line[k] for k in ("password", "api_key", "authorization", "client_token")} == {"<hidden>"}
    assert "hunter2" not in json.dumps(line) and "k-123" not in json.dumps(line)
