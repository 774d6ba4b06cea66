"""What `spec.valuesOverlay` adds to a runtime's files and pods (keys named as in the Trino Helm chart).

Trino authentication (PASSWORD, JWT, OAUTH2) with the password and group files mounted from Secrets,
extra config properties and JVM flags, the file-based resource group manager, the image, security
contexts, env, volumes and sidecars. Anything the overlay cannot do raises RenderError, never a default.
"""

from __future__ import annotations

from typing import Any

from xtrinode.models import SecretKeySelector, XTrinode
from xtrinode.models.overlay import OverlayError, ValuesOverlay
from xtrinode.render.settings import RenderError

__all__ = [
    "AUTH_DIR",
    "GROUP_FILE",
    "GROUP_KEY",
    "PASSWORD_FILE",
    "PASSWORD_KEY",
    "SHARED_SECRET_ENV",
    "auth_properties",
    "auth_files",
    "auth_secret_references",
    "auth_volumes",
    "overlay",
    "resource_group_files",
]

AUTH_DIR = "/etc/trino/auth"
PASSWORD_KEY = "password.db"
"""Key of auth.passwordAuthSecret holding Trino's password file (`user:hash` lines), as in the chart."""
GROUP_KEY = "group.db"
"""Key of auth.groupsAuthSecret holding Trino's group file (`group:user1,user2` lines), as in the chart."""
PASSWORD_FILE = f"{AUTH_DIR}/password/{PASSWORD_KEY}"
GROUP_FILE = f"{AUTH_DIR}/groups/{GROUP_KEY}"
SHARED_SECRET_ENV = "XTRINODE_SHARED_SECRET"
"""Env var (from trinoControlAuth.passwordSecret) behind internal-communication.shared-secret: Trino
refuses to start with authentication on and no shared secret for coordinator-worker calls."""
_SHARED_SECRET = "internal-communication.shared-secret"
_INSECURE = "http-server.authentication.allow-insecure-over-http"
_REQUIRED = {
    "JWT": ("http-server.authentication.jwt.key-file",),
    "OAUTH2": ("http-server.authentication.oauth2.issuer", "http-server.authentication.oauth2.client-id",
               "http-server.authentication.oauth2.client-secret"),
}
RESOURCE_GROUPS_JSON = "resource-groups.json"


def overlay(runtime: XTrinode) -> ValuesOverlay:
    """The runtime's parsed overlay (empty when absent)."""
    try:
        return ValuesOverlay.parse(runtime.spec.values_overlay)
    except OverlayError as e:
        raise RenderError(str(e)) from e


def _auth_types(runtime: XTrinode) -> list[str]:
    values = overlay(runtime)
    try:
        return values.check_auth_types()
    except OverlayError as e:
        raise RenderError(str(e)) from e


def _control_secret(runtime: XTrinode) -> SecretKeySelector | None:
    auth = runtime.spec.trino_control_auth
    return auth.password_secret if auth is not None else None


def auth_properties(runtime: XTrinode) -> dict[str, str]:
    """config.properties entries that turn Trino authentication on (both roles); {} when it is off."""
    types = _auth_types(runtime)
    if not types:
        return {}
    values = overlay(runtime)
    props = values.trino_properties()
    if _control_secret(runtime) is None:
        raise RenderError(
            f"valuesOverlay turns on {','.join(types)} authentication but spec.trinoControlAuth.passwordSecret "
            "is not set; the operator's control calls (readiness, drain) need a password"
        )
    if "PASSWORD" not in types:
        raise RenderError(
            f"valuesOverlay authenticationType {','.join(types)} has no PASSWORD: the operator's control calls "
            f"authenticate with trinoControlAuth's password; write {','.join([*types, 'PASSWORD'])}"
        )
    if values.auth is None or values.auth.password_auth_secret is None:
        raise RenderError(
            "valuesOverlay turns on PASSWORD authentication but auth.passwordAuthSecret is not set; name the "
            f"Secret whose key {PASSWORD_KEY!r} holds Trino's password file (with the control user)"
        )
    for auth_type in types:
        missing = [key for key in _REQUIRED.get(auth_type, ()) if not props.get(key)]
        if missing:
            raise RenderError(
                f"valuesOverlay turns on {auth_type} authentication without {', '.join(missing)}; set them in "
                "valuesOverlay.additionalConfigProperties"
            )
    if props.get(_INSECURE, "true").strip().lower() != "true":
        raise RenderError(
            f"valuesOverlay sets {_INSECURE}={props[_INSECURE]!r}; it must stay true: the gateway and the operator "
            "reach Trino over plain HTTP inside the cluster (TLS ends at the gateway)"
        )
    out = {"http-server.authentication.type": ",".join(types), _INSECURE: "true"}
    if _SHARED_SECRET not in props:
        out[_SHARED_SECRET] = "${ENV:" + SHARED_SECRET_ENV + "}"
    return out


def shared_secret_env(runtime: XTrinode) -> SecretKeySelector | None:
    """The Secret key behind XTRINODE_SHARED_SECRET, when authentication is on and it is used."""
    props = auth_properties(runtime)
    if props.get(_SHARED_SECRET) is None:
        return None
    return _control_secret(runtime)


def auth_files(runtime: XTrinode) -> dict[str, str]:
    """`password-authenticator.properties` and `group-provider.properties` when they apply."""
    from xtrinode.render.config import properties_text

    files: dict[str, str] = {}
    values = overlay(runtime)
    if "PASSWORD" in _auth_types(runtime):
        files["password-authenticator.properties"] = properties_text(
            {"password-authenticator.name": "file", "file.password-file": PASSWORD_FILE})
    if values.auth is not None and values.auth.groups_auth_secret is not None:
        files["group-provider.properties"] = properties_text(
            {"group-provider.name": "file", "file.group-file": GROUP_FILE})
    return files


def auth_secret_references(runtime: XTrinode) -> list[SecretKeySelector]:
    """The password and group file Secrets the pods mount (their changes roll the pods)."""
    values = overlay(runtime)
    refs = []
    if values.auth is not None and values.auth.password_auth_secret is not None:
        refs.append(SecretKeySelector(name=values.auth.password_auth_secret, key=PASSWORD_KEY))
    if values.auth is not None and values.auth.groups_auth_secret is not None:
        refs.append(SecretKeySelector(name=values.auth.groups_auth_secret, key=GROUP_KEY))
    return refs


def auth_volumes(runtime: XTrinode) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volumeMounts) of the password and group file Secrets."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for ref in auth_secret_references(runtime):
        kind = "password" if ref.key == PASSWORD_KEY else "groups"
        name = f"{kind}-auth"
        volumes.append({"name": name, "secret": {"secretName": ref.name, "items": [{"key": ref.key, "path": ref.key}]}})
        mounts.append({"name": name, "mountPath": f"{AUTH_DIR}/{kind}", "readOnly": True})
    return volumes, mounts


def resource_group_files(runtime: XTrinode, config_dir: str) -> dict[str, str]:
    """The coordinator's file-based resource group manager, when resourceGroups is set."""
    from xtrinode.render.config import properties_text

    groups = overlay(runtime).resource_groups
    if groups is None:
        return {}
    return {
        "resource-groups.properties": properties_text({
            "resource-groups.configuration-manager": "file",
            "resource-groups.config-file": f"{config_dir}/{RESOURCE_GROUPS_JSON}",
        }),
        RESOURCE_GROUPS_JSON: groups.json_text(),
    }
