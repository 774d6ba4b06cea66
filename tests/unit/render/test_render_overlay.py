"""valuesOverlay keys (Trino Helm chart names) as render applies them.

Checks: the seed's PASSWORD overlay (authentication type, password and group files mounted from their
Secrets, authenticator files, allow-insecure-over-http, the shared secret from trinoControlAuth, Secret
references that roll the pods) on both roles; JWT next to PASSWORD; what authentication cannot do without
(control credentials, PASSWORD for control calls, the password Secret, JWT key file, OAUTH2 settings,
plain HTTP); service.port; image; pod and container security contexts; env, envFrom, volumes,
volumeMounts and sidecars per role, and every clash with what XTrinode renders; the file-based resource
group manager on the coordinator only; additionalConfigProperties and per-role additionalJVMConfig;
unknown keys refused with the supported list.
"""

from __future__ import annotations

from typing import Any

import pytest
from render_testkit import build_runtime, config_data, container, deployment, parse_properties

from xtrinode.render import RenderError, render_runtime, runtime_secret_references
from xtrinode.render.metadata import SECRET_REFS_ANNOTATION

CONTROL = {"username": "xtrinode-operator", "passwordSecret": {"name": "trino-control", "key": "password"}}
SEED_PASSWORD_OVERLAY = {
    "server": {"config": {"authenticationType": "PASSWORD"}},
    "auth": {"passwordAuthSecret": "trino-passwords", "groupsAuthSecret": "trino-groups"},
}
JWKS = "https://idp.example.com/realms/data/protocol/openid-connect/certs"


def _render(overlay: dict[str, Any], **spec: Any) -> list[dict[str, Any]]:
    return render_runtime(build_runtime(valuesOverlay=overlay, **spec), [])


def _pod(manifests: list[dict[str, Any]], role: str) -> dict[str, Any]:
    pod: dict[str, Any] = deployment(manifests, role)["spec"]["template"]["spec"]
    return pod


@pytest.mark.parametrize("role", ["coordinator", "worker"])
def test_seed_password_overlay_turns_on_password_auth_with_files_from_secrets(role: str) -> None:
    manifests = _render(SEED_PASSWORD_OVERLAY, trinoControlAuth=CONTROL)
    data = config_data(manifests, role)
    props = parse_properties(data["config.properties"])
    assert props["http-server.authentication.type"] == "PASSWORD"
    assert props["http-server.authentication.allow-insecure-over-http"] == "true"  # TLS ends at the gateway
    assert props["internal-communication.shared-secret"] == "${ENV:XTRINODE_SHARED_SECRET}"
    assert parse_properties(data["password-authenticator.properties"]) == {
        "password-authenticator.name": "file", "file.password-file": "/etc/trino/auth/password/password.db"}
    assert parse_properties(data["group-provider.properties"]) == {
        "group-provider.name": "file", "file.group-file": "/etc/trino/auth/groups/group.db"}
    pod = _pod(manifests, role)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["password-auth"]["secret"] == {
        "secretName": "trino-passwords", "items": [{"key": "password.db", "path": "password.db"}]}
    assert volumes["groups-auth"]["secret"]["secretName"] == "trino-groups"
    mounts = {m["mountPath"]: m for m in container(manifests, role)["volumeMounts"]}
    assert mounts["/etc/trino/auth/password"] == {"name": "password-auth", "mountPath": "/etc/trino/auth/password",
                                                  "readOnly": True}
    assert mounts["/etc/trino/auth/groups"]["name"] == "groups-auth"
    env = {e["name"]: e for e in container(manifests, role)["env"]}
    assert env["XTRINODE_SHARED_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "trino-control", "key": "password"}}
    annotation = deployment(manifests, role)["spec"]["template"]["metadata"]["annotations"][SECRET_REFS_ANNOTATION]
    assert "trino-passwords/password.db" in annotation and "trino-groups/group.db" in annotation


def test_password_and_group_secrets_are_secret_references_so_their_changes_roll_the_pods() -> None:
    runtime = build_runtime(valuesOverlay=SEED_PASSWORD_OVERLAY, trinoControlAuth=CONTROL)
    refs = {(r.name, r.key) for r in runtime_secret_references(runtime, [])}
    assert {("trino-passwords", "password.db"), ("trino-groups", "group.db"), ("trino-control", "password")} <= refs
    before = render_runtime(runtime, [], secret_versions={"trino-passwords": "1"})
    after = render_runtime(runtime, [], secret_versions={"trino-passwords": "2"})
    assert deployment(before, "worker")["spec"]["template"] != deployment(after, "worker")["spec"]["template"]


def test_jwt_next_to_password_keeps_the_key_file_and_the_order() -> None:
    overlay = {**SEED_PASSWORD_OVERLAY, "server": {"config": {"authenticationType": "jwt,PASSWORD"}},
               "additionalConfigProperties": [f"http-server.authentication.jwt.key-file={JWKS}",
                                              "http-server.authentication.jwt.required-audience=trino"]}
    props = parse_properties(config_data(_render(overlay, trinoControlAuth=CONTROL), "coordinator")["config.properties"])
    assert props["http-server.authentication.type"] == "JWT,PASSWORD"
    assert props["http-server.authentication.jwt.key-file"] == JWKS
    assert props["http-server.authentication.jwt.required-audience"] == "trino"


def test_an_overlay_shared_secret_is_kept_and_no_env_is_added() -> None:
    overlay = {**SEED_PASSWORD_OVERLAY, "additionalConfigProperties": [
        "internal-communication.shared-secret=${ENV:MY_SHARED}"],
        "env": [{"name": "MY_SHARED", "valueFrom": {"secretKeyRef": {"name": "shared", "key": "s"}}}]}
    manifests = _render(overlay, trinoControlAuth=CONTROL)
    props = parse_properties(config_data(manifests, "worker")["config.properties"])
    assert props["internal-communication.shared-secret"] == "${ENV:MY_SHARED}"
    assert "XTRINODE_SHARED_SECRET" not in {e["name"] for e in container(manifests, "worker")["env"]}


@pytest.mark.parametrize(
    ("overlay", "spec", "fragments"),
    [
        pytest.param(SEED_PASSWORD_OVERLAY, {}, ["trinoControlAuth.passwordSecret"], id="no-control-credentials"),
        pytest.param({**SEED_PASSWORD_OVERLAY, "server": {"config": {"authenticationType": "JWT"}},
                      "additionalConfigProperties": [f"http-server.authentication.jwt.key-file={JWKS}"]},
                     {"trinoControlAuth": CONTROL}, ["has no PASSWORD", "JWT,PASSWORD"], id="jwt-without-password"),
        pytest.param({"server": {"config": {"authenticationType": "PASSWORD"}}}, {"trinoControlAuth": CONTROL},
                     ["auth.passwordAuthSecret", "password.db"], id="no-password-secret"),
        pytest.param({**SEED_PASSWORD_OVERLAY, "server": {"config": {"authenticationType": "JWT,PASSWORD"}}},
                     {"trinoControlAuth": CONTROL}, ["http-server.authentication.jwt.key-file"], id="jwt-no-key-file"),
        pytest.param({**SEED_PASSWORD_OVERLAY, "server": {"config": {"authenticationType": "OAUTH2,PASSWORD"}},
                      "additionalConfigProperties": ["http-server.authentication.oauth2.issuer=https://idp"]},
                     {"trinoControlAuth": CONTROL}, ["client-id", "client-secret"], id="oauth2-incomplete"),
        pytest.param({**SEED_PASSWORD_OVERLAY, "trino": {"config": {
            "http-server.authentication.allow-insecure-over-http": False}}}, {"trinoControlAuth": CONTROL},
            ["must stay true", "gateway"], id="insecure-over-http-off"),
        pytest.param({"server": {"config": {"authenticationType": "KERBEROS"}}}, {"trinoControlAuth": CONTROL},
                     ["KERBEROS", "PASSWORD, JWT, OAUTH2"], id="unsupported-type"),
        pytest.param({"server": {"config": {"authenticationType": "PASSWORD"}},
                      "trino": {"config": {"http-server.authentication.type": "JWT"}}}, {"trinoControlAuth": CONTROL},
                     ["disagree"], id="two-places-disagree"),
    ],
)
def test_authentication_without_what_it_needs_is_a_render_error(
    overlay: dict[str, Any], spec: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(RenderError) as raised:
        _render(overlay, **spec)
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_service_port_changes_the_service_not_the_pod() -> None:
    manifests = _render({"service": {"port": 80}})
    service = next(m for m in manifests if m["kind"] == "Service" and m["metadata"]["name"] == "trino-demo")
    assert service["spec"]["ports"][0]["port"] == 80
    assert container(manifests, "coordinator")["ports"][0]["containerPort"] == 8080
    assert parse_properties(config_data(manifests, "coordinator")["config.properties"])["discovery.uri"].endswith(":80")
    # The workers' discovery Service keeps Trino's port: nothing but the workers uses it.
    assert parse_properties(config_data(manifests, "worker")["config.properties"])["discovery.uri"].endswith(
        "trino-demo-discovery.analytics.svc.cluster.local:8080")


@pytest.mark.parametrize("port", [True, "80", 0, 70000])
def test_a_bad_service_port_is_a_render_error(port: Any) -> None:
    with pytest.raises(RenderError, match="service.port"):
        _render({"service": {"port": port}})


def test_image_parts_replace_spec_image() -> None:
    manifests = _render({"image": {"tag": 480, "pullPolicy": "Always"}}, image={"repository": "registry.local/trino"})
    for role in ("coordinator", "worker"):
        assert container(manifests, role)["image"] == "registry.local/trino:480"
        assert container(manifests, role)["imagePullPolicy"] == "Always"


def test_security_contexts_are_merged_over_the_defaults() -> None:
    manifests = _render({"securityContext": {"runAsUser": 2000, "supplementalGroups": [3000]},
                         "containerSecurityContext": {"readOnlyRootFilesystem": True}})
    pod = _pod(manifests, "worker")
    assert pod["securityContext"]["runAsUser"] == 2000
    assert pod["securityContext"]["supplementalGroups"] == [3000]
    assert pod["securityContext"]["runAsNonRoot"] is True  # defaults stay
    ctx = container(manifests, "worker")["securityContext"]
    assert ctx == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True}


def test_env_envfrom_volumes_mounts_and_sidecars_per_role() -> None:
    overlay = {
        "env": [{"name": "TZ", "value": "UTC"}],
        "envFrom": [{"configMapRef": {"name": "trino-extra"}}],
        "volumes": [{"name": "spill", "emptyDir": {}}],
        "volumeMounts": [{"name": "spill", "mountPath": "/spill"}],
        "sidecarContainers": {"worker": [{"name": "log-shipper", "image": "fluent/fluent-bit:3"}]},
    }
    manifests = _render(overlay)
    for role in ("coordinator", "worker"):
        trino = container(manifests, role)
        assert {"name": "TZ", "value": "UTC"} in trino["env"]
        assert trino["envFrom"] == [{"configMapRef": {"name": "trino-extra"}}]
        assert {"name": "spill", "mountPath": "/spill"} in trino["volumeMounts"]
        assert {"name": "spill", "emptyDir": {}} in _pod(manifests, role)["volumes"]
    assert [c["name"] for c in _pod(manifests, "worker")["containers"]] == ["trino", "log-shipper"]
    assert [c["name"] for c in _pod(manifests, "coordinator")["containers"]] == ["trino"]


@pytest.mark.parametrize(
    ("overlay", "match"),
    [
        pytest.param({"volumes": [{"name": "config", "emptyDir": {}}]}, "volumes 'config'", id="volume-name"),
        pytest.param({"volumes": [{"name": "x", "emptyDir": {}}], "volumeMounts": [{"name": "x", "mountPath": "/etc/trino/"}]},
                     "mountPath '/etc/trino'", id="mount-path"),
        pytest.param({"volumeMounts": [{"name": "nope", "mountPath": "/x"}]}, "names no volume", id="mount-without-volume"),
        pytest.param({"sidecarContainers": {"coordinator": [{"name": "trino", "image": "busybox"}]}},
                     "sidecarContainers.coordinator name 'trino'", id="sidecar-name"),
        pytest.param({"env": [{"name": "XTRINODE_CONTROL_PASSWORD", "value": "x"}]}, "env 'XTRINODE_CONTROL_PASSWORD'",
                     id="env-name"),
        pytest.param({"env": [{"value": "x"}]}, "env\\[0\\] needs a 'name'", id="env-without-name"),
        pytest.param({"sidecarContainers": {"worker": [{"name": "x"}]}}, "needs a 'image'", id="sidecar-without-image"),
    ],
)
def test_overlay_pod_settings_that_clash_are_render_errors(overlay: dict[str, Any], match: str) -> None:
    with pytest.raises(RenderError, match=match):
        _render(overlay, trinoControlAuth=CONTROL, maxWorkers=1)


@pytest.mark.parametrize("config", [
    '{"rootGroups": [{"name": "global", "softMemoryLimit": "80%", "hardConcurrencyLimit": 10, "maxQueued": 100}],'
    ' "selectors": [{"group": "global"}]}',
    {"rootGroups": [{"name": "global", "softMemoryLimit": "80%", "hardConcurrencyLimit": 10, "maxQueued": 100}],
     "selectors": [{"group": "global"}]},
])
def test_resource_groups_render_the_file_manager_on_the_coordinator(config: Any) -> None:
    manifests = _render({"resourceGroups": {"resourceGroupsConfig": config}})
    data = config_data(manifests, "coordinator")
    assert parse_properties(data["resource-groups.properties"]) == {
        "resource-groups.configuration-manager": "file",
        "resource-groups.config-file": "/etc/trino/resource-groups.json"}
    assert '"hardConcurrencyLimit": 10' in data["resource-groups.json"]
    assert "resource-groups.properties" not in config_data(manifests, "worker")


@pytest.mark.parametrize("config", ["not json", '{"selectors": []}', '["x"]'])
def test_bad_resource_groups_are_a_render_error(config: str) -> None:
    with pytest.raises(RenderError, match="resourceGroupsConfig"):
        _render({"resourceGroups": {"resourceGroupsConfig": config}})


def test_additional_config_properties_and_role_jvm_config() -> None:
    overlay = {"additionalConfigProperties": ["query.max-execution-time=1h", "query.max-memory-per-node: 512MB"],
               "coordinator": {"additionalJVMConfig": ["-XX:+UseZGC"]},
               "worker": {"additionalJVMConfig": ["-Djdk.attach.allowAttachSelf=false"]}}
    manifests = _render(overlay)
    for role in ("coordinator", "worker"):
        props = parse_properties(config_data(manifests, role)["config.properties"])
        assert props["query.max-execution-time"] == "1h"
        assert props["query.max-memory-per-node"] == "512MB"
    assert config_data(manifests, "coordinator")["jvm.config"].splitlines()[-1] == "-XX:+UseZGC"
    assert config_data(manifests, "worker")["jvm.config"].splitlines()[-1] == "-Djdk.attach.allowAttachSelf=false"


def test_role_config_properties_reach_only_their_role() -> None:
    """failure-detector.* exists only on a coordinator: a worker given it refuses to start (Trino 476
    exits 100, 'Configuration property ... was not used'), so it needs the role's own list."""
    overlay = {"additionalConfigProperties": ["query.max-execution-time=1h"],
               "coordinator": {"additionalConfigProperties": ["failure-detector.warmup-time=1s",
                                                              "query.max-execution-time=2h"]},
               "worker": {"additionalConfigProperties": ["task.concurrency=4"]}}
    manifests = _render(overlay)
    coordinator = parse_properties(config_data(manifests, "coordinator")["config.properties"])
    worker = parse_properties(config_data(manifests, "worker")["config.properties"])
    assert coordinator["failure-detector.warmup-time"] == "1s" and "failure-detector.warmup-time" not in worker
    assert coordinator["query.max-execution-time"] == "2h" and worker["query.max-execution-time"] == "1h"
    assert worker["task.concurrency"] == "4" and "task.concurrency" not in coordinator


@pytest.mark.parametrize("line", ["http-server.authentication.type=PASSWORD",
                                  "internal-communication.shared-secret=${ENV:X}", "just text"])
def test_role_config_properties_may_not_split_what_both_roles_share(line: str) -> None:
    with pytest.raises(RenderError, match=r"valuesOverlay\.worker"):
        _render({"worker": {"additionalConfigProperties": [line]}})


@pytest.mark.parametrize("role", ["coordinator", "worker"])
def test_role_config_properties_cannot_change_wiring(role: str) -> None:
    with pytest.raises(RenderError, match="XTrinode manages it"):
        _render({role: {"additionalConfigProperties": ["http-server.http.port=9000"]}})


@pytest.mark.parametrize("line", ["http-server.http.port=9000", "discovery.uri=http://x:1", "coordinator=true"])
def test_additional_config_properties_cannot_change_wiring(line: str) -> None:
    with pytest.raises(RenderError, match="XTrinode manages it"):
        _render({"additionalConfigProperties": [line]})


@pytest.mark.parametrize("overlay", [{"podAnnotations": {"a": "b"}}, {"coordinator": {"resources": {}}},
                                     {"image": {"registry": "x"}}, {"additionalConfigProperties": ["just text"]}])
def test_unknown_or_malformed_keys_are_render_errors(overlay: dict[str, Any]) -> None:
    with pytest.raises(RenderError, match="valuesOverlay"):
        _render(overlay)
