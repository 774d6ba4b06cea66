"""Spans as OTLP-JSON lines in a directory: the devstack's trace store without a collector.

Each process appends to `<directory>/<service>-<pid>.jsonl` (at `max_bytes`, 32 MiB by default, the
file becomes `<service>-<pid>.1.jsonl`, replacing the one before: at most twice that per process on
disk, the newest spans kept); each line is one OTLP/JSON
`ExportTraceServiceRequest` (`{"resourceSpans": [...]}`, ids in hex, times in Unix nanoseconds as
strings), so any OTLP/JSON reader takes it. `read_spans` flattens a directory back into `FileSpan`s.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.util.types import Attributes

__all__ = ["FileSpan", "JsonLinesSpanExporter", "encode_spans", "prune_span_files", "read_spans"]


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(attributes: Attributes) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in (attributes or {}).items()]


def _span(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None
    body: dict[str, Any] = {
        "traceId": format(context.trace_id, "032x"),
        "spanId": format(context.span_id, "016x"),
        "name": span.name,
        "kind": span.kind.value + 1,  # OTLP numbers kinds from 1 (INTERNAL); the API enum from 0
        "startTimeUnixNano": str(span.start_time or 0),
        "endTimeUnixNano": str(span.end_time or 0),
        "attributes": _attributes(span.attributes),
        "status": {"code": span.status.status_code.value},
    }
    if span.parent is not None:
        body["parentSpanId"] = format(span.parent.span_id, "016x")
    if span.status.description:
        body["status"]["message"] = span.status.description
    if span.events:
        body["events"] = [{"name": e.name, "timeUnixNano": str(e.timestamp), "attributes": _attributes(e.attributes)}
                          for e in span.events]
    if span.links:
        body["links"] = [{"traceId": format(link.context.trace_id, "032x"), "spanId": format(link.context.span_id, "016x")}
                         for link in span.links]
    return body


def encode_spans(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """One OTLP/JSON `ExportTraceServiceRequest` for `spans`, grouped by resource and scope."""
    groups: dict[int, tuple[Any, dict[tuple[str, str], list[dict[str, Any]]]]] = {}
    for span in spans:
        resource = span.resource
        _, scopes = groups.setdefault(id(resource), (resource, {}))
        scope = span.instrumentation_scope
        key = (scope.name if scope else "", (scope.version or "") if scope else "")
        scopes.setdefault(key, []).append(_span(span))
    return {"resourceSpans": [
        {"resource": {"attributes": _attributes(resource.attributes)},
         "scopeSpans": [{"scope": {"name": name, **({"version": version} if version else {})}, "spans": items}
                        for (name, version), items in scopes.items()]}
        for resource, scopes in groups.values()
    ]}


DEFAULT_MAX_BYTES = 32 * 1024 * 1024


class JsonLinesSpanExporter(SpanExporter):
    """Appends each batch as one OTLP/JSON line to `<directory>/<service>-<pid>.jsonl`, rotated at
    `max_bytes` into `<service>-<pid>.1.jsonl` (one rotated file kept)."""

    def __init__(self, directory: str | Path, service_name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"{service_name}-{os.getpid()}.jsonl"
        self.rotated = self.directory / f"{service_name}-{os.getpid()}.1.jsonl"
        self.max_bytes = max_bytes
        self._size: int | None = None  # bytes in `path`, read once, then counted
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        line = (json.dumps(encode_spans(spans), separators=(",", ":")) + "\n").encode("utf-8")
        try:
            with self._lock:
                self.directory.mkdir(parents=True, exist_ok=True)
                if self._size is None:
                    self._size = self.path.stat().st_size if self.path.exists() else 0
                if self._size and self._size + len(line) > self.max_bytes:
                    os.replace(self.path, self.rotated)
                    self._size = 0
                with self.path.open("ab") as out:
                    out.write(line)
                self._size += len(line)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@dataclass
class FileSpan:
    """One span read back from a trace directory."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    status_code: int = 0

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def _plain(value: dict[str, Any]) -> Any:
    for kind, inner in value.items():
        if kind == "intValue":
            return int(inner)
        if kind == "arrayValue":
            return [_plain(v) for v in inner.get("values", [])]
        return inner
    return None


def _read_line(line: str) -> Iterator[FileSpan]:
    request = json.loads(line)
    for resource_spans in request.get("resourceSpans", []):
        resource = {a["key"]: _plain(a["value"]) for a in resource_spans.get("resource", {}).get("attributes", [])}
        service = str(resource.get("service.name", "?"))
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                yield FileSpan(
                    trace_id=span["traceId"], span_id=span["spanId"], parent_id=span.get("parentSpanId") or None,
                    name=span["name"], service=service,
                    start_ns=int(span["startTimeUnixNano"]), end_ns=int(span["endTimeUnixNano"]),
                    attributes={a["key"]: _plain(a["value"]) for a in span.get("attributes", [])},
                    status_code=int(span.get("status", {}).get("code", 0)),
                )


def read_spans(directory: str | Path) -> list[FileSpan]:
    """Every span in the `*.jsonl` files of `directory`; a line that is not a span export (a torn last
    line, mid-write, or anything else) is skipped whole."""
    spans: list[FileSpan] = []
    for path in sorted(Path(directory).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                spans.extend(list(_read_line(line)))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
    return spans


def prune_span_files(directory: str | Path, max_age_seconds: float, now: float | None = None) -> list[Path]:
    """Remove the `*.jsonl` files of `directory` not written for `max_age_seconds` (those of processes
    long gone: each process writes its own); returns what was removed."""
    cutoff = (time.time() if now is None else now) - max_age_seconds
    removed = []
    for path in Path(directory).glob("*.jsonl"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            continue
    return removed
