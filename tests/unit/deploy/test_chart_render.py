"""The Helm chart (deploy/helm/xtrinode) rendered by the real helm for the default values and the ci/ value
sets (minimal, production with Redis + OIDC + API server tokens, API keys, restricted namespaces).

Checks: every manifest passes kubernetes-validate in strict mode; every container runs locked down
(non-root, read-only root filesystem, no privilege escalation, all capabilities dropped, seccomp
RuntimeDefault), with requests and limits and /healthz and /readyz probes; every Deployment has a PDB;
the gateway and API server accept the settings files the chart writes, with the environment the chart
gives them; Secrets reach processes only through secretKeyRef and Secret volumes (never a ConfigMap,
never a flag); every flag the chart passes is one the subcommand takes; the gateway's internal port is
never on its public Service; the webhook certificate is signed by the caBundle's CA for the Service (or
the URL's host); the CRDs are the generated ones, kept on uninstall unless asked; the namespaces are made
unless one is the release namespace; the guardrails refuse what cannot work, each with a message.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from chart_testkit import (
    CHART,
    DEFAULT,
    REPO,
    VALUE_SETS,
    RenderFailed,
    containers,
    find,
    process_help,
    render,
    render_set,
    values_of,
)
from cryptography import x509

from gateway.settings import load_settings
from workers.api.settings import ENV_PREFIX as API_ENV_PREFIX
from workers.api.settings import ApiServerSettings
from xtrinode.settings_files import load_settings_file
from xtrinode.tracing import span_exporters

K8S_VERSION = kubernetes_validate.utils.latest_version()


@pytest.fixture(scope="module", autouse=True)
def _cached_schemas() -> Any:
    with pytest.MonkeyPatch.context() as mp:
        cached = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)
        mp.setattr(kubernetes_validate.utils, "schema_contents", cached)
        yield


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_manifest_is_valid_kubernetes(value_set: str) -> None:
    docs = render_set(value_set)
    assert docs, "nothing rendered"
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.path)
            pytest.fail(f"{value_set}: {doc['kind']}/{doc['metadata']['name']} invalid at {where}: {e.message}")


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_container_is_locked_down_with_resources_and_probes(value_set: str) -> None:
    pairs = containers(render_set(value_set))
    assert {d["metadata"]["name"] for d, _ in pairs} >= {"xtrinode-operator", "xtrinode-worker", "xtrinode-gateway"}
    for deployment, container in pairs:
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        sc, psc = container["securityContext"], pod["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] > 0, name
        assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True, name
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}, name
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"} == psc["seccompProfile"], name
        assert "privileged" not in sc and not pod.get("hostNetwork") and not pod.get("hostPID"), name
        assert set(container["resources"]) == {"requests", "limits"}, name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["port"] in named, (name, probe)
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/tmp" in mounts, f"{name}: the read-only root filesystem needs a writable /tmp"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_deployment_has_a_disruption_budget(value_set: str) -> None:
    docs = render_set(value_set)
    budgets = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert any(b["metadata"]["namespace"] == deployment["metadata"]["namespace"]
                   and b["spec"]["selector"]["matchLabels"].items() <= labels.items() for b in budgets), \
            deployment["metadata"]["name"]


def _environment(container: dict[str, Any]) -> dict[str, str]:
    """What the process sees: plain values, and a stand-in for each secretKeyRef."""
    env = {}
    for item in container.get("env", []):
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        env[item["name"]] = f"<secret {ref['name']}/{ref['key']}>" if ref else item["value"]
    return env


def _config_file(docs: list[dict[str, Any]], deployment: dict[str, Any], tmp_path: Path) -> Path:
    """The settings file the container reads, written out from its ConfigMap."""
    pod = deployment["spec"]["template"]["spec"]
    arg = next(a for a in pod["containers"][0]["args"] if a.startswith("--config="))
    path = Path(arg.split("=", 1)[1])
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == str(path.parent))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    cm = find(docs, "ConfigMap", volume["configMap"]["name"], deployment["metadata"]["namespace"])
    out = tmp_path / path.name
    out.write_text(cm["data"][path.name])
    return out


def _mounted_paths(deployment: dict[str, Any]) -> set[str]:
    pod = deployment["spec"]["template"]["spec"]
    secrets = {v["name"] for v in pod["volumes"] if "secret" in v}
    return {m["mountPath"] for m in pod["containers"][0]["volumeMounts"] if m["name"] in secrets}


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_gateway_accepts_the_settings_the_chart_writes(value_set: str, tmp_path: Path) -> None:
    docs = render_set(value_set)
    values = values_of(value_set)
    deployment = find(docs, "Deployment", "xtrinode-gateway")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    config = _config_file(docs, deployment, tmp_path)
    assert list(yaml.safe_load(config.read_text())) == ["gateway"], "the chart's values shape: one gateway: root"
    settings = load_settings(config, environ=_environment(container))
    gw = values.get("gateway", {})
    assert settings.listen.port == 8080 and settings.internal.port == 8081
    assert settings.routes.namespace == find(docs, "ServiceAccount", "xtrinode-gateway")["metadata"]["namespace"]
    assert settings.auth.enabled == gw.get("auth", {}).get("enabled", False)
    assert settings.redis.active == gw.get("redis", {}).get("enabled", False)
    if settings.redis.active:
        assert settings.redis.password is not None and settings.redis.password.get_secret_value().startswith("<secret ")
    mounted = _mounted_paths(deployment)
    for path in (settings.auth.api_keys.file, settings.resume.api_server.token_file, settings.temporal.tls_ca_file,
                 settings.temporal.tls_cert_file):
        if path is not None:
            assert str(Path(path).parent) in mounted, f"{path} is not on a mounted Secret"
    if values.get("temporal", {}).get("apiKey", {}).get("existingSecret") and settings.resume.via == "temporal":
        assert (settings.temporal.api_key or "").startswith("<secret ")


@pytest.mark.parametrize("value_set", [v for v in VALUE_SETS if values_of(v).get("apiServer", {}).get("enabled", True)])
def test_the_api_server_accepts_the_settings_the_chart_writes(value_set: str, tmp_path: Path) -> None:
    docs = render_set(value_set)
    deployment = find(docs, "Deployment", "xtrinode-api-server")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    settings = load_settings_file(ApiServerSettings, _config_file(docs, deployment, tmp_path), API_ENV_PREFIX,
                                  "api server", _environment(container))
    assert settings.listen.port == 8081
    assert settings.kube.namespaces == values_of(value_set).get("runtimeNamespaces", [])
    if settings.auth.tokens.file:
        assert str(Path(settings.auth.tokens.file).parent) in _mounted_paths(deployment)


SECRET_WORDS = re.compile(r"password|secret|token|apikey|api_key|private", re.IGNORECASE)


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_secrets_reach_the_processes_only_from_secrets(value_set: str) -> None:
    docs = render_set(value_set)
    for _deployment, container in containers(docs):
        for item in container.get("env", []):
            if SECRET_WORDS.search(item["name"]):
                assert "secretKeyRef" in (item.get("valueFrom") or {}), f"{item['name']} must come from a Secret"
        for arg in container["args"]:
            assert not re.search(r"api-?key=|password=|token=", arg, re.IGNORECASE), arg
    production = values_of("production")
    plaintext = [production["webhook"]["certificate"]["caBundle"]]
    for cm in (d for d in docs if d["kind"] == "ConfigMap"):
        text = yaml.safe_dump(cm["data"])
        assert "BEGIN" not in text and all(p not in text for p in plaintext)
        for line in text.splitlines():
            key = line.strip().split(":", 1)[0]
            if re.fullmatch(r"(password|apiKey|token|key)", key):
                pytest.fail(f"ConfigMap {cm['metadata']['name']} has a secret-looking key: {line.strip()}")


def _help(subcommand: str) -> str:
    result = process_help(subcommand)
    assert result.returncode == 0, f"xtrinode {subcommand} --help failed: {result.stderr[-500:]}"
    return result.stdout


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_flag_the_chart_passes_is_one_the_process_takes(value_set: str) -> None:
    for deployment, container in containers(render_set(value_set)):
        subcommand, *flags = container["args"]
        text = _help(subcommand)
        for flag in flags:
            name = flag.split("=", 1)[0]
            assert re.search(rf"(^|[\s,\[]){re.escape(name)}([\s=,\]]|$)", text, re.MULTILINE), \
                f"{deployment['metadata']['name']}: xtrinode {subcommand} takes no {name}"


def test_tracing_and_extra_env_reach_every_component_in_order() -> None:
    """tracing.* becomes the standard OTEL_* variables of every process (which the product's tracing setup
    accepts: an OTLP/HTTP exporter, the ratio sampler under the caller's decision); extraEnv follows the
    chart's own, and each component's own follows the global one. Off by default: no OTEL_* at all."""
    docs = render_set("production")
    production = values_of("production")
    seen = set()
    for deployment, container in containers(docs):
        names = [item["name"] for item in container["env"]]
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == production["tracing"]["endpoint"]
        assert (env["OTEL_TRACES_SAMPLER"], env["OTEL_TRACES_SAMPLER_ARG"]) == ("parentbased_traceidratio", "0.1")
        headers = next(i for i in container["env"] if i["name"] == "OTEL_EXPORTER_OTLP_HEADERS")
        assert headers["valueFrom"]["secretKeyRef"] == {"name": "otel-collector-auth", "key": "headers"}
        assert names.index("OTEL_EXPORTER_OTLP_HEADERS") > names.index("OTEL_TRACES_SAMPLER_ARG")
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        if component == "gateway":
            assert names[-1] == "OTEL_RESOURCE_ATTRIBUTES", "a component's own extraEnv comes last"
        else:
            assert "OTEL_RESOURCE_ATTRIBUTES" not in env
        exporters = span_exporters(component, {k: v or "x" for k, v in env.items()})
        assert [type(e).__name__ for e in exporters] == ["OTLPSpanExporter"], component
        seen.add(component)
    assert seen == {"operator", "worker", "api-server", "gateway"}
    for _deployment, container in containers(render_set("default")):
        assert not [i for i in container["env"] if i["name"].startswith("OTEL_")]


def test_the_internal_port_is_only_on_the_internal_service() -> None:
    docs = render(DEFAULT)
    public = find(docs, "Service", "xtrinode-gateway")
    internal = find(docs, "Service", "xtrinode-gateway-internal")
    assert [p["port"] for p in public["spec"]["ports"]] == [8080]
    assert [p["port"] for p in internal["spec"]["ports"]] == [8081] and internal["spec"]["type"] == "ClusterIP"
    worker = find(docs, "Deployment", "xtrinode-worker")["spec"]["template"]["spec"]["containers"][0]
    assert "--gateway-url=http://xtrinode-gateway-internal.xtrinode-gateway.svc.cluster.local:8081" in worker["args"]
    assert "--gateway-service=xtrinode-gateway-internal" in worker["args"]


def _certificate(pem_b64: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(base64.b64decode(pem_b64))


@pytest.mark.parametrize("url,ip,dns", [("", None, "xtrinode-webhook.xtrinode-system.svc"),
                                        ("https://127.0.0.1:9443", "127.0.0.1", None),
                                        ("https://webhook.example.com", None, "webhook.example.com")])
def test_the_generated_webhook_certificate_is_signed_by_the_ca_bundle(url: str, ip: str | None, dns: str | None) -> None:
    docs = render({**DEFAULT, "webhook": {"url": url}})
    secret = find(docs, "Secret", "xtrinode-webhook-tls", "xtrinode-system")
    config = find(docs, "ValidatingWebhookConfiguration", "xtrinode")
    bundles = {hook["clientConfig"]["caBundle"] for hook in config["webhooks"]}
    assert bundles == {secret["data"]["ca.crt"]}
    ca, cert = _certificate(secret["data"]["ca.crt"]), _certificate(secret["data"]["tls.crt"])
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    if dns:
        assert dns in names.get_values_for_type(x509.DNSName)
    if ip:
        assert ipaddress.ip_address(ip) in names.get_values_for_type(x509.IPAddress)
    for hook in config["webhooks"]:
        plural = hook["rules"][0]["resources"][0]
        where = hook["clientConfig"].get("url") or hook["clientConfig"]["service"]["path"]
        assert where.endswith(f"/validate/{plural}") and hook["failurePolicy"] == "Fail"
        assert hook["sideEffects"] == "None" and hook["rules"][0]["operations"] == ["CREATE", "UPDATE"]


def test_a_given_webhook_certificate_is_used_with_its_ca_bundle() -> None:
    docs = render_set("production")
    assert not [d for d in docs if d["kind"] == "Secret"]
    config = find(docs, "ValidatingWebhookConfiguration", "xtrinode")
    assert {h["clientConfig"]["caBundle"] for h in config["webhooks"]} == {
        values_of("production")["webhook"]["certificate"]["caBundle"]}
    volumes = find(docs, "Deployment", "xtrinode-operator")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "webhook-tls", "secret": {"secretName": "xtrinode-webhook-cert", "defaultMode": 0o440}} in volumes


def test_the_chart_ships_the_generated_crds_and_keeps_them_unless_asked() -> None:
    shipped = sorted(p.name for p in (CHART / "files" / "crds").glob("*.yaml"))
    generated = sorted(p.name for p in (REPO / "deploy" / "crds").glob("*.yaml"))
    assert shipped == generated
    for name in shipped:
        assert (CHART / "files" / "crds" / name).read_text() == (REPO / "deploy" / "crds" / name).read_text(), \
            f"{name} drifted: run `make crds`"
    kept = [d for d in render(DEFAULT) if d["kind"] == "CustomResourceDefinition"]
    assert sorted(d["metadata"]["name"] for d in kept) == sorted(n.removesuffix(".yaml") for n in shipped)
    for crd in kept:
        original = yaml.safe_load((CHART / "files" / "crds" / f"{crd['metadata']['name']}.yaml").read_text())
        assert crd["spec"] == original["spec"]
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    dropped = [d for d in render({**DEFAULT, "crds": {"keep": False}}) if d["kind"] == "CustomResourceDefinition"]
    assert dropped and all("helm.sh/resource-policy" not in d["metadata"].get("annotations", {}) for d in dropped)
    assert not [d for d in render({**DEFAULT, "crds": {"install": False}}) if d["kind"] == "CustomResourceDefinition"]


def test_namespaces_are_made_unless_one_is_the_release_namespace() -> None:
    made = sorted(d["metadata"]["name"] for d in render(DEFAULT) if d["kind"] == "Namespace")
    assert made == ["xtrinode-gateway", "xtrinode-system"]
    renamed = sorted(d["metadata"]["name"] for d in render_set("restricted") if d["kind"] == "Namespace")
    assert renamed == ["data-gateway", "data-xtrinode"]
    docs = render({**DEFAULT, "namespaces": {"system": "default"}})
    assert sorted(d["metadata"]["name"] for d in docs if d["kind"] == "Namespace") == ["xtrinode-gateway"]


_PSS_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
                "secret"}


def _restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What the Pod Security Standard `restricted` (Kubernetes docs, v1.25+) refuses in a pod spec."""
    found = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            found.append(key)
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= _PSS_VOLUMES:
            found.append(f"volume {volume['name']}: {sorted(kinds - _PSS_VOLUMES)}")
    pod_context = pod.get("securityContext") or {}
    for container in pod.get("initContainers", []) + pod["containers"]:
        context = container.get("securityContext") or {}
        name = container["name"]
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation not false")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []) or set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: capabilities")
        if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile {seccomp}")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            found.append(f"{name}: hostPort")
    return found


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_namespaces_enforce_the_restricted_pod_security_standard_every_pod_meets(value_set: str) -> None:
    docs = render_set(value_set)
    for namespace in (d for d in docs if d["kind"] == "Namespace"):
        labels = namespace["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        assert _restricted_violations(deployment["spec"]["template"]["spec"]) == [], deployment["metadata"]["name"]
    off = render({**DEFAULT, "namespaces": {"podSecurity": ""}})
    assert not [k for d in off if d["kind"] == "Namespace" for k in d["metadata"]["labels"] if "pod-security" in k]


def test_the_restricted_check_finds_what_the_standard_refuses() -> None:
    pod = {"hostNetwork": True, "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
           "containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}],
                           "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}}}]}
    assert _restricted_violations(pod) == [
        "hostNetwork", "volume h: ['hostPath']", "c: privileged", "c: allowPrivilegeEscalation not false",
        "c: capabilities", "c: runAsNonRoot", "c: seccompProfile None", "c: hostPort"]


def test_restricted_namespaces_reach_the_processes() -> None:
    docs = render_set("restricted")
    for name in ("xtrinode-operator", "xtrinode-worker"):
        args = find(docs, "Deployment", name, "data-xtrinode")["spec"]["template"]["spec"]["containers"][0]["args"]
        assert [a for a in args if a.startswith("--namespace=")] == ["--namespace=team-a", "--namespace=team-b"]
    worker = find(docs, "Deployment", "xtrinode-worker")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert {"--control-plane-namespace=data-xtrinode", "--gateway-namespace=data-gateway",
            "--monitoring-namespace=observability"} <= set(worker)


GUARDRAILS = [
    ({}, "temporal.address is required"),
    ({"temporal": {"address": "temporal.svc"}}, "is not host:port"),
    ({**DEFAULT, "gateway": {"replicas": 3}}, "gateway.replicas is 3 but gateway.redis.enabled is false"),
    ({**DEFAULT, "gateway": {"redis": {"enabled": True}}}, "gateway.redis.url is empty"),
    ({**DEFAULT, "gateway": {"redis": {"enabled": True, "url": "redis://:hunter2@redis:6379/0"}}},
     "carries a password"),
    ({**DEFAULT, "gateway": {"auth": {"enabled": True, "type": "apiKey"}}}, "apiKeys.existingSecret is empty"),
    ({**DEFAULT, "gateway": {"auth": {"enabled": True, "type": "oauth"}}}, "set gateway.auth.oauth.issuer"),
    ({**DEFAULT, "apiServer": {"auth": {"tokens": {"existingSecret": ""}}}}, "never runs without authentication"),
    ({**DEFAULT, "webhook": {"certificate": {"existingSecret": "cert"}}}, "also set webhook.certificate.caBundle"),
    ({**DEFAULT, "gateway": {"resume": {"via": "apiServer"}}}, "apiServerToken.existingSecret"),
    ({**DEFAULT, "runtimeNamespaces": ["xtrinode-system"]}, "lists the system namespace"),
    ({**DEFAULT, "replicas": 2}, "additional properties 'replicas' not allowed"),
    ({**DEFAULT, "gateway": {"auth": {"type": "ldap"}}}, "/gateway/auth/type': value must be one of"),
    ({**DEFAULT, "operator": {"replica": 2}}, "additional properties 'replica' not allowed"),
    ({**DEFAULT, "tracing": {"enabled": True}}, "tracing.endpoint is empty"),
    ({**DEFAULT, "tracing": {"enabled": True, "endpoint": "otel-collector:4317"}}, "/tracing/endpoint"),
    ({**DEFAULT, "extraEnv": [{"value": "x"}]}, "missing property 'name'"),
]


@pytest.mark.parametrize("values,message", GUARDRAILS, ids=[m for _, m in GUARDRAILS])
def test_guardrails_refuse_with_a_message(values: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderFailed) as failed:
        render(values)
    assert message in str(failed.value)
