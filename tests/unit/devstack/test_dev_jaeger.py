"""Jaeger for `dev up --traces` (devstack/jaeger.py): the config receives OTLP/HTTP only, stores in memory
and puts every listener on the loopback ports the devstack chose; a non-executable binary is refused
with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devstack.jaeger import JaegerError, JaegerPorts, config_yaml, find_jaeger


def test_config_listens_on_the_chosen_loopback_ports() -> None:
    config = yaml.safe_load(config_yaml(JaegerPorts(query=1001, query_grpc=1002, otlp_http=1003, health=1004)))
    assert config["receivers"] == {"otlp": {"protocols": {"http": {"endpoint": "127.0.0.1:1003"}}}}
    query = config["extensions"]["jaeger_query"]
    assert query["http"]["endpoint"] == "127.0.0.1:1001" and query["grpc"]["endpoint"] == "127.0.0.1:1002"
    assert config["extensions"]["healthcheckv2"]["http"]["endpoint"] == "127.0.0.1:1004"
    assert config["exporters"]["jaeger_storage_exporter"]["trace_storage"] in config["extensions"]["jaeger_storage"]["backends"]
    assert config["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]


def test_a_binary_that_is_not_executable_is_refused(tmp_path: Path) -> None:
    binary = tmp_path / "jaeger"
    binary.write_text("")
    with pytest.raises(JaegerError, match="XTRINODE_JAEGER_BIN"):
        find_jaeger(binary)
