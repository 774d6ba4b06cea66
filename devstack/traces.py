"""`xtrinode dev traces`: the devstack's resume traces as indented timelines.

Every process of `xtrinode dev up` writes its spans as OTLP-JSON lines to `<state-dir>/traces/`
(xtrinode/tracefile.py). A resume trace is one holding the `resume` update or a ResumeRuntime step;
it prints as a tree (children under their parent, in start order): offset from the trace's start,
duration, span name, process and the attributes that explain it. A span whose parent was not written
(yet) prints at the top level.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from xtrinode.lifecycle import runtime_of_workflow_id
from xtrinode.tracefile import FileSpan

__all__ = ["KEY_ATTRIBUTES", "format_timeline", "resume_traces"]

KEY_ATTRIBUTES = {
    "xtrinode.runtime": "runtime", "trino.query_id": "query_id", "xtrinode.principal": "principal",
    "xtrinode.step": "step", "xtrinode.outcome": "outcome", "http.response.status_code": "status",
}
_RESUME_SPANS = ("StartWorkflowUpdate:resume", "HandleUpdate:resume", "RunWorkflow:ResumeRuntime")


def _runtime_of(spans: list[FileSpan]) -> str | None:
    for span in spans:
        namespace, name = span.attributes.get("xtrinode.namespace"), span.attributes.get("xtrinode.name")
        if namespace and name:
            return f"{namespace}/{name}"
        found = runtime_of_workflow_id(str(span.attributes.get("temporalWorkflowID", "")))
        if found is not None:
            return "/".join(found)
    return None


def resume_traces(spans: Iterable[FileSpan], runtime: str | None = None) -> list[list[FileSpan]]:
    """The resume traces among `spans` (of `runtime`, `ns/name`, when given), oldest first."""
    by_trace: dict[str, list[FileSpan]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    found = [members for members in by_trace.values()
             if any(s.name in _RESUME_SPANS for s in members)
             and (runtime is None or _runtime_of(members) == runtime)]
    return sorted(found, key=lambda members: min(s.start_ns for s in members))


def _describe(span: FileSpan) -> str:
    details = [f"{label}={span.attributes[key]}" for key, label in KEY_ATTRIBUTES.items() if key in span.attributes]
    if span.status_code == 2:
        details.append("ERROR")
    return " ".join(details)


def format_timeline(spans: list[FileSpan]) -> str:
    """One trace as an indented timeline (see the module docstring)."""
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[FileSpan]] = defaultdict(list)
    for span in spans:
        children[span.parent_id if span.parent_id in ids else None].append(span)
    when = datetime.fromtimestamp(start / 1e9, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    lines = [f"trace {spans[0].trace_id}  {when}  {_runtime_of(spans) or '-'}  {(end - start) / 1e9:.2f} s, "
             f"{len(spans)} spans"]

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: (s.start_ns, s.name)):
            offset = (span.start_ns - start) / 1e9
            lines.append(f"{offset:+8.3f}s {span.duration_ms:9.1f} ms  {'  ' * depth}{span.name}  [{span.service}]"
                         + (f"  {_describe(span)}" if _describe(span) else ""))
            walk(span.span_id, depth + 1)

    walk(None, 0)
    return "\n".join(lines)
