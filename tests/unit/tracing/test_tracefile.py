"""The devstack's span files (xtrinode/tracefile.py): each batch is one OTLP/JSON
ExportTraceServiceRequest line (hex ids, kinds numbered from 1, nanosecond strings, typed attribute
values), and `read_spans` reads it back; a torn last line is skipped; a file past its size limit is
rotated (one old file kept, the newest spans readable)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from xtrinode.tracefile import JsonLinesSpanExporter, prune_span_files, read_spans


def _provider(directory: Path) -> tuple[TracerProvider, JsonLinesSpanExporter]:
    exporter = JsonLinesSpanExporter(directory, "svc")
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_spans_are_otlp_json_lines(tmp_path: Path) -> None:
    provider, exporter = _provider(tmp_path)
    tracer = provider.get_tracer("scope", "1.2")
    with tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent:
        with tracer.start_as_current_span("child", attributes={"s": "x", "i": 3, "f": 0.5, "b": True, "l": ["a"]}) as child:
            child.set_status(Status(StatusCode.ERROR, "broke"))
    lines = exporter.path.read_text().splitlines()
    assert len(lines) == 2  # one export (one line) per finished span with the simple processor
    first = json.loads(lines[0])
    [resource_spans] = first["resourceSpans"]
    [scope_spans] = resource_spans["scopeSpans"]
    assert scope_spans["scope"] == {"name": "scope", "version": "1.2"}
    [span] = scope_spans["spans"]
    assert span["name"] == "child" and span["kind"] == 1
    assert span["traceId"] == format(parent.get_span_context().trace_id, "032x") and len(span["traceId"]) == 32
    assert span["parentSpanId"] == format(parent.get_span_context().span_id, "016x")
    assert int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"]) > 0
    assert span["status"] == {"code": 2, "message": "broke"}
    values = {a["key"]: a["value"] for a in span["attributes"]}
    assert values == {"s": {"stringValue": "x"}, "i": {"intValue": "3"}, "f": {"doubleValue": 0.5},
                      "b": {"boolValue": True}, "l": {"arrayValue": {"values": [{"stringValue": "a"}]}}}
    assert json.loads(lines[1])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["kind"] == 2  # SERVER


def test_read_spans_reads_them_back_and_skips_a_torn_or_foreign_line(tmp_path: Path) -> None:
    provider, exporter = _provider(tmp_path)
    tracer = provider.get_tracer("scope")
    with tracer.start_as_current_span("parent"):
        with tracer.start_as_current_span("child", attributes={"xtrinode.step": "ResumeRuntime", "n": 7}):
            pass
    with exporter.path.open("a") as out:
        # Lines that are JSON but no span export (another tool's file, a hand edit) are skipped like a torn one.
        out.write('{"resourceSpans": {"scopeSpans": 1}}\n[1, 2]\n"text"\n{"resourceSpans": [{"scopeSpans": [7]}]}\n')
        out.write('{"resourceSpans": [')
    spans = {s.name: s for s in read_spans(tmp_path)}
    assert set(spans) == {"parent", "child"}
    assert spans["child"].parent_id == spans["parent"].span_id and spans["parent"].parent_id is None
    assert spans["child"].attributes == {"xtrinode.step": "ResumeRuntime", "n": 7}
    assert spans["child"].service == "svc" and spans["child"].duration_ms >= 0


def test_a_full_file_is_rotated_keeping_the_newest_spans_and_a_bounded_size(tmp_path: Path) -> None:
    exporter = JsonLinesSpanExporter(tmp_path, "svc", max_bytes=4096)
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("scope")
    for i in range(200):  # each export is a few hundred bytes: many rotations
        with tracer.start_as_current_span(f"span-{i}"):
            pass
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted([exporter.path.name, exporter.rotated.name])
    assert all((tmp_path / f).stat().st_size <= 4096 for f in files)
    names = [s.name for s in read_spans(tmp_path)]
    assert "span-199" in names and "span-198" in names, "the newest spans are kept"
    assert "span-0" not in names, "the oldest went with the rotation"
    assert sorted(names, key=lambda n: int(n.split("-")[1])) == [f"span-{i}" for i in range(200 - len(names), 200)]
    assert len(names) >= 4, "the current and the rotated file both hold spans"


def test_span_files_not_written_for_a_while_are_pruned(tmp_path: Path) -> None:
    old, fresh, other = tmp_path / "gateway-11.jsonl", tmp_path / "gateway-12.jsonl", tmp_path / "notes.txt"
    for path in (old, fresh, other):
        path.write_text("{}\n")
    now = time.time()
    os.utime(old, (now - 8 * 86400, now - 8 * 86400))
    os.utime(other, (now - 8 * 86400, now - 8 * 86400))
    assert prune_span_files(tmp_path, 7 * 86400, now=now) == [old]
    assert not old.exists() and fresh.exists() and other.exists()
