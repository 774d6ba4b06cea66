"""The valuesOverlay gate: creating or changing an overlay needs `update xtrinodes/valuesoverlay`.

`review` runs `evaluate` and then asks an injected authorizer (a SubjectAccessReview client); it fails closed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from xtrinode.admission.engine import evaluate
from xtrinode.admission.request import AdmissionRequest, AdmissionResult, UserInfo
from xtrinode.admission.secrets import SecretReader, check_control_user
from xtrinode.models.base import API_GROUP, API_VERSION

__all__ = ["AccessCheck", "Authorizer", "OVERLAY_PERMISSION", "access_check_for", "review"]

OVERLAY_PERMISSION = "update xtrinodes/valuesoverlay"


class AccessCheck(BaseModel):
    """The SubjectAccessReview `spec.resourceAttributes` to ask for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str
    verb: str = "update"
    group: str = API_GROUP
    version: str = API_VERSION
    resource: str = "xtrinodes"
    subresource: str = "valuesoverlay"
    name: str = ""

    def resource_attributes(self) -> dict[str, Any]:
        """The dict to put under SubjectAccessReview `spec.resourceAttributes`."""
        return {key: value for key, value in self.model_dump().items() if value != ""}


Authorizer = Callable[[UserInfo, AccessCheck], Awaitable[bool]]
"""Answers whether the user may do what the AccessCheck asks (a SubjectAccessReview in production)."""


def access_check_for(request: AdmissionRequest) -> AccessCheck:
    """The permission a request needs to create or change a runtime's valuesOverlay."""
    return AccessCheck(namespace=request.namespace, name=request.name)


def _how_to_get_it(request: AdmissionRequest) -> str:
    return (
        f"a Role in namespace {request.namespace!r} with apiGroups [{API_GROUP}], resources "
        "[xtrinodes/valuesoverlay], verbs [update], bound to the user or one of their groups; "
        "or remove spec.valuesOverlay"
    )


def _denied(result: AdmissionResult, request: AdmissionRequest, why: str) -> AdmissionResult:
    reason = (
        f"spec.valuesOverlay: creating or changing it needs permission `{OVERLAY_PERMISSION}`, and {why}; "
        f"to get it, ask a cluster admin for {_how_to_get_it(request)}"
    )
    return result.model_copy(update={"allowed": False, "reasons": [*result.reasons, reason]})


async def review(
    request: AdmissionRequest, authorizer: Authorizer | None, secrets: SecretReader | None = None
) -> AdmissionResult:
    """`evaluate`, the control user check against the password file (when `secrets` can read it), and the
    valuesOverlay gate; no authorizer, a denial or an error all reject."""
    result = await check_control_user(request, evaluate(request), secrets)
    if not result.allowed or not result.gate_required:
        return result
    user = request.user.username or "<anonymous>"
    if authorizer is None:
        return _denied(result, request, "no authorizer is configured to check it, so the gate fails closed")
    try:
        allowed = await authorizer(request.user, access_check_for(request))
    except Exception as e:  # noqa: BLE001 - fail closed on any authorizer error
        detail = " ".join(str(e).split())[:160] or "no detail"
        return _denied(
            result, request,
            f"the authorizer could not be asked whether user {user!r} has it ({type(e).__name__}: {detail}), so the "
            "gate fails closed; retry when the API server's SubjectAccessReview answers",
        )
    if allowed is not True:
        return _denied(result, request, f"user {user!r} does not have it")
    return result
