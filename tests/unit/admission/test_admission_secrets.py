"""Secrets named by runtimes and catalogs: a `namespace` on a Secret reference is refused with a message
saying the Secret must live in the object's namespace (not only "unknown field"), for trinoControlAuth
and for catalog connectionPasswordSecret and propertySecretRefs; with PASSWORD auth the control user
must be in the password file when admission can read it (missing Secret: a warning; unreadable: left to
the provision; an update that leaves auth alone does not read it)."""

from __future__ import annotations

import pytest
from admission_builders import NAMESPACE, catalog_request, postgres, runtime_request

from xtrinode.admission import evaluate, review


@pytest.mark.parametrize("other", ["xtrinode-system", NAMESPACE])
def test_control_auth_secret_in_another_namespace_says_it_must_live_beside_the_runtime(other: str) -> None:
    spec = {"size": "s", "trinoControlAuth": {"passwordSecret": {"name": "ctl", "key": "pw", "namespace": other}}}
    [reason] = evaluate(runtime_request(spec)).reasons
    assert reason.startswith("spec.trinoControlAuth.passwordSecret.namespace: names the Secret")
    assert f"must live in the runtime's namespace {NAMESPACE!r}" in reason
    assert "remove spec.trinoControlAuth.passwordSecret.namespace" in reason


def test_catalog_secret_refs_in_another_namespace_are_refused_each_by_path() -> None:
    spec = postgres(connectionPasswordSecret={"name": "db", "key": "pw", "namespace": "vault"},
                    propertySecretRefs={"connection-ssl-key-password": {"name": "tls", "key": "k", "namespace": "vault"}})
    reasons = evaluate(catalog_request(spec)).reasons
    assert [r.split(":")[0] for r in reasons] == [
        "spec.connector.postgres.connectionPasswordSecret.namespace",
        "spec.connector.postgres.propertySecretRefs['connection-ssl-key-password'].namespace",
    ]
    assert all("must live in the catalog's namespace" in r and "'vault'" in r for r in reasons)


CONTROL = {"username": "ops", "passwordSecret": {"name": "trino-control", "key": "password"}}
PASSWORD_SPEC = {"size": "s", "trinoControlAuth": CONTROL, "valuesOverlay": {
    "server": {"config": {"authenticationType": "PASSWORD"}}, "auth": {"passwordAuthSecret": "trino-passwords"}}}


class Secrets:
    """A SecretReader over a dict; records what was read."""

    def __init__(self, files: dict[str, str] | None = None, error: Exception | None = None) -> None:
        self.files, self.error = files or {}, error
        self.reads: list[tuple[str, str, str]] = []

    async def __call__(self, namespace: str, name: str, key: str) -> str | None:
        self.reads.append((namespace, name, key))
        if self.error is not None:
            raise self.error
        return self.files.get(name)


async def _allow(user: object, check: object) -> bool:
    return True


async def test_a_password_file_without_the_control_user_is_refused_when_admission_can_read_it() -> None:
    secrets = Secrets({"trino-passwords": "alice:1000:ab:cd\n# ops is missing\n"})
    result = await review(runtime_request(PASSWORD_SPEC), _allow, secrets)
    assert not result.allowed
    [reason] = result.reasons
    assert reason.startswith("spec.valuesOverlay.auth.passwordAuthSecret: the password file in Secret 'trino-passwords'")
    assert "control user 'ops'" in reason and "add a line 'ops:" in reason
    assert "alice" not in reason  # the file's content is never echoed
    assert secrets.reads == [(NAMESPACE, "trino-passwords", "password.db")]


async def test_a_password_file_with_the_control_user_is_allowed() -> None:
    secrets = Secrets({"trino-passwords": "alice:1000:ab:cd\nops:$2y$10$abcdefghijklmnopqrstuv\n"})
    assert (await review(runtime_request(PASSWORD_SPEC), _allow, secrets)).allowed


async def test_a_missing_password_secret_is_a_warning_and_an_unreadable_one_is_left_to_the_provision() -> None:
    result = await review(runtime_request(PASSWORD_SPEC), _allow, Secrets())
    assert result.allowed
    assert any("'trino-passwords'" in w and "not in namespace" in w for w in result.warnings)
    assert (await review(runtime_request(PASSWORD_SPEC), _allow, Secrets(error=PermissionError("403")))).allowed


async def test_an_update_that_leaves_auth_alone_does_not_read_the_secret() -> None:
    secrets = Secrets({"trino-passwords": "alice:x:y:z\n"})
    result = await review(runtime_request({**PASSWORD_SPEC, "suspended": True}, old_spec=PASSWORD_SPEC), _allow, secrets)
    assert result.allowed and secrets.reads == []  # suspending is never blocked by a Secret changed since
