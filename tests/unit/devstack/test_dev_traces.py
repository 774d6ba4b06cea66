"""`xtrinode dev traces` (devstack/traces.py, devstack/cli.py): resume traces are found among all spans
of the state directory (by runtime when asked), and print as indented timelines: offset, duration,
name, process and key attributes, children under their parent in start order, orphans at the top."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devstack.cli import main as dev_main
from devstack.traces import format_timeline, resume_traces
from xtrinode.tracefile import FileSpan

MS = 1_000_000
T0 = 1_764_700_000_000_000_000


def _span(trace: str, span: str, parent: str | None, name: str, start_ms: float, end_ms: float, service: str = "gw",
          **attributes: Any) -> FileSpan:
    return FileSpan(trace, span, parent, name, service, T0 + int(start_ms * MS), T0 + int(end_ms * MS), attributes)


def _resume(trace: str, name: str, offset: float = 0) -> list[FileSpan]:
    return [
        _span(trace, "a1", None, "gateway statement", offset, offset + 3, "xtrinode-gateway",
              **{"xtrinode.runtime": f"analytics/{name}", "trino.query_id": "q1", "xtrinode.namespace": "analytics",
                 "xtrinode.name": name}),
        _span(trace, "a2", "a1", "gateway held statement", offset + 1, offset + 2500, "xtrinode-gateway"),
        _span(trace, "a3", "a2", "StartWorkflowUpdate:resume", offset + 2, offset + 2490, "xtrinode-gateway"),
        _span(trace, "a5", "a3", "StartChildWorkflow:ResumeRuntime", offset + 9, offset + 9, "xtrinode-worker"),
        _span(trace, "a4", "a3", "HandleUpdate:resume", offset + 5, offset + 5, "xtrinode-worker"),
        _span(trace, "a6", "a5", "kubernetes apply_runtime", offset + 20, offset + 70, "xtrinode-worker",
              **{"xtrinode.step": "ResumeRuntime"}),
        _span(trace, "a7", "gone", "trino wait_coordinator_ready", offset + 80, offset + 2400, "xtrinode-worker"),
    ]


def test_resume_traces_are_picked_and_filtered_by_runtime() -> None:
    other = [_span("t9", "b1", None, "gateway page", 0, 1)]
    spans = _resume("t2", "late", offset=10_000) + other + _resume("t1", "early")
    assert [t[0].trace_id for t in resume_traces(spans)] == ["t1", "t2"]
    assert [t[0].trace_id for t in resume_traces(spans, "analytics/late")] == ["t2"]
    assert resume_traces(spans, "analytics/none") == []


def test_timeline_indents_children_under_parents_in_start_order() -> None:
    text = format_timeline(_resume("t1", "demo"))
    lines = text.splitlines()
    assert lines[0].startswith("trace t1  ") and "analytics/demo" in lines[0] and "2.50 s, 7 spans" in lines[0]
    names = [line.split(" ms  ", 1)[1].split("  [")[0] for line in lines[1:]]
    assert names == ["gateway statement", "  gateway held statement", "    StartWorkflowUpdate:resume",
                     "      HandleUpdate:resume", "      StartChildWorkflow:ResumeRuntime",
                     "        kubernetes apply_runtime", "trino wait_coordinator_ready"]
    assert lines[1] == ("  +0.000s       3.0 ms  gateway statement  [xtrinode-gateway]  runtime=analytics/demo "
                        "query_id=q1")
    assert lines[6].startswith("  +0.020s      50.0 ms") and lines[6].endswith("step=ResumeRuntime")


def test_cli_prints_the_last_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert dev_main(["traces", "--state-dir", str(tmp_path)]) == 1
    assert "no resume traces" in capsys.readouterr().out
    traces = tmp_path / "traces"
    traces.mkdir()
    lines = []
    for trace, name, offset in (("0" * 31 + "1", "early", 0), ("0" * 31 + "2", "late", 10_000)):
        spans = [{"traceId": s.trace_id, "spanId": s.span_id, **({"parentSpanId": s.parent_id} if s.parent_id else {}),
                  "name": s.name, "kind": 1, "startTimeUnixNano": str(s.start_ns), "endTimeUnixNano": str(s.end_ns),
                  "attributes": [{"key": k, "value": {"stringValue": str(v)}} for k, v in s.attributes.items()]}
                 for s in _resume(trace, name, offset)]
        lines.append(json.dumps({"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "xtrinode-gateway"}}]},
            "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}]}]}))
    (traces / "xtrinode-gateway-1.jsonl").write_text("\n".join(lines) + "\n")
    assert dev_main(["traces", "--state-dir", str(tmp_path), "--last"]) == 0
    out = capsys.readouterr().out
    assert out.count("trace 0000") == 1 and "analytics/late" in out and "kubernetes apply_runtime" in out
    assert dev_main(["traces", "--state-dir", str(tmp_path), "--runtime", "analytics/early"]) == 0
    out = capsys.readouterr().out
    assert out.count("trace 0000") == 1 and "analytics/early" in out
    assert dev_main(["traces", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("trace 0000") == 2
