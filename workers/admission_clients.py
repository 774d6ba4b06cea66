"""What the admission webhook asks the Kubernetes API, through the official client: a SubjectAccessReview
for the valuesOverlay gate, and the PASSWORD file Secret for the control-user check.

Both run the blocking client in a thread with a deadline. The authorizer raises when the review cannot be
made (the gate then fails closed); the Secret reader returns None for a missing Secret or key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from datetime import timedelta

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from xtrinode.admission import AccessCheck, Authorizer, SecretReader, UserInfo

__all__ = ["AuthorizerError", "secret_reader", "subject_access_reviewer"]


class AuthorizerError(RuntimeError):
    """The SubjectAccessReview could not be made or answered nonsense; the message says which."""


def subject_access_reviewer(api: client.ApiClient, timeout: timedelta = timedelta(seconds=5)) -> Authorizer:
    """An Authorizer that posts a SubjectAccessReview for the requesting user and groups."""
    authz = client.AuthorizationV1Api(api)
    seconds = timeout.total_seconds()

    def ask(user: UserInfo, check: AccessCheck) -> bool:
        spec = client.V1SubjectAccessReviewSpec(
            user=user.username or None, groups=list(user.groups) or None, uid=user.uid or None,
            extra={key: list(values) for key, values in user.extra.items()} or None,
            resource_attributes=client.V1ResourceAttributes(**check.resource_attributes()),
        )
        body = client.V1SubjectAccessReview(api_version="authorization.k8s.io/v1", kind="SubjectAccessReview", spec=spec)
        try:
            review = authz.create_subject_access_review(body, _request_timeout=seconds)
        except ApiException as e:
            raise AuthorizerError(f"SubjectAccessReview failed: HTTP {e.status} {e.reason}") from e
        status = review.status
        if status is None:
            raise AuthorizerError("SubjectAccessReview came back without a status")
        return bool(status.allowed) and not bool(status.denied)

    async def authorize(user: UserInfo, check: AccessCheck) -> bool:
        if not user.username and not user.groups:
            raise AuthorizerError("the AdmissionReview names no user or group to check")
        return await asyncio.wait_for(asyncio.to_thread(ask, user, check), seconds + 1)

    return authorize


def secret_reader(api: client.ApiClient, timeout: timedelta = timedelta(seconds=5)) -> SecretReader:
    """A SecretReader over the core API; raises on anything but found or not found (403, timeouts)."""
    core = client.CoreV1Api(api)
    seconds = timeout.total_seconds()

    def read(namespace: str, name: str, key: str) -> str | None:
        try:
            secret = core.read_namespaced_secret(name, namespace, _request_timeout=seconds)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        raw = (secret.data or {}).get(key)
        if raw is None:
            return None
        try:
            return base64.b64decode(raw).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            return None

    async def reader(namespace: str, name: str, key: str) -> str | None:
        return await asyncio.wait_for(asyncio.to_thread(read, namespace, name, key), seconds + 1)

    return reader
