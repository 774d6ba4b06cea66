"""The control user must be in the password file: checked when admission can read the Secret.

With PASSWORD authentication the operator's control calls log in as `trinoControlAuth.username`; a
password file (`auth.passwordAuthSecret`, key `password.db`) without that user makes every control call
fail. The webhook injects a `SecretReader`; the provision checks the same thing always.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from xtrinode.admission.changes import canonical_json
from xtrinode.admission.request import AdmissionRequest, AdmissionResult
from xtrinode.models.overlay import OverlayError, ValuesOverlay, password_file_users

__all__ = ["SecretReader", "check_control_user", "control_user_problem"]

SecretReader = Callable[[str, str, str], Awaitable[str | None]]
"""(namespace, Secret name, key) -> the value, None when the Secret or key does not exist; raises when the
Secret cannot be read (no permission, API down). Values are never logged or echoed."""

_DEFAULT_USER = "xtrinode-operator"


def _spec(obj: Any) -> Mapping[str, Any]:
    spec = obj.get("spec") if isinstance(obj, Mapping) else None
    return spec if isinstance(spec, Mapping) else {}


def _password_secret(spec: Mapping[str, Any]) -> str | None:
    overlay = spec.get("valuesOverlay")
    if not isinstance(overlay, Mapping):
        return None
    try:
        values = ValuesOverlay.parse(dict(overlay))
        types = values.auth_types()
    except (OverlayError, ValueError):
        return None
    if "PASSWORD" not in types or values.auth is None:
        return None
    return values.auth.password_auth_secret


def _control_user(spec: Mapping[str, Any]) -> str:
    auth = spec.get("trinoControlAuth")
    user = auth.get("username") if isinstance(auth, Mapping) else None
    return user if isinstance(user, str) and user else _DEFAULT_USER


def control_user_problem(password_file: str, user: str, secret: str) -> str | None:
    """Why the control calls would be refused with this password file, or None when the user is listed."""
    if user in password_file_users(password_file):
        return None
    return (
        f"the password file in Secret {secret!r} (key 'password.db') has no entry for the control user {user!r} "
        "(spec.trinoControlAuth.username), so the operator's control calls (readiness, drain) would be refused; "
        f"add a line '{user}:<bcrypt or PBKDF2 hash of the trinoControlAuth password>'"
    )


def _touches_auth(request: AdmissionRequest) -> bool:
    if request.operation == "CREATE" or request.old_object is None:
        return True
    old, new = _spec(request.old_object), _spec(request.object)
    return any(canonical_json(old.get(k)) != canonical_json(new.get(k)) for k in ("valuesOverlay", "trinoControlAuth"))


async def check_control_user(
    request: AdmissionRequest, result: AdmissionResult, reader: SecretReader | None
) -> AdmissionResult:
    """Reject when the password file can be read and lacks the control user; warn when it does not exist."""
    if not result.allowed or reader is None or request.kind != "XTrinode" or not _touches_auth(request):
        return result
    spec = _spec(request.object)
    secret = _password_secret(spec)
    if secret is None:
        return result
    try:
        text = await reader(request.namespace, secret, "password.db")
    except Exception:  # noqa: BLE001 - "when it can read it": the provision checks it always
        return result
    if text is None:
        warning = (
            f"spec.valuesOverlay.auth.passwordAuthSecret: Secret {secret!r} (key 'password.db') is not in namespace "
            f"{request.namespace!r} yet; the runtime stays in phase Error until it exists"
        )
        return result.model_copy(update={"warnings": [*result.warnings, warning]})
    problem = control_user_problem(text, _control_user(spec), secret)
    if problem is None:
        return result
    reason = f"spec.valuesOverlay.auth.passwordAuthSecret: {problem}"
    return result.model_copy(update={"allowed": False, "reasons": [*result.reasons, reason]})
