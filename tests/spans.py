"""Span recording for the tracing tests: a tracer whose finished spans stay in memory, and a probe that
runs a snippet in a fresh interpreter with no tracing configured by the caller's environment."""

from __future__ import annotations

import os
import subprocess
import sys

from opentelemetry.sdk.trace import Tracer, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def recording_tracer() -> tuple[Tracer, InMemorySpanExporter]:
    """A tracer of its own provider (not the process-wide one) and the exporter holding its spans."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def run_fresh(code: str, **env: str) -> str:
    """stdout of `code` in a new interpreter whose environment has no OTEL_* and no XTRINODE_TRACES_DIR but `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "XTRINODE_TRACES_DIR"}
    result = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                            timeout=60, check=True)
    return result.stdout.strip()
