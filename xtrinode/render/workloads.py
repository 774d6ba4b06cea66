"""The runtime's pods: ServiceAccount, coordinator and worker Deployments (config and catalog mounts,
Secret env vars, a config-hash annotation that rolls both roles on any config, catalog or Secret change,
and the workers' graceful-shutdown preStop hook).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from xtrinode.models import SecretKeySelector, XTrinode
from xtrinode.render.catalogs import CatalogBundle, SecretEnv, env_var
from xtrinode.render.config import CONFIG_DIR, DATA_DIR, control_username
from xtrinode.render.keda import desired_workers
from xtrinode.render.metadata import (
    CONFIG_HASH_ANNOTATION,
    SECRET_REFS_ANNOTATION,
    Manifest,
    content_hash,
    runtime_labels,
    runtime_metadata,
    selector_labels,
)
from xtrinode.render.names import (
    coordinator_deployment_name,
    service_account_name,
    worker_deployment_name,
)
from xtrinode.render.overlay import (
    SHARED_SECRET_ENV,
    auth_secret_references,
    auth_volumes,
    shared_secret_env,
)
from xtrinode.render.pod_overlay import apply_pod_overlay, image_of
from xtrinode.render.resources import Role, resolve_resources, resources_dict
from xtrinode.render.settings import RenderSettings

__all__ = [
    "CONTAINER_NAME",
    "CONTROL_PASSWORD_ENV",
    "TERMINATION_MARGIN_SECONDS",
    "secret_references",
    "secret_refs_annotation",
    "termination_grace_seconds",
    "pre_stop_command",
    "render_service_account",
    "render_deployment",
]

CONTAINER_NAME = "trino"
CONTROL_PASSWORD_ENV = "XTRINODE_CONTROL_PASSWORD"
"""Worker env var holding trinoControlAuth's password (from its Secret) for the preStop hook."""
TERMINATION_MARGIN_SECONDS = 30
"""Added to twice the Trino grace period: Trino waits the grace period before and after draining."""
TRINO_UID = 1000  # the `trino` user of the official image
_COORDINATOR_TERMINATION_SECONDS = 60


def _control_env(runtime: XTrinode, role: Role) -> list[SecretEnv]:
    auth = runtime.spec.trino_control_auth
    env = []
    if role == "worker" and auth is not None and auth.password_secret is not None:
        env.append(SecretEnv(CONTROL_PASSWORD_ENV, auth.password_secret))
    shared = shared_secret_env(runtime)
    if shared is not None:
        env.append(SecretEnv(SHARED_SECRET_ENV, shared))
    return env


def _role_env(runtime: XTrinode, role: Role, bundle: CatalogBundle) -> list[SecretEnv]:
    return sorted([*bundle.env, *_control_env(runtime, role)], key=lambda e: e.name)


def _role_secret_refs(runtime: XTrinode, role: Role, env: list[SecretEnv]) -> list[SecretKeySelector]:
    """Secret keys a role's pods read: env vars and the mounted password and group files."""
    return [*(e.secret for e in env), *auth_secret_references(runtime)]


def secret_references(runtime: XTrinode, bundle: CatalogBundle) -> list[SecretKeySelector]:
    """Every Secret key any pod of the runtime reads, sorted and unique (names and keys only)."""
    refs = {(ref.name, ref.key) for role in ("coordinator", "worker")
            for ref in _role_secret_refs(runtime, role, _role_env(runtime, role, bundle))}
    return [SecretKeySelector(name=name, key=key) for name, key in sorted(refs)]


def secret_refs_annotation(refs: Sequence[SecretKeySelector]) -> str:
    """`secret/key,secret/key`: unambiguous, since neither names nor keys may contain '/' or ','."""
    return ",".join(sorted({f"{ref.name}/{ref.key}" for ref in refs}))


def termination_grace_seconds(runtime: XTrinode, role: Role) -> int:
    """Pod terminationGracePeriodSeconds: workers get at least twice Trino's grace period plus a margin."""
    shutdown = runtime.spec.graceful_shutdown
    if role == "worker" and shutdown.enabled:
        return 2 * shutdown.grace_period_seconds + TERMINATION_MARGIN_SECONDS
    return _COORDINATOR_TERMINATION_SECONDS if role == "coordinator" else TERMINATION_MARGIN_SECONDS


def pre_stop_command(runtime: XTrinode, settings: RenderSettings) -> list[str]:
    """Exec command: PUT "SHUTTING_DOWN" to /v1/info/state, then wait while Trino still answers."""
    auth = runtime.spec.trino_control_auth
    user = control_username(runtime)
    base = f"http://localhost:{settings.trino_http_port}"
    credentials = ""
    if auth is not None and auth.password_secret is not None:
        credentials = " -u " + shlex.quote(user + ":") + f'"${CONTROL_PASSWORD_ENV}"'
    script = (
        "curl -sS -o /dev/null --fail -X PUT -H 'Content-Type: application/json' "
        f"-H {shlex.quote('X-Trino-User: ' + user)}{credentials} "
        f"-d '\"SHUTTING_DOWN\"' {base}/v1/info/state "
        f"&& while curl -s -o /dev/null {base}/v1/info; do sleep 2; done"
    )
    return ["/bin/sh", "-c", script]


def render_service_account(runtime: XTrinode) -> Manifest:
    """The pods' ServiceAccount; its token is not mounted (Trino needs no Kubernetes API access)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": runtime_metadata(runtime, service_account_name(runtime), "runtime"),
        "automountServiceAccountToken": False,
    }


def _placement(runtime: XTrinode, role: Role) -> dict[str, Any]:
    placement = runtime.spec.placement
    chosen = getattr(placement, role, None) if placement is not None else None
    if chosen is None:
        return {}
    out: dict[str, Any] = {}
    if chosen.node_selector:
        out["nodeSelector"] = dict(sorted(chosen.node_selector.items()))
    if chosen.tolerations:
        out["tolerations"] = [t.to_wire() for t in chosen.tolerations]
    if chosen.affinity is not None:
        out["affinity"] = chosen.affinity.to_wire()
    return out


def _volumes(runtime: XTrinode, config_map_name: str, bundle: CatalogBundle) -> list[dict[str, Any]]:
    catalog: dict[str, Any]
    if bundle.config_maps:
        sources = [{"configMap": {"name": cm["metadata"]["name"]}} for cm in bundle.config_maps]
        catalog = {"name": "catalog", "projected": {"sources": sources}}
    else:
        catalog = {"name": "catalog", "emptyDir": {}}
    return [
        {"name": "config", "configMap": {"name": config_map_name}},
        catalog,
        {"name": "data", "emptyDir": {}},
        *auth_volumes(runtime)[0],
    ]


def _container(
    runtime: XTrinode, role: Role, env: list[SecretEnv], settings: RenderSettings
) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/v1/info", "port": "http"}, "timeoutSeconds": 5}
    image = image_of(runtime)
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image.reference,
        "imagePullPolicy": image.pull_policy,
        "ports": [{"name": "http", "containerPort": settings.trino_http_port, "protocol": "TCP"}],
        "env": [env_var(e) for e in env],
        "resources": resources_dict(resolve_resources(runtime.spec, role)),
        "readinessProbe": {**probe, "initialDelaySeconds": 10, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {**probe, "initialDelaySeconds": 60, "periodSeconds": 10, "failureThreshold": 6},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "catalog", "mountPath": f"{CONFIG_DIR}/catalog", "readOnly": True},
            {"name": "data", "mountPath": DATA_DIR},
            *auth_volumes(runtime)[1],
        ],
    }
    if not env:
        del container["env"]
    if role == "worker" and runtime.spec.graceful_shutdown.enabled:
        container["lifecycle"] = {"preStop": {"exec": {"command": pre_stop_command(runtime, settings)}}}
    return container


def render_deployment(
    runtime: XTrinode,
    role: Role,
    config_map: Manifest,
    bundle: CatalogBundle,
    settings: RenderSettings,
    secret_versions: Mapping[str, str] | None = None,
) -> Manifest:
    """The Deployment of one role: 1 coordinator (0 suspended) or `desired_workers` workers."""
    env = _role_env(runtime, role, bundle)
    secret_refs = _role_secret_refs(runtime, role, env)
    refs = sorted({(ref.name, ref.key) for ref in secret_refs})
    versions = secret_versions or {}
    config_hash = content_hash(
        config_map["data"],
        [cm["data"] for cm in bundle.config_maps],
        [[e.name, e.secret.name, e.secret.key] for e in env],
        {name: versions[name] for name, _ in refs if name in versions},
        length=16,
    )
    annotations = {CONFIG_HASH_ANNOTATION: config_hash}
    if refs:
        annotations[SECRET_REFS_ANNOTATION] = secret_refs_annotation(secret_refs)
    if role == "coordinator":
        name, replicas = coordinator_deployment_name(runtime), 0 if runtime.spec.suspended else 1
        # One coordinator at a time: two would split the workers between two discovery servers.
        strategy: dict[str, Any] = {"type": "Recreate"}
    else:
        name, replicas = worker_deployment_name(runtime), desired_workers(runtime.spec)
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
    pod_spec: dict[str, Any] = {
        "serviceAccountName": service_account_name(runtime),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": termination_grace_seconds(runtime, role),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": TRINO_UID,
            "runAsGroup": TRINO_UID,
            "fsGroup": TRINO_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        **_placement(runtime, role),
        "containers": [_container(runtime, role, env, settings)],
        "volumes": _volumes(runtime, config_map["metadata"]["name"], bundle),
    }
    apply_pod_overlay(runtime, role, pod_spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": runtime_metadata(runtime, name, role),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector_labels(runtime, role)},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": runtime_labels(runtime, role), "annotations": annotations},
                "spec": pod_spec,
            },
        },
    }
