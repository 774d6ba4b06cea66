"""Exporter selection from the standard OTEL_* variables (xtrinode/tracing.py): nothing configured means
no exporter and no tracer provider; an OTLP endpoint means OTLP/HTTP; `none` and OTEL_SDK_DISABLED
win; gRPC and unknown exporters are refused with a message saying what to set; XTRINODE_TRACES_DIR
adds the file exporter. A fresh process with tracing configured writes its spans there, named after it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from xtrinode.tracefile import JsonLinesSpanExporter, read_spans
from tests.spans import run_fresh
from xtrinode.tracing import TRACES_DIR_ENV, TracingConfigError, span_exporters

_OTEL = [name for name in os.environ if name.startswith("OTEL_")] + [TRACES_DIR_ENV]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _OTEL:
        monkeypatch.delenv(name, raising=False)


def test_nothing_configured_means_no_exporter() -> None:
    assert span_exporters("svc") == []


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
def test_an_otlp_endpoint_selects_otlp_over_http(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "http://collector.example:4318/v1/traces")
    [exporter] = span_exporters("svc")
    assert isinstance(exporter, OTLPSpanExporter)
    assert exporter._endpoint.startswith("http://collector.example:4318")


def test_otlp_endpoint_adds_the_traces_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example:4318")
    [exporter] = span_exporters("svc")
    assert isinstance(exporter, OTLPSpanExporter)
    assert exporter._endpoint == "http://collector.example:4318/v1/traces"


@pytest.mark.parametrize("off", [("OTEL_TRACES_EXPORTER", "none"), ("OTEL_SDK_DISABLED", "true")])
def test_none_and_sdk_disabled_turn_everything_off(monkeypatch: pytest.MonkeyPatch, off: tuple[str, str]) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example:4318")
    monkeypatch.setenv(TRACES_DIR_ENV, "/tmp/never")
    monkeypatch.setenv(*off)
    assert span_exporters("svc") == []


def test_explicit_exporters_and_the_traces_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console, otlp")
    monkeypatch.setenv(TRACES_DIR_ENV, str(tmp_path))
    exporters = span_exporters("svc")
    assert [type(e) for e in exporters] == [ConsoleSpanExporter, OTLPSpanExporter, JsonLinesSpanExporter]
    file_exporter = exporters[2]
    assert isinstance(file_exporter, JsonLinesSpanExporter)
    assert file_exporter.path.parent == tmp_path and file_exporter.path.name.startswith("svc-")


def test_grpc_is_refused_with_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(TracingConfigError, match="http/protobuf"):
        span_exporters("svc")


def test_an_unknown_exporter_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(TracingConfigError, match="'zipkin'"):
        span_exporters("svc")


_PROCESS = """
import sys
from opentelemetry import trace
from xtrinode.tracing import configure_tracing, tracing_active
provider = configure_tracing("xtrinode-probe")
if provider is None:
    print("off", tracing_active())
    sys.exit(0)
with trace.get_tracer("probe").start_as_current_span("outer", attributes={"xtrinode.namespace": "ns"}):
    with trace.get_tracer("probe").start_as_current_span("inner"):
        pass
provider.shutdown()
print("on", tracing_active())
"""


def _run(env: dict[str, str]) -> str:
    return run_fresh(_PROCESS, **env)


def test_a_process_without_configuration_installs_no_provider() -> None:
    assert _run({}) == "off False"


def test_a_process_with_a_traces_dir_writes_its_spans_there(tmp_path: Path) -> None:
    assert _run({TRACES_DIR_ENV: str(tmp_path)}) == "on True"
    [path] = list(tmp_path.glob("xtrinode-probe-*.jsonl"))
    request = json.loads(path.read_text().splitlines()[0])
    resource = {a["key"]: a["value"]["stringValue"] for a in request["resourceSpans"][0]["resource"]["attributes"]
                if "stringValue" in a["value"]}
    assert resource["service.name"] == "xtrinode-probe"
    spans = {s.name: s for s in read_spans(tmp_path)}
    assert spans["inner"].parent_id == spans["outer"].span_id
    assert spans["outer"].service == "xtrinode-probe"


def test_otel_service_name_overrides_the_process_name(tmp_path: Path) -> None:
    _run({TRACES_DIR_ENV: str(tmp_path), "OTEL_SERVICE_NAME": "custom"})
    assert {s.service for s in read_spans(tmp_path)} == {"custom"}


@pytest.mark.parametrize("command", [["worker"], ["operator"], ["webhook", "--cert", "c", "--key", "k"],
                                     ["gateway"], ["api-server", "--config", "{api_config}"]])
def test_every_process_refuses_a_tracing_setting_it_cannot_honour_with_a_message(
    command: list[str], tmp_path: Path
) -> None:
    """Each process's first step: a gRPC OTLP protocol (unsupported) ends it with status 2 and what to set,
    before it touches Temporal or Kubernetes; not a traceback."""
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("- {name: admin, token: t0123456789abcdef, scopes: [admin]}\n")
    api_config = tmp_path / "api.yaml"
    api_config.write_text(json.dumps({"auth": {"tokens": {"file": str(tokens)}}}))
    command = [part.format(api_config=api_config) for part in command]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != TRACES_DIR_ENV}
    env = {**clean, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    result = subprocess.run([sys.executable, "-c", "import sys; from xtrinode.cli import main; sys.exit(main())",
                             *command], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "error:" in result.stderr and "http/protobuf" in result.stderr
    assert "Traceback" not in result.stderr
