"""valuesOverlay rules: the whole tree is searched (nested keys, flat dotted keys, `k=v` strings).

Checks: HTTP port and HTTP-off overrides (pointing at valuesOverlay.service.port), HTTPS server mode,
HTTP auth types other than PASSWORD, PASSWORD without trinoControlAuth.passwordSecret, and the pod and
Service settings that break isolation; plus overlays that must stay allowed.
"""

from __future__ import annotations

from typing import Any

import pytest
from admission_builders import runtime_request

from xtrinode.admission import evaluate
from xtrinode.admission.overlay import iter_settings

CONTROL_AUTH = {"passwordSecret": {"name": "trino-control", "key": "password"}}


def _rejections(overlay: Any, **spec: Any) -> list[str]:
    result = evaluate(runtime_request({"size": "s", "valuesOverlay": overlay, **spec}))
    return result.reasons


REJECTIONS = [
    # HTTP port and HTTP server
    pytest.param({"coordinator": {"config": {"http-server.http.port": 9090}}}, "spec.valuesOverlay.coordinator.config['http-server.http.port']", ["9090", "valuesOverlay.service.port"], id="http-port-flat-key"),
    pytest.param({"http-server": {"http": {"port": "9090"}}}, "spec.valuesOverlay['http-server'].http.port", ["'9090'", "valuesOverlay.service.port"], id="http-port-nested-keys"),
    pytest.param({"additionalConfigProperties": ["query.max-run-time=1h", "http-server.http.port=9090"]}, "spec.valuesOverlay.additionalConfigProperties[1]", ["http-server.http.port='9090'", "valuesOverlay.service.port"], id="http-port-k=v-string"),
    pytest.param({"worker": {"configProperties": "node.environment=prod\nhttp-server.http.port: 8081\n"}}, "spec.valuesOverlay.worker.configProperties", ["'8081'", "valuesOverlay.service.port"], id="http-port-in-properties-text"),
    pytest.param({"jvm": {"options": ["-Xmx8G", "-Dhttp-server.http.port=8081"]}}, "spec.valuesOverlay.jvm.options[1]", ["'8081'", "valuesOverlay.service.port"], id="http-port-jvm-system-property"),
    pytest.param({"env": [{"name": "http-server.http.port", "value": "1"}]}, "spec.valuesOverlay.env[0]", ["'1'", "valuesOverlay.service.port"], id="http-port-name-value-pair"),
    pytest.param({"config": {"http-server.http.port": [9090]}}, "spec.valuesOverlay.config['http-server.http.port']", ["[9090]", "valuesOverlay.service.port"], id="http-port-odd-type"),
    pytest.param({"config": {"http-server.http.enabled": False}}, "spec.valuesOverlay.config['http-server.http.enabled']", ["False", "http-server.http.enabled", "remove it"], id="http-disabled-bool"),
    pytest.param({"extra": ["http-server.http.enabled=false"]}, "spec.valuesOverlay.extra[0]", ["'false'", "remove it"], id="http-disabled-string"),
    # HTTPS server mode
    pytest.param({"config": {"http-server.https.enabled": True}}, "spec.valuesOverlay.config['http-server.https.enabled']", ["True", "HTTPS", "gateway", "TLS"], id="https-enabled"),
    pytest.param({"server": {"config": {"https": {"enabled": "true"}}}}, "spec.valuesOverlay.server.config.https.enabled", ["'true'", "HTTPS", "gateway"], id="https-enabled-chart-style"),
    pytest.param({"props": ["http-server.https.port=8443"]}, "spec.valuesOverlay.props[0]", ["'8443'", "HTTPS", "http-server.https.port"], id="https-port"),
    pytest.param({"config": {"http-server.https.keystore.path": "/etc/ks"}}, "spec.valuesOverlay.config['http-server.https.keystore.path']", ["'/etc/ks'", "HTTPS"], id="https-keystore"),
    # HTTP authentication
    pytest.param({"config": {"http-server.authentication.type": "OAUTH2"}}, "spec.valuesOverlay.config['http-server.authentication.type']", ["OAUTH2", "PASSWORD", "passwordSecret", "gateway.auth"], id="auth-oauth2"),
    pytest.param({"props": ["http-server.authentication.type=PASSWORD,JWT"]}, "spec.valuesOverlay.props[0]", ["JWT", "PASSWORD"], id="auth-password-and-jwt"),
    pytest.param({"server": {"config": {"authenticationType": "CERTIFICATE"}}}, "spec.valuesOverlay.server.config.authenticationType", ["CERTIFICATE", "PASSWORD"], id="auth-chart-style"),
    pytest.param({"config": {"http-server.authentication.type": "PASSWORD"}}, "spec.trinoControlAuth.passwordSecret", ["not set", "spec.valuesOverlay.config['http-server.authentication.type']", "passwordSecret: {name"], id="password-auth-without-control-secret"),
    # isolation
    pytest.param({"hostNetwork": True}, "spec.valuesOverlay.hostNetwork", ["True", "network namespace", "remove it"], id="host-network"),
    pytest.param({"coordinator": {"pod": {"hostPID": "true"}}}, "spec.valuesOverlay.coordinator.pod.hostPID", ["'true'", "process namespace"], id="host-pid-string"),
    pytest.param({"hostIPC": 1}, "spec.valuesOverlay.hostIPC", ["1", "IPC"], id="host-ipc-int"),
    pytest.param({"securityContext": {"privileged": True}}, "spec.valuesOverlay.securityContext.privileged", ["True", "privileged", "remove it"], id="privileged"),
    pytest.param({"containerSecurityContext": {"allowPrivilegeEscalation": True}}, "spec.valuesOverlay.containerSecurityContext.allowPrivilegeEscalation", ["allowPrivilegeEscalation: false"], id="privilege-escalation"),
    pytest.param({"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}, "spec.valuesOverlay.securityContext.capabilities.add", ["['SYS_ADMIN']", "capabilities", "remove it"], id="capabilities-add"),
    pytest.param({"volumes": [{"name": "data", "hostPath": {"path": "/var/lib"}}]}, "spec.valuesOverlay.volumes[0].hostPath", ["hostPath", "emptyDir", "persistentVolumeClaim"], id="host-path-volume"),
    pytest.param({"ports": [{"containerPort": 8080, "hostPort": 80}]}, "spec.valuesOverlay.ports[0].hostPort", ["80", "gateway"], id="host-port"),
    pytest.param({"service": {"type": "LoadBalancer"}}, "spec.valuesOverlay.service.type", ["'LoadBalancer'", "ClusterIP", "gateway"], id="service-load-balancer"),
    pytest.param({"service": {"type": "NodePort", "port": 8080}}, "spec.valuesOverlay.service.type", ["'NodePort'", "ClusterIP"], id="service-node-port"),
    pytest.param({"service": {"externalIPs": ["1.2.3.4"]}}, "spec.valuesOverlay.service.externalIPs", ["1.2.3.4", "gateway"], id="external-ips"),
    pytest.param({"envFrom": [{"secretRef": {"name": "all"}}]}, "spec.valuesOverlay.envFrom", ["envFrom", "env entries", "propertySecretRefs"], id="env-from"),
    pytest.param({"sidecars": [{"name": "proxy", "image": "envoy"}]}, "spec.valuesOverlay.sidecars", ["extra containers", "own workload"], id="sidecars"),
    pytest.param({"coordinator": {"sidecarContainers": [{"name": "x"}]}}, "spec.valuesOverlay.coordinator.sidecarContainers", ["extra containers"], id="sidecar-containers"),
    pytest.param({"extraContainers": [{"name": "x"}]}, "spec.valuesOverlay.extraContainers", ["extra containers"], id="extra-containers"),
    pytest.param({"initContainers": [{"name": "x"}]}, "spec.valuesOverlay.initContainers", ["extra containers"], id="init-containers"),
]


@pytest.mark.parametrize(("overlay", "path", "fragments"), REJECTIONS)
def test_overlay_rejections_name_the_setting_and_the_alternative(
    overlay: dict[str, Any], path: str, fragments: list[str]
) -> None:
    reasons = _rejections(overlay)
    matching = [r for r in reasons if r.startswith(f"{path}: ")]
    assert len(matching) == 1, reasons
    for fragment in fragments:
        assert fragment in matching[0], (fragment, matching[0])


@pytest.mark.parametrize(
    "overlay",
    [
        pytest.param({"service": {"port": 8081, "type": "ClusterIP"}}, id="service-port"),
        pytest.param({"config": {"http-server.http.enabled": True}}, id="http-enabled-true"),
        pytest.param({"config": {"http-server.https.enabled": False}}, id="https-disabled"),
        pytest.param({"server": {"config": {"https": {"enabled": False}}}}, id="https-disabled-chart-style"),
        pytest.param({"hostNetwork": False, "hostPID": "false", "securityContext": {"privileged": False, "allowPrivilegeEscalation": False, "runAsNonRoot": True}}, id="dangerous-switches-off"),
        pytest.param({"volumes": [{"name": "tmp", "emptyDir": {}}], "envFrom": []}, id="safe-volume-empty-envfrom"),
        pytest.param({"env": [{"name": "TZ", "value": "UTC"}], "jvm": {"options": ["-Xmx8G", "-XX:+UseG1GC"]}}, id="env-and-jvm"),
        pytest.param({"additionalConfigProperties": ["query.max-run-time=1h"], "image": {"tag": "477"}}, id="trino-config"),
        pytest.param({"config": {"http-server.authentication.type": ""}}, id="auth-type-empty"),
    ],
)
def test_safe_overlays_are_allowed(overlay: dict[str, Any]) -> None:
    result = evaluate(runtime_request({"size": "s", "valuesOverlay": overlay}))
    assert result.allowed, result.reasons
    assert result.gate_required


def test_password_auth_with_control_secret_is_allowed() -> None:
    overlay = {"config": {"http-server.authentication.type": "password"}}
    result = evaluate(runtime_request({"size": "s", "valuesOverlay": overlay, "trinoControlAuth": CONTROL_AUTH}))
    assert result.allowed, result.reasons


def test_every_isolation_problem_is_listed() -> None:
    overlay = {"hostNetwork": True, "service": {"type": "LoadBalancer"}, "envFrom": [{"configMapRef": {"name": "x"}}]}
    assert len(_rejections(overlay)) == 3


def test_absurdly_deep_overlay_is_rejected_with_a_clear_reason_not_a_crash() -> None:
    overlay: dict[str, Any] = {"x": 1}
    for _ in range(3000):
        overlay = {"a": overlay}
    obj = runtime_request({"size": "s"}).object or {}
    request = runtime_request({"size": "s"}).model_copy(
        update={"object": {**obj, "spec": {"size": "s", "valuesOverlay": overlay}}}
    )
    result = evaluate(request)
    assert result.reasons == [
        "spec.valuesOverlay: nests 3001 levels deep, more than the 32 accepted; flatten it"
    ]


def test_deeply_nested_overlay_is_walked_without_recursion() -> None:
    overlay: dict[str, Any] = {"hostNetwork": True}
    for _ in range(2000):
        overlay = {"a": overlay}
    settings = list(iter_settings(overlay))
    assert settings[-1].leaf == "hostnetwork"
    assert len(settings) == 2001
