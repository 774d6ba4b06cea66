"""Trino's configuration files for each role and their content-hashed ConfigMaps.

`node.properties`, `jvm.config`, `config.properties`, `log.properties`, the access control
(`access-control.properties` + `access-control-rules.json`) and what the overlay turns on (authenticators,
resource groups) live in ConfigMap `trino-<n>-<role>-<hash10>`:
a config change makes a new name, so Deployments roll and old pods keep theirs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from xtrinode.models import XTrinode
from xtrinode.render.metadata import Manifest, content_hash, runtime_metadata
from xtrinode.render.names import config_map_prefix, coordinator_service_url, discovery_service_url
from xtrinode.render.overlay import auth_files, auth_properties, overlay, resource_group_files
from xtrinode.render.resources import Role, jvm_heap, resolve_resources
from xtrinode.render.settings import RenderError, RenderSettings

__all__ = [
    "DATA_DIR",
    "CONFIG_DIR",
    "REQUIRED_WORKERS",
    "REQUIRED_WORKERS_MAX_WAIT",
    "FAILURE_DETECTOR_WARMUP",
    "properties_text",
    "config_properties",
    "jvm_config",
    "role_config_data",
    "control_username",
    "access_control_files",
    "render_config_map",
]

CONFIG_DIR = "/etc/trino"
DATA_DIR = "/data/trino"
REQUIRED_WORKERS = 1
"""Queries wait for this many workers instead of failing while workers scale up from zero."""
REQUIRED_WORKERS_MAX_WAIT = "5m"
"""How long a query waits for REQUIRED_WORKERS before it fails."""
FAILURE_DETECTOR_WARMUP = "1s"
"""`failure-detector.warmup-interval` of the coordinator (Trino's default 5s); the overlay may change it."""

_JVM_FLAGS = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:G1HeapRegionSize=32M",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:+HeapDumpOnOutOfMemoryError",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:ReservedCodeCacheSize=512M",
    "-XX:PerMethodRecompilationCutoff=10000",
    "-XX:PerBytecodeRecompilationCutoff=10000",
    "-XX:+EnableDynamicAgentLoading",
    "-Djdk.attach.allowAttachSelf=true",
    "-Djdk.nio.maxCachedBufferSize=2000000",
    "-Dfile.encoding=UTF-8",
)
_FIXED_KEYS = (
    "coordinator",
    "discovery.uri",
    "http-server.http.port",
    "http-server.http.enabled",
    "http-server.process-forwarded",
)
_FIXED_DEFAULTS = {"http-server.http.enabled": "true"}
"""Fixed keys XTrinode leaves at Trino's default; the overlay may repeat the default."""
_LOG_PROPERTIES = {"io.trino": "INFO"}
_KEY_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f", "=": "\\=", ":": "\\:",
                " ": "\\ ", "#": "\\#", "!": "\\!"}
_VALUE_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}


def properties_text(props: Mapping[str, str]) -> str:
    """A Java properties file, keys sorted, escaped so java.util.Properties reads back the same values."""
    lines = []
    for key in sorted(props):
        value = "".join(_VALUE_ESCAPES.get(ch, ch) for ch in props[key])
        if value.startswith(" "):
            value = "\\" + value
        lines.append("".join(_KEY_ESCAPES.get(ch, ch) for ch in key) + "=" + value)
    return "\n".join(lines) + "\n"


def _overlay_config(runtime: XTrinode, role: Role) -> dict[str, str]:
    return overlay(runtime).trino_properties(role)


def _overlay_jvm(runtime: XTrinode, role: Role) -> list[str]:
    flags = overlay(runtime).jvm_flags(role)
    heap = [flag for flag in flags if flag.startswith(("-Xmx", "-Xms"))]
    if heap:
        raise RenderError(
            f"valuesOverlay JVM flags {', '.join(heap)} set the heap, which XTrinode sizes from the memory limit; "
            f"remove them and set spec.resources.{role}.limits.memory instead"
        )
    return flags


def config_properties(runtime: XTrinode, role: Role, settings: RenderSettings) -> dict[str, str]:
    """`config.properties` of one role as a mapping.

    `valuesOverlay.trino.config` (a mapping of property to scalar) and `additionalConfigProperties`
    (`name=value` lines) add or replace entries in both roles, `coordinator.additionalConfigProperties` /
    `worker.additionalConfigProperties` in that role only (coordinator-only properties such as
    `failure-detector.*` make a worker refuse to start); authentication turned on by the overlay
    adds its settings (see `render.overlay`). The keys that wire the cluster together (`coordinator`,
    `discovery.uri`, `http-server.http.port`, `http-server.http.enabled`,
    `http-server.process-forwarded`) cannot be changed by the overlay: a different value is a RenderError.
    """
    spec = runtime.spec
    props: dict[str, str] = {
        "coordinator": "true" if role == "coordinator" else "false",
        "http-server.http.port": str(settings.trino_http_port),
        "http-server.process-forwarded": "true",
        # The coordinator looks its workers up through the Service that routes once it is Ready; the
        # workers announce through one that routes before (see render_discovery_service).
        "discovery.uri": (coordinator_service_url(runtime, settings) if role == "coordinator"
                          else discovery_service_url(runtime, settings)),
        "shutdown.grace-period": f"{spec.graceful_shutdown.grace_period_seconds}s",
    }
    if role == "coordinator":
        # A coordinator-only runtime (maxWorkers 0) schedules on the coordinator, which then also
        # satisfies required-workers; otherwise queries wait for a real worker.
        props["node-scheduler.include-coordinator"] = "true" if spec.max_workers == 0 else "false"
        props["query-manager.required-workers"] = str(REQUIRED_WORKERS)
        props["query-manager.required-workers-max-wait"] = REQUIRED_WORKERS_MAX_WAIT
        # Trino counts a new worker only once it has answered heartbeats for this long (default 5s): a
        # resume's workers are new every time, and the 5 s stood between their start and the first query.
        props["failure-detector.warmup-interval"] = FAILURE_DETECTOR_WARMUP
    if spec.limits is not None and spec.limits.session is not None and spec.limits.session.max_query_memory:
        props["query.max-memory"] = spec.limits.session.max_query_memory
    for key, value in _overlay_config(runtime, role).items():
        if key in _FIXED_KEYS and props.get(key, _FIXED_DEFAULTS.get(key)) != value:
            raise RenderError(
                f"valuesOverlay sets Trino property {key!r} to {value!r}; XTrinode manages it "
                "(use valuesOverlay.service.port to change the Service port)"
            )
        props[key] = value
    props.update(auth_properties(runtime))
    return props


def jvm_config(runtime: XTrinode, role: Role) -> str:
    """`jvm.config`: heap sized from the role's memory limit, standard Trino flags, overlay flags
    (`trino.jvm`, then the role's `additionalJVMConfig`; heap flags are refused)."""
    limit = resolve_resources(runtime.spec, role).limit_memory
    flags = [_JVM_FLAGS[0], f"-Xmx{jvm_heap(limit)}", *_JVM_FLAGS[1:], *_overlay_jvm(runtime, role)]
    return "\n".join(flags) + "\n"


ACCESS_CONTROL_RULES = "access-control-rules.json"
DEFAULT_CONTROL_USER = "xtrinode-operator"


def control_username(runtime: XTrinode) -> str:
    """The user XTrinode's control calls (the workers' preStop drain, readiness and drain checks) send."""
    auth = runtime.spec.trino_control_auth
    return auth.username if auth is not None else DEFAULT_CONTROL_USER


def _literal_regex(text: str) -> str:
    """`text` as a regex matching only itself, in syntax Java and Python share (rules' `user` is a regex)."""
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text)


def access_control_files(runtime: XTrinode) -> dict[str, str]:
    """File-based system access control that lets the control user write system information.

    Without an access control Trino uses `default`, which refuses graceful shutdown to everyone: the
    workers' preStop `PUT /v1/info/state "SHUTTING_DOWN"` then gets 403 and a scaled-down worker is killed
    mid-query. The rules grant read and write of system information to the control user and read to
    everyone else; with no catalog, query or other rules, Trino allows those to all users (checked
    against Trino 476). `valuesOverlay.trino.config` `access-control.config-files` replaces this file.
    """
    rules = {"system_information": [
        {"user": _literal_regex(control_username(runtime)), "allow": ["read", "write"]},
        {"user": ".*", "allow": ["read"]},
    ]}
    return {
        "access-control.properties": properties_text({
            "access-control.name": "file",
            "security.config-file": f"{CONFIG_DIR}/{ACCESS_CONTROL_RULES}",
        }),
        ACCESS_CONTROL_RULES: json.dumps(rules, indent=2, sort_keys=True) + "\n",
    }


def role_config_data(runtime: XTrinode, role: Role, settings: RenderSettings) -> dict[str, str]:
    """The files of a role, keyed by file name."""
    node = {
        "node.environment": settings.environment,
        "node.data-dir": DATA_DIR,
        "node.id": "${ENV:HOSTNAME}",
    }
    data = {
        "config.properties": properties_text(config_properties(runtime, role, settings)),
        "jvm.config": jvm_config(runtime, role),
        "log.properties": properties_text(_LOG_PROPERTIES),
        "node.properties": properties_text(node),
        **access_control_files(runtime),
        **auth_files(runtime),
    }
    if role == "coordinator":
        data.update(resource_group_files(runtime, CONFIG_DIR))
    return data


def render_config_map(runtime: XTrinode, role: Role, settings: RenderSettings) -> Manifest:
    """The immutable, content-hash-named config ConfigMap of one role."""
    data = role_config_data(runtime, role, settings)
    name = f"{config_map_prefix(runtime, role)}-{content_hash(data)}"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": runtime_metadata(runtime, name, role),
        "immutable": True,
        "data": data,
    }
