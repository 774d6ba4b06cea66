"""The admission request and result models, and the AdmissionReview v1 wire format around them.

The webhook reads a review with `AdmissionRequest.from_review` and answers with `to_admission_response`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "ADMISSION_API_VERSION",
    "Operation",
    "AdmittedKind",
    "UserInfo",
    "AdmissionRequest",
    "AdmissionResult",
    "to_admission_response",
]

ADMISSION_API_VERSION = "admission.k8s.io/v1"
Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
AdmittedKind = Literal["XTrinode", "XTrinodeCatalog"]


class UserInfo(BaseModel):
    """The requesting user, as in AdmissionReview v1 `request.userInfo`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    username: str = ""
    uid: str = ""
    groups: list[str] = Field(default_factory=list)
    extra: dict[str, list[str]] = Field(default_factory=dict)


class AdmissionRequest(BaseModel):
    """One object change to admit; `object` and `old_object` are raw wire dicts as kubectl sends them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    uid: str = Field(default="", description="request.uid, echoed in the response.")
    operation: Operation
    kind: AdmittedKind
    namespace: str = ""
    name: str = ""
    object: dict[str, Any] | None = None
    old_object: dict[str, Any] | None = None
    user: UserInfo = Field(default_factory=UserInfo)
    dry_run: bool = False

    @classmethod
    def from_review(cls, review: Mapping[str, Any]) -> AdmissionRequest:
        """Read an AdmissionReview v1 dict (or its `request` part).

        Raises ValueError, naming the field, when the review is not one this webhook handles.
        """
        if not isinstance(review, Mapping):
            raise ValueError(f"AdmissionReview must be a JSON object, got {type(review).__name__}")
        api_version = review.get("apiVersion")
        if api_version is not None and api_version != ADMISSION_API_VERSION:
            raise ValueError(
                f"AdmissionReview apiVersion {api_version!r} is not supported; "
                f"configure the webhook with admissionReviewVersions: [v1] ({ADMISSION_API_VERSION})"
            )
        request = review.get("request", review)
        if not isinstance(request, Mapping):
            raise ValueError("AdmissionReview.request must be a JSON object")
        kind = request.get("kind")
        kind_name = kind.get("kind") if isinstance(kind, Mapping) else kind
        user = request.get("userInfo")
        try:
            return cls(
                uid=request.get("uid") or "",
                operation=request.get("operation"),
                kind=kind_name,
                namespace=request.get("namespace") or "",
                name=request.get("name") or "",
                object=request.get("object"),
                old_object=request.get("oldObject"),
                user=UserInfo.model_validate(user) if isinstance(user, Mapping) else UserInfo(),
                dry_run=bool(request.get("dryRun") or False),
            )
        except ValidationError as e:
            problems = "; ".join(
                f"request.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
            )
            raise ValueError(
                f"AdmissionReview request cannot be handled: {problems}. The webhook admits "
                "kinds XTrinode and XTrinodeCatalog for operations CREATE, UPDATE, DELETE and CONNECT"
            ) from e


class AdmissionResult(BaseModel):
    """The verdict: allowed, or the reasons why not; warnings either way."""

    model_config = ConfigDict(extra="forbid")

    allowed: bool
    reasons: list[str] = Field(
        default_factory=list,
        description="Why the request was rejected: each names the field, shows the value, says what to use.",
    )
    warnings: list[str] = Field(default_factory=list, description="Shown by kubectl; do not block.")
    gate_required: bool = Field(
        default=False,
        description="valuesOverlay created or changed: the SubjectAccessReview gate applies.",
    )

    @property
    def message(self) -> str:
        """All reasons as one message, as kubectl prints it after 'denied the request:'."""
        if len(self.reasons) <= 1:
            return "".join(self.reasons)
        return f"{len(self.reasons)} problems:\n" + "\n".join(f"- {reason}" for reason in self.reasons)


_WARNING_LIMIT = 256  # the API server may truncate longer warnings


def to_admission_response(uid: str, result: AdmissionResult) -> dict[str, Any]:
    """The AdmissionReview v1 answer for request `uid`."""
    response: dict[str, Any] = {"uid": uid, "allowed": result.allowed}
    if not result.allowed:
        message = result.message or "rejected by XTrinode admission without a reason (this is a bug)"
        # reason Forbidden: kubectl shows "Error from server (Forbidden): ... denied the request: <message>"
        # (kube-apiserver passes the webhook's reason through; without one kubectl shows no reason)
        response["status"] = {"code": 403, "reason": "Forbidden", "message": message}
    if result.warnings:
        response["warnings"] = [
            w if len(w) <= _WARNING_LIMIT else w[: _WARNING_LIMIT - 3] + "..." for w in result.warnings
        ]
    return {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": response}
