"""Reads a rendered Trino config directory into `NodeSettings`, as a Trino server would.

Files: `config.properties`, `node.properties`, `catalog/*.properties`, optional
`password-authenticator.properties` (+ its password file), `group-provider.properties` (+ its group
file) and `access-control.properties` (+ its JSON rules). `http-server.authentication.type` may list
PASSWORD, JWT and OAUTH2; like Trino, authentication needs `internal-communication.shared-secret`.
`${ENV:NAME}` placeholders are resolved from the environment; values never logged.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeAlias

from xtrinode.trino_protocol import airlift_duration_seconds

from .settings import AccessControl, CatalogConfig, JwtAuth, NodeSettings, PasswordAuth, SystemInformationRule

__all__ = ["ConfigError", "load_settings", "parse_airlift_duration", "parse_properties", "resolve_env"]

_ENV_PLACEHOLDER = re.compile(r"\$\{ENV:([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(Exception):
    """A config file the emulator (like Trino) refuses to start with."""


def parse_properties(text: str) -> dict[str, str]:
    """Java `.properties`: `key=value`, `key: value`, `#`/`!` comments, `\\` line continuations."""
    result: dict[str, str] = {}
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip() if not pending else raw.lstrip()
        if not pending and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending += line[:-1]
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending)
    for line in logical:
        match = re.match(r"^((?:\\.|[^=:\s\\])+)\s*[=:\s]?\s*(.*)$", line, re.S)
        if match is None:
            result[_unescape(line)] = ""
            continue
        result[_unescape(match.group(1))] = _unescape(match.group(2).rstrip())
    return result


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def resolve_env(value: str, env: Mapping[str, str], where: str) -> tuple[str, bool]:
    """Replace `${ENV:NAME}`; returns the value and whether a placeholder was used."""
    used = False

    def replace(match: re.Match[str]) -> str:
        nonlocal used
        used = True
        name = match.group(1)
        if name not in env:
            raise ConfigError(
                f"{where}: environment variable {name!r} is not set; "
                "set it in the pod environment (for example from a secretKeyRef)"
            )
        return env[name]

    return _ENV_PLACEHOLDER.sub(replace, value), used


def parse_airlift_duration(value: str, where: str) -> timedelta:
    """airlift Duration text such as `2m`, `30s`, `5.00m`, `250ms`."""
    seconds = airlift_duration_seconds(value)
    if seconds is None:
        raise ConfigError(f"{where}: invalid duration {value!r}; write a number and a unit, e.g. '30s' or '2m'")
    return timedelta(seconds=seconds)


def _parse_bool(value: str, where: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return lowered == "true"


def _parse_int(value: str, where: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ConfigError(f"{where}: expected a whole number, got {value!r}") from None


def _read_properties(path: Path, env: Mapping[str, str]) -> tuple[dict[str, str], frozenset[str]]:
    try:
        raw = parse_properties(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from e
    resolved: dict[str, str] = {}
    from_env: set[str] = set()
    for key, value in raw.items():
        resolved[key], used = resolve_env(value, env, f"{path.name}: property {key!r}")
        if used:
            from_env.add(key)
    return resolved, frozenset(from_env)


PathMap: TypeAlias = Sequence[tuple[str, Path]]
"""Container path prefix -> local directory (`--path-map /etc/trino=DIR`), as a pod's mounts place files."""


def _relative(config_dir: Path, value: str, path_map: PathMap = ()) -> Path:
    """A file a property names: relative to the config dir, or an absolute path, found through the path
    map when a pod's container path (`/etc/trino/rules.json`) was placed elsewhere by the devstack kubelet."""
    path = Path(value)
    if not path.is_absolute():
        return config_dir / path
    for container_path, local in sorted(path_map, key=lambda item: len(item[0]), reverse=True):
        if value == container_path or value.startswith(container_path.rstrip("/") + "/"):
            return local / value[len(container_path):].lstrip("/")
    return path


def _load_password_auth(config_dir: Path, props: Mapping[str, str], env: Mapping[str, str],
                        path_map: PathMap = ()) -> PasswordAuth:
    authenticator = config_dir / "password-authenticator.properties"
    if not authenticator.is_file():
        raise ConfigError(
            "http-server.authentication.type=PASSWORD needs password-authenticator.properties "
            "with password-authenticator.name=file and file.password-file=<path>"
        )
    auth_props, _ = _read_properties(authenticator, env)
    if auth_props.get("password-authenticator.name") != "file":
        raise ConfigError(
            "password-authenticator.properties: only password-authenticator.name=file is emulated, "
            f"got {auth_props.get('password-authenticator.name')!r}"
        )
    file_value = auth_props.get("file.password-file")
    if not file_value:
        raise ConfigError("password-authenticator.properties: file.password-file is missing")
    password_file = _relative(config_dir, file_value, path_map)
    try:
        lines = password_file.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError(f"cannot read password file {password_file}: {e.strerror}") from e
    users: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise ConfigError(f"{password_file.name} line {number}: expected 'user:hash'")
        if hashed.startswith("$2"):
            raise ConfigError(
                f"{password_file.name} line {number}: bcrypt hashes are not emulated; "
                "use the PBKDF2 form 'iterations:salt-hex:hash-hex'"
            )
        if len(hashed.split(":")) != 3:
            raise ConfigError(
                f"{password_file.name} line {number}: expected a PBKDF2 hash 'iterations:salt-hex:hash-hex'"
            )
        users[user] = hashed
    allow_insecure = _parse_bool(
        props.get("http-server.authentication.allow-insecure-over-http", "false"),
        "http-server.authentication.allow-insecure-over-http",
    )
    return PasswordAuth(users=users, allow_insecure_over_http=allow_insecure)


_EMULATED_TYPES = ("PASSWORD", "JWT", "OAUTH2")


def _load_authentication(config_dir: Path, props: Mapping[str, str], env: Mapping[str, str],
                         path_map: PathMap = ()) -> dict[str, Any]:
    """`http-server.authentication.type` (comma list, in order) and what each type needs."""
    types = [t.strip().upper() for t in props.get("http-server.authentication.type", "").split(",") if t.strip()]
    unknown = [t for t in types if t not in _EMULATED_TYPES]
    if unknown:
        raise ConfigError(
            f"http-server.authentication.type: {', '.join(unknown)} is not emulated; use {', '.join(_EMULATED_TYPES)}"
        )
    values: dict[str, Any] = {}
    groups = _load_groups(config_dir, env, path_map)
    if groups is not None:
        values["groups"] = groups
    if not types:
        return values
    if not props.get("internal-communication.shared-secret"):
        raise ConfigError(
            "internal-communication.shared-secret must be set when authentication is enabled "
            "(http-server.authentication.type); Trino refuses to start without it"
        )
    values["shared_secret_set"] = True
    values["allow_insecure_over_http"] = _parse_bool(
        props.get("http-server.authentication.allow-insecure-over-http", "false"),
        "http-server.authentication.allow-insecure-over-http",
    )
    bearer = []
    for auth_type in types:
        if auth_type == "PASSWORD":
            values["password_auth"] = _load_password_auth(config_dir, props, env, path_map)
        elif auth_type == "JWT":
            bearer.append(_jwt_auth(props))
        else:
            bearer.append(_oauth2_auth(props))
    values["bearer_auth"] = tuple(bearer)
    return values


def _jwt_auth(props: Mapping[str, str]) -> JwtAuth:
    prefix = "http-server.authentication.jwt."
    key_file = props.get(prefix + "key-file", "").strip()
    if not key_file:
        raise ConfigError(f"{prefix}key-file is required for JWT authentication")
    if not key_file.startswith(("http://", "https://")):
        raise ConfigError(f"{prefix}key-file: only a JWKS URL (http:// or https://) is emulated, got {key_file!r}")
    audience = props.get(prefix + "required-audience", "").strip()
    return JwtAuth(type="JWT", jwks_url=key_file, issuer=props.get(prefix + "required-issuer") or None,
                   audiences=(audience,) if audience else (),
                   principal_field=props.get(prefix + "principal-field", "sub") or "sub")


def _oauth2_auth(props: Mapping[str, str]) -> JwtAuth:
    prefix = "http-server.authentication.oauth2."
    missing = [key for key in ("issuer", "client-id", "client-secret") if not props.get(prefix + key)]
    if missing:
        raise ConfigError(f"OAUTH2 authentication needs {', '.join(prefix + m for m in missing)}")
    extra = [a.strip() for a in props.get(prefix + "additional-audiences", "").split(",") if a.strip()]
    return JwtAuth(type="OAUTH2", jwks_url=props.get(prefix + "jwks-url") or None, issuer=props[prefix + "issuer"],
                   audiences=(props[prefix + "client-id"], *extra),
                   principal_field=props.get(prefix + "principal-field", "sub") or "sub")


def _load_groups(config_dir: Path, env: Mapping[str, str], path_map: PathMap = ()) -> dict[str, tuple[str, ...]] | None:
    """The `file` group provider: `group:user1,user2` lines, as user -> groups."""
    provider = config_dir / "group-provider.properties"
    if not provider.is_file():
        return None
    props, _ = _read_properties(provider, env)
    if props.get("group-provider.name") != "file":
        raise ConfigError(
            f"group-provider.properties: only group-provider.name=file is emulated, got {props.get('group-provider.name')!r}"
        )
    value = props.get("file.group-file")
    if not value:
        raise ConfigError("group-provider.properties: file.group-file is missing")
    group_file = _relative(config_dir, value, path_map)
    try:
        lines = group_file.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError(f"cannot read group file {group_file}: {e.strerror}") from e
    groups: dict[str, list[str]] = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        group, sep, users = line.partition(":")
        if not sep or not group:
            raise ConfigError(f"{group_file.name} line {number}: expected 'group:user1,user2'")
        for user in (u.strip() for u in users.split(",") if u.strip()):
            groups.setdefault(user, []).append(group)
    return {user: tuple(names) for user, names in groups.items()}


def _load_access_control(config_dir: Path, env: Mapping[str, str], path_map: PathMap = ()) -> AccessControl | None:
    path = config_dir / "access-control.properties"
    if not path.is_file():
        return None
    props, _ = _read_properties(path, env)
    name = props.get("access-control.name", "default")
    if name in ("allow-all", "default"):
        return AccessControl(name=name)
    if name != "file":
        raise ConfigError(f"access-control.properties: access-control.name={name!r} is not emulated")
    rules_value = props.get("security.config-file")
    if not rules_value:
        raise ConfigError("access-control.properties: security.config-file is missing")
    rules_path = _relative(config_dir, rules_value, path_map)
    try:
        rules: Any = json.loads(rules_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read access control rules {rules_path}: {e}") from e
    entries = rules.get("system_information", []) if isinstance(rules, dict) else []
    try:
        parsed = tuple(SystemInformationRule.model_validate(entry) for entry in entries)
    except ValueError as e:
        raise ConfigError(f"{rules_path.name}: invalid system_information rule: {e}") from e
    return AccessControl(name="file", system_information=parsed)


def _load_catalogs(config_dir: Path, env: Mapping[str, str]) -> tuple[CatalogConfig, ...]:
    catalog_dir = config_dir / "catalog"
    catalogs = []
    if catalog_dir.is_dir():
        for path in sorted(catalog_dir.glob("*.properties")):
            props, from_env = _read_properties(path, env)
            connector = props.pop("connector.name", None)
            if not connector:
                raise ConfigError(f"catalog/{path.name}: connector.name is missing")
            catalogs.append(
                CatalogConfig(
                    name=path.stem,
                    connector_name=connector,
                    properties=props,
                    env_properties=from_env - {"connector.name"},
                )
            )
    return tuple(catalogs)


def load_settings(
    config_dir: Path | None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    path_map: PathMap = (),
) -> NodeSettings:
    """Settings from a config directory (or the single-node defaults), then `overrides` (CLI flags)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    if config_dir is not None:
        if not config_dir.is_dir():
            raise ConfigError(f"config directory {str(config_dir)!r} does not exist")
        props, _ = _read_properties(config_dir / "config.properties", env)
        node_path = config_dir / "node.properties"
        node_props = _read_properties(node_path, env)[0] if node_path.is_file() else {}
        values.update(_values_from_properties(props, node_props))
        values.update(_load_authentication(config_dir, props, env, path_map))
        access = _load_access_control(config_dir, env, path_map)
        if access is not None:
            values["access_control"] = access
        values["catalogs"] = _load_catalogs(config_dir, env)
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return NodeSettings.model_validate(values)


def _values_from_properties(props: Mapping[str, str], node_props: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "coordinator" in props:
        values["coordinator"] = _parse_bool(props["coordinator"], "coordinator")
    if "http-server.http.port" in props:
        values["port"] = _parse_int(props["http-server.http.port"], "http-server.http.port")
    if "discovery.uri" in props:
        values["discovery_uri"] = props["discovery.uri"].rstrip("/")
    durations = {
        "shutdown.grace-period": "shutdown_grace_period",
        "query-manager.required-workers-max-wait": "required_workers_max_wait",
        "query.client.timeout": "query_client_timeout",
        "task.client.timeout": "task_client_timeout",
    }
    for key, field in durations.items():
        if key in props:
            values[field] = parse_airlift_duration(props[key], key)
    if "query-manager.required-workers" in props:
        key = "query-manager.required-workers"
        values["required_workers"] = _parse_int(props[key], key)
    if "query.max-history" in props:
        values["max_query_history"] = _parse_int(props["query.max-history"], "query.max-history")
    for key, field in (
        ("node-scheduler.include-coordinator", "include_coordinator"),
        ("http-server.process-forwarded", "process_forwarded"),
    ):
        if key in props:
            values[field] = _parse_bool(props[key], key)
    for key, field in (
        ("node.environment", "environment"),
        ("node.id", "node_id"),
        ("node.internal-address", "internal_address"),
    ):
        if key in node_props:
            values[field] = node_props[key]
    return values
