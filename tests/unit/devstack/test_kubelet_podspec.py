"""Container specs read by the devstack kubelet: env with secretKeyRef/configMapKeyRef/fieldRef and
$(VAR) expansion, errors that never show secret values, probe ports by name, and the rendered
worker preStop hook understood as PUT "SHUTTING_DOWN" with its X-Trino-User (and password env).
"""

from __future__ import annotations

import base64

import pytest

from devstack.kubelet.podspec import (
    container_port,
    parse_properties,
    readiness_probe,
    resolve_env,
    shutdown_hook,
)
from devstack.kubelet.volumes import PodConfigError
from xtrinode.models import XTrinode
from xtrinode.render import RenderSettings
from xtrinode.render.workloads import pre_stop_command

POD = {"metadata": {"name": "trino-demo-worker-abc-xyz12", "namespace": "analytics", "uid": "u1"},
       "spec": {"nodeName": "node-a"}}
SECRETS = {"db": {"data": {"password": base64.b64encode(b"hunter2").decode()}}}


def test_env_resolves_values_secrets_config_maps_and_fields() -> None:
    container = {"env": [
        {"name": "PLAIN", "value": "x"},
        {"name": "DERIVED", "value": "$(PLAIN)-y-$$(PLAIN)"},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "NODE_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
    ]}
    env = resolve_env(POD, container, {"settings": {"data": {"mode": "fast"}}}, SECRETS, "127.16.0.7", "127.0.0.1")
    assert env == {"HOSTNAME": "trino-demo-worker-abc-xyz12", "PLAIN": "x", "DERIVED": "x-y-$(PLAIN)",
                   "PASSWORD": "hunter2", "MODE": "fast", "POD": "trino-demo-worker-abc-xyz12", "IP": "127.16.0.7",
                   "NODE_IP": "127.0.0.1"}


def test_missing_secret_key_names_the_key_not_a_value() -> None:
    container = {"env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "other"}}}]}
    with pytest.raises(PodConfigError) as raised:
        resolve_env(POD, container, {}, SECRETS)
    assert "'other'" in str(raised.value) and '"db"' in str(raised.value)
    assert "hunter2" not in str(raised.value)
    optional = {"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": True}}}]}
    assert "P" not in resolve_env(POD, optional, {}, {})


def test_probe_ports_resolve_by_name() -> None:
    container = {"ports": [{"name": "http", "containerPort": 8080}],
                 "readinessProbe": {"httpGet": {"path": "/v1/info", "port": "http"}}}
    probe = readiness_probe(container)
    assert probe is not None and (probe.port, probe.path) == (8080, "/v1/info")
    assert container_port(container, 9000) == 9000
    with pytest.raises(PodConfigError, match="no port named 'metrics'"):
        container_port(container, "metrics")
    assert readiness_probe({}) is None


def test_rendered_worker_pre_stop_is_a_trino_shutdown_request() -> None:
    runtime = XTrinode.model_validate({"metadata": {"name": "demo", "namespace": "a"}, "spec": {"size": "xs"}})
    command = pre_stop_command(runtime, RenderSettings())
    hook = shutdown_hook({"lifecycle": {"preStop": {"exec": {"command": command}}}})
    assert hook is not None
    assert (hook.method, hook.port, hook.path, hook.body) == ("PUT", 8080, "/v1/info/state", '"SHUTTING_DOWN"')
    assert hook.user == "xtrinode-operator" and hook.password_env is None
    assert hook.wait_for_exit


def test_pre_stop_with_control_password_uses_the_env_var() -> None:
    runtime = XTrinode.model_validate({"metadata": {"name": "demo", "namespace": "a"}, "spec": {
        "size": "xs", "trinoControlAuth": {"username": "ops", "passwordSecret": {"name": "ctl", "key": "pw"}}}})
    hook = shutdown_hook({"lifecycle": {"preStop": {"exec": {"command": pre_stop_command(runtime, RenderSettings())}}}})
    assert hook is not None and (hook.user, hook.password_env) == ("ops", "XTRINODE_CONTROL_PASSWORD")


def test_other_hooks_are_not_shutdown_requests() -> None:
    assert shutdown_hook({"lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}}}) is None
    assert shutdown_hook({}) is None


def test_properties_parse_like_trino_config_files() -> None:
    text = "# comment\ncoordinator=true\ndiscovery.uri = http://x:8080\n! other\nkey: value\n"
    assert parse_properties(text) == {"coordinator": "true", "discovery.uri": "http://x:8080", "key": "value"}
