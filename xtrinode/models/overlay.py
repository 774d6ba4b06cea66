"""`spec.valuesOverlay`: the privileged overrides, named after the Trino Helm chart's values.

The CRD keeps the overlay free-form (preserve-unknown-fields); this model is what render applies and
admission checks. Every key it does not know is refused (`extra="forbid"`), so nothing is silently
ignored. Kubernetes objects inside it (env, volumes, containers, security contexts) stay raw dicts:
render copies them into the pods, admission searches them for settings that break isolation.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "AUTH_TYPES",
    "OverlayError",
    "SUPPORTED_KEYS",
    "ValuesOverlay",
    "parse_property_line",
    "password_file_users",
]

AUTH_TYPES = ("PASSWORD", "JWT", "OAUTH2")
"""Trino HTTP authentication types an overlay may turn on (comma-separated, in Trino's order)."""

SUPPORTED_KEYS = (
    "image.repository", "image.tag", "image.pullPolicy",
    "server.config.authenticationType",
    "auth.passwordAuthSecret", "auth.groupsAuthSecret",
    "service.port",
    "securityContext", "containerSecurityContext",
    "env", "envFrom", "volumes", "volumeMounts",
    "sidecarContainers.coordinator", "sidecarContainers.worker",
    "resourceGroups.resourceGroupsConfig",
    "additionalConfigProperties",
    "coordinator.additionalConfigProperties", "worker.additionalConfigProperties",
    "coordinator.additionalJVMConfig", "worker.additionalJVMConfig",
    "trino.config", "trino.jvm",
)  # fmt: skip
"""Every overlay key, as a dotted path (Trino Helm chart names); anything else is refused."""

_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_PROPERTY_LINE = re.compile(r"^\s*([^=:\s]+)\s*[=:]\s*(.*?)\s*$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class OverlayError(ValueError):
    """An overlay that cannot be applied; the message names the key and what to write instead."""


def parse_property_line(line: str) -> tuple[str, str] | None:
    """`key=value` (or `key: value`) as in a Java properties file; None when the line is not one."""
    match = _PROPERTY_LINE.match(line)
    if match is None:
        return None
    return match.group(1), match.group(2)


class _Overlay(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class OverlayImage(_Overlay):
    """`image`: replaces the matching parts of spec.image."""

    repository: str | None = Field(default=None, min_length=1)
    tag: str | None = Field(default=None, min_length=1)
    pull_policy: Literal["IfNotPresent", "Always", "Never"] | None = Field(default=None, alias="pullPolicy")

    @field_validator("tag", mode="before")
    @classmethod
    def _tag_text(cls, value: Any) -> Any:
        # YAML reads `tag: 480` as a number; an image tag is text.
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


class ServerConfig(_Overlay):
    authentication_type: str | None = Field(
        default=None, alias="authenticationType",
        description="Trino http-server.authentication.type: PASSWORD, JWT, OAUTH2, comma-separated.",
    )


class OverlayServer(_Overlay):
    config: ServerConfig = Field(default_factory=ServerConfig)


class OverlayService(_Overlay):
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Port of the coordinator Service (Trino keeps 8080 in the pod).")

    @field_validator("port", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{value!r} is not a port number; use an integer 1..65535")
        return value


def _secret_name(value: str | None) -> str | None:
    if value is not None and (not _SECRET_NAME.match(value) or len(value) > 253):
        raise ValueError(
            f"{value!r} is not a Secret name; name a Secret of the runtime's namespace (lower-case letters, "
            "digits, '-' and '.')"
        )
    return value


class OverlayAuth(_Overlay):
    """`auth`: Secrets holding Trino's password file (key password.db) and group file (key group.db)."""

    password_auth_secret: str | None = Field(default=None, alias="passwordAuthSecret")
    groups_auth_secret: str | None = Field(default=None, alias="groupsAuthSecret")

    _names = field_validator("password_auth_secret", "groups_auth_secret")(_secret_name)


BOTH_ROLES_PREFIXES = ("http-server.authentication", "internal-communication.", "http-server.https")
"""Properties both roles must agree on (authentication, the nodes' shared secret, HTTPS): a role's own
additionalConfigProperties may not set them."""


class RoleOverlay(_Overlay):
    """`coordinator` / `worker`: what only that role gets (Trino Helm chart names)."""

    additional_jvm_config: list[str] = Field(default_factory=list, alias="additionalJVMConfig")
    additional_config_properties: list[str] = Field(default_factory=list, alias="additionalConfigProperties")

    @model_validator(mode="after")
    def _lines(self) -> RoleOverlay:
        for index, line in enumerate(self.additional_config_properties):
            parsed = parse_property_line(line)
            if parsed is None:
                raise ValueError(
                    f"additionalConfigProperties[{index}] {line!r} is not a property line; write 'name=value'"
                )
            if parsed[0].startswith(BOTH_ROLES_PREFIXES):
                raise ValueError(
                    f"additionalConfigProperties[{index}] sets {parsed[0]!r}, which both roles must share; "
                    "write it in valuesOverlay.additionalConfigProperties"
                )
        return self


class SidecarContainers(_Overlay):
    coordinator: list[dict[str, Any]] = Field(default_factory=list)
    worker: list[dict[str, Any]] = Field(default_factory=list)


class ResourceGroups(_Overlay):
    """`resourceGroups.resourceGroupsConfig`: the JSON of Trino's file-based resource group manager."""

    resource_groups_config: str | dict[str, Any] = Field(alias="resourceGroupsConfig")

    @field_validator("resource_groups_config")
    @classmethod
    def _json(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        try:
            parsed = json.loads(value) if isinstance(value, str) else value
        except ValueError as e:
            raise ValueError(f"is not JSON ({e}); write Trino's resource-groups.json content") from e
        if not isinstance(parsed, dict) or not isinstance(parsed.get("rootGroups"), list):
            raise ValueError("needs a JSON object with a rootGroups list (and usually selectors), as Trino's "
                             "resource-groups.json")
        if not isinstance(parsed.get("selectors", []), list):
            raise ValueError("selectors must be a list")
        return value

    def json_text(self) -> str:
        value = self.resource_groups_config
        parsed = json.loads(value) if isinstance(value, str) else value
        return json.dumps(parsed, indent=2, sort_keys=True) + "\n"


class TrinoOverlay(_Overlay):
    config: dict[str, str | bool | int | float] = Field(default_factory=dict)
    jvm: list[str] = Field(default_factory=list)


def _named(items: list[dict[str, Any]], what: str, required: tuple[str, ...] = ("name",)) -> None:
    for index, item in enumerate(items):
        for key in required:
            if not isinstance(item.get(key), str) or not item[key]:
                raise ValueError(f"{what}[{index}] needs a {key!r} (a non-empty string)")


class ValuesOverlay(_Overlay):
    """The overlay, parsed. Use `ValuesOverlay.parse(spec.values_overlay)`."""

    image: OverlayImage | None = None
    server: OverlayServer | None = None
    auth: OverlayAuth | None = None
    service: OverlayService | None = None
    security_context: dict[str, Any] = Field(default_factory=dict, alias="securityContext")
    container_security_context: dict[str, Any] = Field(default_factory=dict, alias="containerSecurityContext")
    env: list[dict[str, Any]] = Field(default_factory=list)
    env_from: list[dict[str, Any]] = Field(default_factory=list, alias="envFrom")
    volumes: list[dict[str, Any]] = Field(default_factory=list)
    volume_mounts: list[dict[str, Any]] = Field(default_factory=list, alias="volumeMounts")
    sidecar_containers: SidecarContainers | None = Field(default=None, alias="sidecarContainers")
    resource_groups: ResourceGroups | None = Field(default=None, alias="resourceGroups")
    additional_config_properties: list[str] = Field(default_factory=list, alias="additionalConfigProperties")
    coordinator: RoleOverlay | None = None
    worker: RoleOverlay | None = None
    trino: TrinoOverlay | None = None

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> ValuesOverlay:
        """The overlay of a spec (None and `{}` are the empty overlay); raises OverlayError."""
        from pydantic import ValidationError

        try:
            return cls.model_validate(raw or {})
        except ValidationError as e:
            problems = "; ".join(
                "valuesOverlay." + ".".join(str(p) for p in err["loc"]) + ": " + _error_text(err)
                for err in e.errors(include_url=False)
            )
            raise OverlayError(problems) from e

    @model_validator(mode="after")
    def _shapes(self) -> ValuesOverlay:
        _named(self.env, "env")
        for index, entry in enumerate(self.env):
            if not _ENV_NAME.match(entry["name"]):
                raise ValueError(f"env[{index}] name {entry['name']!r} is not an environment variable name")
        _named(self.volumes, "volumes")
        _named(self.volume_mounts, "volumeMounts", ("name", "mountPath"))
        if self.sidecar_containers is not None:
            _named(self.sidecar_containers.coordinator, "sidecarContainers.coordinator", ("name", "image"))
            _named(self.sidecar_containers.worker, "sidecarContainers.worker", ("name", "image"))
        for index, line in enumerate(self.additional_config_properties):
            if parse_property_line(line) is None:
                raise ValueError(
                    f"additionalConfigProperties[{index}] {line!r} is not a property line; write 'name=value'"
                )
        self.auth_types()  # raises when the two places disagree
        return self

    # -- what render and admission read --------------------------------------------------------
    def trino_properties(self, role: str | None = None) -> dict[str, str]:
        """Trino config.properties entries: trino.config, then additionalConfigProperties (both roles),
        then, with a role, that role's own additionalConfigProperties."""
        props: dict[str, str] = {}
        for key, value in (self.trino.config if self.trino is not None else {}).items():
            props[str(key)] = _property_text(value)
        lines = list(self.additional_config_properties)
        role_overlay = self.coordinator if role == "coordinator" else self.worker if role == "worker" else None
        if role_overlay is not None:
            lines += role_overlay.additional_config_properties
        for line in lines:
            parsed = parse_property_line(line)
            if parsed is not None:
                props[parsed[0]] = parsed[1]
        return props

    def jvm_flags(self, role: str) -> list[str]:
        """JVM flags of a role: trino.jvm for both, then the role's additionalJVMConfig."""
        flags = list(self.trino.jvm) if self.trino is not None else []
        role_overlay = self.coordinator if role == "coordinator" else self.worker
        if role_overlay is not None:
            flags.extend(role_overlay.additional_jvm_config)
        return [flag.strip() for flag in flags if flag.strip()]

    def auth_types(self) -> list[str]:
        """The HTTP authentication types, upper case, from server.config.authenticationType or the
        `http-server.authentication.type` property (they must agree); [] when none."""
        chart = self.server.config.authentication_type if self.server is not None else None
        prop = self.trino_properties().get("http-server.authentication.type")
        chosen = [_split_types(text) for text in (chart, prop) if text is not None and text.strip()]
        if len(chosen) == 2 and chosen[0] != chosen[1]:
            raise ValueError(
                f"server.config.authenticationType {chart!r} and the property http-server.authentication.type "
                f"{prop!r} disagree; set the types once, in server.config.authenticationType"
            )
        return chosen[0] if chosen else []

    def check_auth_types(self) -> list[str]:
        """`auth_types()`, raising OverlayError for a type XTrinode does not run (admission names where)."""
        types = self.auth_types()
        unknown = [t for t in types if t not in AUTH_TYPES]
        if unknown:
            raise OverlayError(
                f"valuesOverlay: authentication type {', '.join(unknown)} is not supported; use "
                f"{', '.join(AUTH_TYPES)} (comma-separated, e.g. 'JWT,PASSWORD')"
            )
        return types


def _split_types(text: str) -> list[str]:
    return [part.strip().upper() for part in text.split(",") if part.strip()]


def _property_text(value: str | bool | int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error_text(error: Any) -> str:
    message = str(error.get("msg", ""))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error.get("type") == "extra_forbidden":
        return "not a supported key; supported: " + ", ".join(SUPPORTED_KEYS)
    return message


def password_file_users(text: str) -> set[str]:
    """The user names of a Trino password file (`user:hash` lines; blank lines and `#` comments skipped)."""
    users = set()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            users.add(line.split(":", 1)[0])
    return users
