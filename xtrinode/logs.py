"""JSON-lines logging for every process: one object per record, with the trace and the runtime it is about.

Fields: `ts`, `level`, `logger`, `message`; `trace_id`/`span_id` when logged inside a recorded span;
`workflow_id` (and `namespace`/`name` derived from it) inside Temporal workflows and activities;
`namespace`, `name`, `query_id` from `extra=` (`runtime="ns/name"` gives both: a record's `name` is its
logger's) or from the current span's attributes; any other `extra=` field. A field whose name says it holds a secret is written as `<hidden>`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from xtrinode.lifecycle import runtime_of_workflow_id

__all__ = ["JsonFormatter", "configure_logging", "json_log_handler"]

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_SECRET_WORDS = ("password", "token", "secret", "api_key", "apikey", "authorization", "credential")
_SPAN_FIELDS = {"xtrinode.namespace": "namespace", "xtrinode.name": "name", "trino.query_id": "query_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span = trace.get_current_span()
        context = span.get_span_context()
        if context.is_valid:
            body["trace_id"] = format(context.trace_id, "032x")
            body["span_id"] = format(context.span_id, "016x")
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_") or key in body:
                continue
            if any(word in key.lower() for word in _SECRET_WORDS):
                value = "<hidden>"
            elif key in ("temporal_workflow", "temporal_activity") and isinstance(value, dict):
                body.setdefault("workflow_id", value.get("workflow_id"))
            body[key] = value
        attributes = getattr(span, "attributes", None) or {}
        for attribute, field in _SPAN_FIELDS.items():
            if field not in body and attribute in attributes:
                body[field] = attributes[attribute]
        runtime = body.get("runtime")
        if isinstance(runtime, str) and "/" in runtime and "namespace" not in body:
            body["namespace"], _, body["name"] = runtime.partition("/")
        workflow_id = body.get("workflow_id")
        if isinstance(workflow_id, str) and "namespace" not in body:
            found = runtime_of_workflow_id(workflow_id)
            if found is not None:
                body["namespace"], body["name"] = found
        if record.exc_info:
            body["error"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


def json_log_handler() -> logging.Handler:
    """A stderr handler writing one JSON object per record."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    return handler


def configure_logging(level: str | int = logging.INFO) -> None:
    """JSON lines on stderr for the whole process (replaces handlers set before)."""
    logging.basicConfig(level=level.upper() if isinstance(level, str) else level, handlers=[json_log_handler()],
                        force=True)
