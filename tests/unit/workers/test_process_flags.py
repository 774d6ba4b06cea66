"""Flags of `xtrinode worker` and `xtrinode operator` (what the Helm chart passes).

Checks: the worker's namespace flags reach rendering (a runtime's NetworkPolicy admits the configured
gateway and control-plane namespaces, the KEDA http scaler reads the configured gateway Service and port);
`--namespace` scopes the worker; the Temporal TLS flags and the API key (from the environment only, never
a flag) reach the Temporal settings, and a client certificate without its key is refused with a message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.lifecycle import settings_from_args as worker_settings
from workers.operator import settings_from_args as operator_settings
from xtrinode.models import XTrinode
from xtrinode.render import render_runtime
from xtrinode.temporal import TemporalSettings, temporal_settings_from_args, tls_config

RUNTIME = {
    "apiVersion": "analytics.xtrinode.io/v1", "kind": "XTrinode",
    "metadata": {"name": "demo", "namespace": "team-a", "uid": "u-1"},
    "spec": {"size": "xs", "minWorkers": 0, "maxWorkers": 2,
             "keda": {"enabled": True, "scalerType": "http", "scalingMetric": "query"}},
}


def test_the_workers_namespace_flags_reach_the_rendered_objects() -> None:
    settings = worker_settings([
        "--gateway-namespace", "edge", "--control-plane-namespace", "xt-cp", "--monitoring-namespace", "prom",
        "--gateway-service", "gw", "--gateway-internal-port", "9081", "--namespace", "team-a", "--namespace", "team-b",
        "--health-port", "8090",
    ])
    assert settings.namespaces == ("team-a", "team-b") and settings.health_port == 8090
    assert settings.render is not None
    manifests = render_runtime(XTrinode.model_validate(RUNTIME), [], settings.render)
    policy = next(m for m in manifests if m["kind"] == "NetworkPolicy")
    admitted = [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                for rule in policy["spec"]["ingress"] for peer in rule["from"] if "namespaceSelector" in peer]
    assert admitted == ["edge", "xt-cp", "prom"]
    scaled = next(m for m in manifests if m["kind"] == "ScaledObject")
    url = scaled["spec"]["triggers"][0]["metadata"]["url"]
    assert url.startswith("http://gw.edge.svc.cluster.local:9081/v1/xtrinode/load/team-a/demo"), url


def test_temporal_tls_flags_and_the_api_key_from_the_environment(tmp_path: Path) -> None:
    for name in ("ca.crt", "tls.crt", "tls.key"):
        (tmp_path / name).write_text(f"-----BEGIN {name}-----\n")
    argv = ["--temporal-address", "temporal.example:7233", "--temporal-namespace", "prod",
            "--temporal-tls-ca", str(tmp_path / "ca.crt"), "--temporal-tls-cert", str(tmp_path / "tls.crt"),
            "--temporal-tls-key", str(tmp_path / "tls.key"), "--temporal-tls-server-name", "temporal.example"]
    for parse in (worker_settings, operator_settings):
        settings = parse(argv).temporal
        assert (settings.address, settings.namespace, settings.tls_server_name) == (
            "temporal.example:7233", "prod", "temporal.example")
        tls = tls_config(settings)
        assert not isinstance(tls, bool)
        assert tls.client_cert == b"-----BEGIN tls.crt-----\n" and tls.server_root_ca_cert is not None
    import argparse

    from xtrinode.temporal import add_temporal_arguments

    parser = argparse.ArgumentParser()
    add_temporal_arguments(parser)
    assert not any("api-key" in option for action in parser._actions for option in action.option_strings), \
        "an API key flag would put the key into the pod spec and the process list"
    args = parser.parse_args([])
    assert temporal_settings_from_args(args, {"XTRINODE_TEMPORAL_API_KEY": "k-123"}).api_key == "k-123"
    assert temporal_settings_from_args(args, {}).api_key is None
    assert "k-123" not in repr(temporal_settings_from_args(args, {"XTRINODE_TEMPORAL_API_KEY": "k-123"}))


def test_plain_and_half_configured_tls() -> None:
    assert tls_config(TemporalSettings()) is False
    assert tls_config(TemporalSettings(tls=True)) is True
    with pytest.raises(ValueError, match="certificate and key go together"):
        tls_config(TemporalSettings(tls_cert_file=Path("/x.crt")))
