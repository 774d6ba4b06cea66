"""The valuesOverlay gate in review(): it asks the injected authorizer and fails closed.

Checks: authorizer True -> allowed; False, raising, returning a non-bool, or no authorizer -> rejected
with a reason naming `update xtrinodes/valuesoverlay` and how to get it; no overlay change or an
already rejected request -> the authorizer is never called; the AccessCheck it receives.
"""

from __future__ import annotations

from typing import Any

import pytest
from admission_builders import ALICE, NAME, NAMESPACE, runtime_request

from xtrinode.admission import AccessCheck, AdmissionRequest, UserInfo, review

OVERLAY: dict[str, Any] = {"size": "s", "valuesOverlay": {"image": {"tag": "477"}}}


class RecordingAuthorizer:
    def __init__(self, answer: Any = True, error: Exception | None = None) -> None:
        self.answer, self.error = answer, error
        self.calls: list[tuple[UserInfo, AccessCheck]] = []

    async def __call__(self, user: UserInfo, check: AccessCheck) -> bool:
        self.calls.append((user, check))
        if self.error is not None:
            raise self.error
        return self.answer  # type: ignore[no-any-return]


async def test_overlay_change_is_allowed_when_the_authorizer_says_yes() -> None:
    authorizer = RecordingAuthorizer(True)
    result = await review(runtime_request(OVERLAY), authorizer)
    assert result.allowed and result.gate_required
    assert result.warnings  # the overlay warning is kept
    [(user, check)] = authorizer.calls
    assert user == ALICE
    assert check == AccessCheck(namespace=NAMESPACE, name=NAME)
    assert check.resource_attributes() == {
        "namespace": NAMESPACE,
        "verb": "update",
        "group": "analytics.xtrinode.io",
        "version": "v1",
        "resource": "xtrinodes",
        "subresource": "valuesoverlay",
        "name": NAME,
    }


@pytest.mark.parametrize(
    ("authorizer", "why"),
    [
        pytest.param(RecordingAuthorizer(False), "'alice@example.com' does not have it", id="denied"),
        pytest.param(RecordingAuthorizer("yes"), "'alice@example.com' does not have it", id="non-bool-answer"),
        pytest.param(RecordingAuthorizer(error=TimeoutError()), "the authorizer could not be asked whether user", id="authorizer-raises"),
        pytest.param(None, "no authorizer is configured", id="no-authorizer"),
    ],
)
async def test_overlay_change_fails_closed(authorizer: RecordingAuthorizer | None, why: str) -> None:
    result = await review(runtime_request(OVERLAY), authorizer)
    assert not result.allowed
    [reason] = result.reasons
    assert reason.startswith("spec.valuesOverlay: ")
    assert "`update xtrinodes/valuesoverlay`" in reason
    assert why in reason
    assert "Role in namespace 'team-a'" in reason and "xtrinodes/valuesoverlay" in reason
    assert "remove spec.valuesOverlay" in reason


async def test_unchanged_overlay_never_calls_the_authorizer() -> None:
    authorizer = RecordingAuthorizer(False)
    request = runtime_request({**OVERLAY, "maxWorkers": 3}, old_spec=OVERLAY)
    result = await review(request, authorizer)
    assert result.allowed and not result.gate_required
    assert authorizer.calls == []


async def test_spec_without_overlay_needs_no_authorizer() -> None:
    assert (await review(runtime_request({"size": "s"}), None)).allowed


async def test_rejected_request_is_not_sent_to_the_authorizer() -> None:
    authorizer = RecordingAuthorizer(True)
    result = await review(runtime_request({**OVERLAY, "size": "huge"}), authorizer)
    assert not result.allowed
    assert authorizer.calls == []


async def test_delete_is_allowed_without_asking() -> None:
    authorizer = RecordingAuthorizer(False)
    request = AdmissionRequest(operation="DELETE", kind="XTrinode", namespace=NAMESPACE, name=NAME)
    assert (await review(request, authorizer)).allowed
    assert authorizer.calls == []


async def test_cancellation_of_the_authorizer_is_not_swallowed() -> None:
    import asyncio

    async def cancelled(user: UserInfo, check: AccessCheck) -> bool:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await review(runtime_request(OVERLAY), cancelled)
