"""Jaeger all-in-one for `xtrinode dev up --traces`: find (or build) the binary, write its config.

scripts/fetch-jaeger.sh builds `github.com/jaegertracing/jaeger/cmd/jaeger` (v1.76.0) from the Go
module proxy once into the cache. The config keeps traces in memory, receives OTLP/HTTP only, and puts
every listener on loopback ports the devstack chose. The module carries no UI assets: `/` serves
Jaeger's placeholder page; the query API (`/api/services`, `/api/traces?service=...`,
`/api/traces/<id>`) serves the traces.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = ["FETCH_SCRIPT", "JaegerError", "JaegerPorts", "config_yaml", "find_jaeger"]

FETCH_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fetch-jaeger.sh"


class JaegerError(Exception):
    """Jaeger cannot be found or built."""


@dataclass(frozen=True)
class JaegerPorts:
    query: int
    """HTTP: the query API and the (placeholder) UI."""
    query_grpc: int
    otlp_http: int
    health: int


def find_jaeger(binary: Path | None = None) -> Path:
    """`binary`, else `$XTRINODE_JAEGER_BIN`, else what scripts/fetch-jaeger.sh prints (it builds it the
    first time: several minutes)."""
    if binary is None and os.environ.get("XTRINODE_JAEGER_BIN"):
        binary = Path(os.environ["XTRINODE_JAEGER_BIN"])
    if binary is None:
        result = subprocess.run(["bash", str(FETCH_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
        if result.returncode != 0:
            raise JaegerError(f"scripts/fetch-jaeger.sh failed (exit {result.returncode}, its messages are above); "
                              "it builds Jaeger from the Go module proxy and needs `go` on PATH")
        binary = Path(result.stdout.strip().splitlines()[-1])
    if not os.access(binary, os.X_OK):
        raise JaegerError(f"{binary} is not an executable Jaeger; unset XTRINODE_JAEGER_BIN or rerun "
                          "scripts/fetch-jaeger.sh")
    return binary


def config_yaml(ports: JaegerPorts) -> str:
    """Jaeger v2 configuration: OTLP/HTTP in, memory storage, query API, health check; all on 127.0.0.1."""
    config = {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"],
                                     "exporters": ["jaeger_storage_exporter"]}},
            "telemetry": {"resource": {"service.name": "jaeger"}, "metrics": {"level": "none"},
                          "logs": {"level": "warn"}},
        },
        "extensions": {
            "jaeger_query": {"storage": {"traces": "memory"},
                             "http": {"endpoint": f"127.0.0.1:{ports.query}"},
                             "grpc": {"endpoint": f"127.0.0.1:{ports.query_grpc}"}},
            "jaeger_storage": {"backends": {"memory": {"memory": {"max_traces": 100000}}}},
            "healthcheckv2": {"use_v2": True, "http": {"endpoint": f"127.0.0.1:{ports.health}"}},
        },
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{ports.otlp_http}"}}}},
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memory"}},
    }
    return yaml.safe_dump(config, sort_keys=False)
