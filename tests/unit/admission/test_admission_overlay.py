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
PASSWORD_OVERLAY = {"server": {"config": {"authenticationType": "PASSWORD"}},
                    "auth": {"passwordAuthSecret": "trino-passwords", "groupsAuthSecret": "trino-groups"}}


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
    pytest.param({"trino": {"config": {"http-server.http.port": 9090}}}, "spec.valuesOverlay.trino.config['http-server.http.port']", ["9090", "valuesOverlay.service.port"], id="http-port-trino-config"),
    pytest.param({"coordinator": {"additionalJVMConfig": ["-Dhttp-server.http.enabled=false"]}}, "spec.valuesOverlay.coordinator.additionalJVMConfig[0]", ["'false'", "remove it"], id="http-disabled-role-jvm"),
    pytest.param({"env": [{"name": "JAVA_TOOL_OPTIONS", "value": "-Xss2m -Dhttp-server.http.port=9000"}]}, "spec.valuesOverlay.env[0].value", ["'9000'", "valuesOverlay.service.port"], id="http-port-in-jvm-options-env"),
    pytest.param({"trino": {"jvm": ["-Dhttp-server.https.enabled=true"]}}, "spec.valuesOverlay.trino.jvm[0]", ["HTTPS", "gateway"], id="https-jvm-flag"),
    # HTTP authentication
    pytest.param({"trino": {"config": {"http-server.authentication.type": "CERTIFICATE"}}}, "spec.valuesOverlay.trino.config['http-server.authentication.type']", ["CERTIFICATE", "PASSWORD, JWT, OAUTH2", "gateway.auth"], id="auth-certificate"),
    pytest.param({"additionalConfigProperties": ["http-server.authentication.type=PASSWORD,KERBEROS"]}, "spec.valuesOverlay.additionalConfigProperties[0]", ["KERBEROS", "not supported"], id="auth-password-and-kerberos"),
    pytest.param({"server": {"config": {"authenticationType": "HEADER"}}}, "spec.valuesOverlay.server.config.authenticationType", ["HEADER", "PASSWORD"], id="auth-chart-style"),
    pytest.param(PASSWORD_OVERLAY, "spec.trinoControlAuth.passwordSecret", ["not set", "spec.valuesOverlay.server.config.authenticationType", "passwordSecret: {name", "password file"], id="password-auth-without-control-secret"),
    pytest.param({"server": {"config": {"authenticationType": "JWT"}}}, "spec.trinoControlAuth.passwordSecret", ["not set", "JWT"], id="jwt-without-control-secret"),
    pytest.param({"server": {"config": {"authenticationType": "OAUTH2"}}}, "spec.valuesOverlay.server.config.authenticationType", ["without PASSWORD", "OAUTH2,PASSWORD", "auth.passwordAuthSecret"], id="oauth2-without-password"),
    # isolation
    pytest.param({"hostNetwork": True}, "spec.valuesOverlay.hostNetwork", ["True", "network namespace", "remove it"], id="host-network"),
    pytest.param({"coordinator": {"pod": {"hostPID": "true"}}}, "spec.valuesOverlay.coordinator.pod.hostPID", ["'true'", "process namespace"], id="host-pid-string"),
    pytest.param({"hostIPC": 1}, "spec.valuesOverlay.hostIPC", ["1", "IPC"], id="host-ipc-int"),
    pytest.param({"securityContext": {"privileged": True}}, "spec.valuesOverlay.securityContext.privileged", ["True", "privileged", "remove it"], id="privileged"),
    pytest.param({"containerSecurityContext": {"allowPrivilegeEscalation": True}}, "spec.valuesOverlay.containerSecurityContext.allowPrivilegeEscalation", ["allowPrivilegeEscalation: false"], id="privilege-escalation"),
    pytest.param({"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}, "spec.valuesOverlay.securityContext.capabilities.add", ["['SYS_ADMIN']", "capabilities", "remove it"], id="capabilities-add"),
    pytest.param({"volumes": [{"name": "data", "hostPath": {"path": "/var/lib"}}]}, "spec.valuesOverlay.volumes[0].hostPath", ["hostPath", "emptyDir", "persistentVolumeClaim"], id="host-path-volume"),
    pytest.param({"sidecarContainers": {"worker": [{"name": "x", "image": "busybox", "ports": [{"containerPort": 80, "hostPort": 80}]}]}}, "spec.valuesOverlay.sidecarContainers.worker[0].ports[0].hostPort", ["80", "gateway"], id="host-port-in-sidecar"),
    pytest.param({"sidecarContainers": {"coordinator": [{"name": "x", "image": "busybox", "securityContext": {"privileged": True}}]}}, "spec.valuesOverlay.sidecarContainers.coordinator[0].securityContext.privileged", ["privileged"], id="privileged-sidecar"),
    pytest.param({"service": {"type": "LoadBalancer"}}, "spec.valuesOverlay.service.type", ["'LoadBalancer'", "ClusterIP", "gateway"], id="service-load-balancer"),
    pytest.param({"service": {"type": "NodePort", "port": 8080}}, "spec.valuesOverlay.service.type", ["'NodePort'", "ClusterIP"], id="service-node-port"),
    pytest.param({"service": {"externalIPs": ["1.2.3.4"]}}, "spec.valuesOverlay.service.externalIPs", ["1.2.3.4", "gateway"], id="external-ips"),
    pytest.param({"coordinator": {"envFrom": [{"secretRef": {"name": "all"}}]}}, "spec.valuesOverlay.coordinator.envFrom", ["valuesOverlay.envFrom"], id="env-from-elsewhere"),
    pytest.param({"sidecars": [{"name": "proxy", "image": "envoy"}]}, "spec.valuesOverlay.sidecars", ["extra containers", "sidecarContainers"], id="sidecars"),
    pytest.param({"extraContainers": [{"name": "x"}]}, "spec.valuesOverlay.extraContainers", ["extra containers"], id="extra-containers"),
    pytest.param({"initContainers": [{"name": "x"}]}, "spec.valuesOverlay.initContainers", ["extra containers"], id="init-containers"),
    # keys render does not apply
    pytest.param({"podAnnotations": {"a": "b"}}, "spec.valuesOverlay.podAnnotations", ["not a supported valuesOverlay key", "ignored", "server.config.authenticationType", "trino.jvm"], id="unknown-top-level-key"),
    pytest.param({"coordinator": {"sidecarContainers": [{"name": "x"}]}}, "spec.valuesOverlay.coordinator.sidecarContainers", ["not a supported", "sidecarContainers.coordinator"], id="sidecars-in-the-wrong-place"),
    pytest.param({"worker": {"resources": {"limits": {"memory": "2Gi"}}}}, "spec.valuesOverlay.worker.resources", ["spec.resources.{coordinator,worker}"], id="typed-field-instead"),
    pytest.param({"image": {"registry": "r"}}, "spec.valuesOverlay.image.registry", ["not a supported", "image.repository"], id="unknown-image-key"),
    pytest.param({"service": {"port": "8080"}}, "spec.valuesOverlay.service.port", ["not a port number"], id="service-port-text"),
    pytest.param({"auth": {"passwordAuthSecret": "Not_A_Name"}}, "spec.valuesOverlay.auth.passwordAuthSecret", ["not a Secret name"], id="bad-secret-name"),
    # plain-text secrets
    pytest.param({"additionalConfigProperties": ["http-server.authentication.oauth2.client-secret=hunter2"]}, "spec.valuesOverlay.additionalConfigProperties[0]", ["looks like a secret", "${ENV:NAME}", "secretKeyRef"], id="plaintext-client-secret"),
    pytest.param({"coordinator": {"additionalConfigProperties": ["hive.metastore.password=hunter2"]}}, "spec.valuesOverlay.coordinator.additionalConfigProperties[0]", ["looks like a secret", "${ENV:NAME}"], id="plaintext-in-a-role-list"),
    pytest.param({"trino": {"config": {"internal-communication.shared-secret": "hunter2"}}}, "spec.valuesOverlay.trino.config['internal-communication.shared-secret']", ["looks like a secret"], id="plaintext-shared-secret"),
]

# What render would refuse is refused at admission (the runtime would otherwise end in phase Error).
RENDER_REFUSALS = [
    pytest.param({"server": {"config": {"authenticationType": "PASSWORD"}}}, ["auth.passwordAuthSecret", "password.db"], id="password-without-password-file"),
    pytest.param({**PASSWORD_OVERLAY, "server": {"config": {"authenticationType": "JWT,PASSWORD"}}}, ["http-server.authentication.jwt.key-file", "additionalConfigProperties"], id="jwt-without-key-file"),
    pytest.param({**PASSWORD_OVERLAY, "additionalConfigProperties": ["http-server.authentication.allow-insecure-over-http=false"]}, ["must stay true", "TLS ends at the gateway"], id="insecure-over-http-off"),
    pytest.param({"trino": {"jvm": ["-Xmx8G"]}}, ["-Xmx8G", "spec.resources.coordinator.limits.memory"], id="heap-flag"),
    pytest.param({"volumes": [{"name": "config", "emptyDir": {}}]}, ["volumes 'config'", "already used"], id="volume-name-clash"),
    pytest.param({"volumeMounts": [{"name": "nope", "mountPath": "/x"}]}, ["names no volume"], id="mount-without-volume"),
    pytest.param({"additionalConfigProperties": ["discovery.uri=http://elsewhere:8080"]}, ["discovery.uri", "XTrinode manages it"], id="wiring-key"),
]


@pytest.mark.parametrize(("overlay", "fragments"), RENDER_REFUSALS)
def test_overlays_render_would_refuse_are_refused_at_admission(overlay: dict[str, Any], fragments: list[str]) -> None:
    reasons = _rejections(overlay, trinoControlAuth=CONTROL_AUTH)
    assert len(reasons) == 1, reasons
    assert reasons[0].startswith("spec.valuesOverlay: ")
    for fragment in fragments:
        assert fragment in reasons[0], (fragment, reasons[0])


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
        pytest.param({"service": {"port": 8081}}, id="service-port"),
        pytest.param({"trino": {"config": {"http-server.http.enabled": True}}}, id="http-enabled-true"),
        pytest.param({"trino": {"config": {"http-server.https.enabled": False}}}, id="https-disabled"),
        pytest.param({"securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
                      "containerSecurityContext": {"privileged": False, "allowPrivilegeEscalation": False}},
                     id="dangerous-switches-off"),
        pytest.param({"volumes": [{"name": "tmp", "emptyDir": {}}], "volumeMounts": [{"name": "tmp", "mountPath": "/tmp/x"}],
                      "envFrom": [{"configMapRef": {"name": "trino-env"}}]}, id="volume-mount-envfrom"),
        pytest.param({"env": [{"name": "TZ", "value": "UTC"}, {"name": "JAVA_TOOL_OPTIONS", "value": "-Xss2m -Dfoo=1"}],
                      "trino": {"jvm": ["-XX:+UseG1GC"]}}, id="env-and-jvm"),
        pytest.param({"additionalConfigProperties": ["query.max-run-time=1h"], "image": {"tag": "477"},
                      "coordinator": {"additionalJVMConfig": ["-XX:+UseZGC"]}}, id="trino-config"),
        pytest.param({"sidecarContainers": {"worker": [{"name": "shipper", "image": "fluent/fluent-bit:3"}]}}, id="sidecar"),
        pytest.param({"resourceGroups": {"resourceGroupsConfig": '{"rootGroups": [], "selectors": []}'}}, id="resource-groups"),
        pytest.param({"trino": {"config": {"http-server.authentication.type": ""}}}, id="auth-type-empty"),
        pytest.param({"additionalConfigProperties": ["http-server.authentication.oauth2.client-secret=${ENV:OAUTH_SECRET}"]},
                     id="secret-from-env-placeholder"),
    ],
)
def test_safe_overlays_are_allowed(overlay: dict[str, Any]) -> None:
    result = evaluate(runtime_request({"size": "s", "valuesOverlay": overlay}))
    assert result.allowed, result.reasons
    assert result.gate_required


@pytest.mark.parametrize("overlay", [
    pytest.param(PASSWORD_OVERLAY, id="seed-password-overlay"),
    pytest.param({**PASSWORD_OVERLAY, "server": {"config": {"authenticationType": "JWT,PASSWORD"}},
                  "additionalConfigProperties": ["http-server.authentication.jwt.key-file=https://idp/jwks"]}, id="jwt"),
    pytest.param({**PASSWORD_OVERLAY, "server": {"config": {"authenticationType": "OAUTH2,PASSWORD"}},
                  "additionalConfigProperties": ["http-server.authentication.oauth2.issuer=https://idp",
                                                 "http-server.authentication.oauth2.client-id=trino",
                                                 "http-server.authentication.oauth2.client-secret=${ENV:OAUTH_SECRET}"]},
                 id="oauth2"),
])
def test_authentication_with_control_credentials_is_allowed(overlay: dict[str, Any]) -> None:
    result = evaluate(runtime_request({"size": "s", "valuesOverlay": overlay, "trinoControlAuth": CONTROL_AUTH}))
    assert result.allowed, result.reasons


def test_every_isolation_problem_is_listed() -> None:
    overlay = {"hostNetwork": True, "service": {"type": "LoadBalancer"}, "securityContext": {"privileged": True}}
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
