"""Admission rules for XTrinode and XTrinodeCatalog (SPEC section 6), as pure functions.

`evaluate` judges one request; `review` adds the valuesOverlay SubjectAccessReview gate (fail closed).
"""

from xtrinode.admission.engine import evaluate
from xtrinode.admission.gate import OVERLAY_PERMISSION, AccessCheck, Authorizer, access_check_for, review
from xtrinode.admission.secrets import SecretReader, control_user_problem
from xtrinode.admission.request import (
    AdmissionRequest,
    AdmissionResult,
    UserInfo,
    to_admission_response,
)

__all__ = [
    "OVERLAY_PERMISSION",
    "AccessCheck",
    "AdmissionRequest",
    "AdmissionResult",
    "Authorizer",
    "SecretReader",
    "UserInfo",
    "access_check_for",
    "control_user_problem",
    "evaluate",
    "review",
    "to_admission_response",
]
