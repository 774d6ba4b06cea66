"""API key authentication: keys parsed from YAML/JSON maps and `id:key` lines (any generated key
round-trips), accepted from X-API-Key or a Bearer header, rejected as missing/malformed/bad_key, the
Secret file reloaded when it changes (last good keys kept on a bad write, every key revoked when the
file is gone), per-key users and groups, auth off, and `principal_key` identities (the principal, else
the client address: never a header the client picks).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from aiohttp.test_utils import make_mocked_request

from gateway.auth import (
    AuthError,
    AuthSettings,
    AuthSetupError,
    Authenticator,
    Principal,
    create_authenticator,
    parse_api_keys,
    principal_key,
)

SECRET = "s3cr3t-alice-0123456789"
OTHER = "s3cr3t-bob-9876543210"


def request(headers: dict[str, str] | None = None, peer: str | None = None) -> web.Request:
    if peer is None:
        return make_mocked_request("POST", "/v1/statement", headers=headers or {})
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 40000) if name == "peername" else default
    )
    return make_mocked_request("POST", "/v1/statement", headers=headers or {}, transport=transport)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def make_auth(
    session: aiohttp.ClientSession,
) -> AsyncIterator[Callable[..., Any]]:
    started: list[Authenticator] = []

    async def build(**values: Any) -> Authenticator:
        settings = AuthSettings.model_validate({"enabled": True, "type": "apiKey", **values})
        auth = create_authenticator(settings, session)
        await auth.start()
        started.append(auth)
        return auth

    yield build
    for auth in started:
        await auth.close()


async def reason_of(auth: Authenticator, req: web.Request) -> str:
    with pytest.raises(AuthError) as info:
        await auth.authenticate(req)
    for secret in (SECRET, OTHER, "wrong-key-value"):
        assert secret not in info.value.message and secret not in str(info.value)
    return info.value.reason


@pytest.mark.parametrize(
    "text",
    [
        f"alice: {SECRET}\nbob: {OTHER}\n",
        f'{{"alice": "{SECRET}", "bob": "{OTHER}"}}',
        f"# keys\nalice:{SECRET}\n\nbob:{OTHER}\n",
    ],
    ids=["yaml", "json", "lines"],
)
def test_parse_api_keys_reads_yaml_json_and_lines(text: str) -> None:
    assert parse_api_keys(text) == {"alice": SECRET, "bob": OTHER}


def test_parse_api_keys_keeps_numeric_looking_keys_as_text() -> None:
    assert parse_api_keys("ci: 0123\n") == {"ci": "0123"}


def test_parse_api_keys_error_names_the_line_not_the_key() -> None:
    with pytest.raises(ValueError) as info:
        parse_api_keys(f"alice:{SECRET}\njust-a-key-without-id\n")
    assert "line 2" in str(info.value)
    assert SECRET not in str(info.value)


async def test_valid_key_in_x_api_key_header_is_accepted(make_auth: Any) -> None:
    auth = await make_auth(apiKeys={"inline": {"alice": SECRET, "bob": OTHER}})
    principal = await auth.authenticate(request({"X-API-Key": SECRET}))
    assert principal == Principal(name="alice", kind="apiKey", subject="alice", user="alice")


async def test_valid_key_as_bearer_token_is_accepted(make_auth: Any) -> None:
    auth = await make_auth(apiKeys={"inline": {"alice": SECRET, "bob": OTHER}})
    principal = await auth.authenticate(request({"Authorization": f"Bearer {OTHER}"}))
    assert principal is not None and principal.subject == "bob"


async def test_request_without_key_is_rejected_as_missing(make_auth: Any) -> None:
    auth = await make_auth(apiKeys={"inline": {"alice": SECRET}})
    assert await reason_of(auth, request({"X-Trino-User": "alice"})) == "missing"


async def test_wrong_key_is_rejected_as_bad_key(make_auth: Any) -> None:
    auth = await make_auth(apiKeys={"inline": {"alice": SECRET}})
    assert await reason_of(auth, request({"X-API-Key": "wrong-key-value"})) == "bad_key"
    assert await reason_of(auth, request({"Authorization": "Bearer wrong-key-value"})) == "bad_key"


async def test_prefix_of_a_key_is_rejected_as_bad_key(make_auth: Any) -> None:
    auth = await make_auth(apiKeys={"inline": {"alice": SECRET}})
    assert await reason_of(auth, request({"X-API-Key": SECRET[:-1]})) == "bad_key"


async def test_basic_authorization_is_rejected_as_malformed(make_auth: Any) -> None:
    auth = await make_auth(apiKeys={"inline": {"alice": SECRET}})
    assert await reason_of(auth, request({"Authorization": "Basic YWxpY2U6eA=="})) == "malformed"
    assert await reason_of(auth, request({"Authorization": "Bearer "})) == "malformed"


async def test_keys_carry_their_configured_user_and_groups(make_auth: Any) -> None:
    auth = await make_auth(apiKeys={"inline": {"etl-a": SECRET, "bob": OTHER}, "users": {"etl-a": "svc_etl"},
                                    "groups": {"etl-a": ["team-a"]}})
    etl = await auth.authenticate(request({"X-API-Key": SECRET}))
    bob = await auth.authenticate(request({"X-API-Key": OTHER}))
    assert etl is not None and (etl.user, etl.groups, etl.key) == ("svc_etl", frozenset({"team-a"}), "key:etl-a")
    assert bob is not None and (bob.user, bob.groups) == ("bob", frozenset())


async def test_disabled_auth_returns_no_principal(session: aiohttp.ClientSession) -> None:
    auth = create_authenticator(AuthSettings(), session)
    await auth.start()
    try:
        assert await auth.authenticate(request({"X-API-Key": "anything"})) is None
    finally:
        await auth.close()


async def test_keys_load_from_the_secret_file(make_auth: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"alice: {SECRET}\n")
    auth = await make_auth(apiKeys={"file": str(keys)})
    principal = await auth.authenticate(request({"X-API-Key": SECRET}))
    assert principal is not None and principal.name == "alice"


async def test_changed_key_file_is_reloaded_without_restart(make_auth: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"alice:{SECRET}\n")
    auth = await make_auth(apiKeys={"file": str(keys), "reloadInterval": "50ms"})
    assert await auth.authenticate(request({"X-API-Key": SECRET}))

    replacement = tmp_path / "keys.new"  # Kubernetes swaps Secret files atomically
    replacement.write_text(f"bob:{OTHER}\n")
    os.replace(replacement, keys)

    deadline = asyncio.get_running_loop().time() + 5
    while True:
        try:
            principal = await auth.authenticate(request({"X-API-Key": OTHER}))
            break
        except AuthError:
            assert asyncio.get_running_loop().time() < deadline, "new key not picked up within 5 s"
            await asyncio.sleep(0.02)
    assert principal is not None and principal.name == "bob"
    assert await reason_of(auth, request({"X-API-Key": SECRET})) == "bad_key"


async def test_unparsable_key_file_keeps_the_last_good_keys(
    make_auth: Any, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"alice:{SECRET}\n")
    auth = await make_auth(apiKeys={"file": str(keys), "reloadInterval": "1h"})
    keys.write_text("no-colon-here\n")
    assert await auth.store.check_reload() is False
    assert await auth.authenticate(request({"X-API-Key": SECRET}))


async def test_deleting_the_key_file_revokes_every_key_from_it(make_auth: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"alice:{SECRET}\n")
    auth = await make_auth(apiKeys={"file": str(keys), "inline": {"ops": OTHER}, "reloadInterval": "1h"})
    keys.unlink()
    assert await auth.store.check_reload() is True
    assert await reason_of(auth, request({"X-API-Key": SECRET})) == "bad_key"
    assert await auth.authenticate(request({"X-API-Key": OTHER})), "inline keys are configuration, not the file"
    keys.write_text(f"alice:{SECRET}\n")
    assert await auth.store.check_reload() is True
    assert await auth.authenticate(request({"X-API-Key": SECRET}))


async def test_inline_keys_stay_next_to_file_keys(make_auth: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"alice:{SECRET}\n")
    auth = await make_auth(apiKeys={"file": str(keys), "inline": {"bob": OTHER}})
    assert sorted(auth.store.key_ids) == ["alice", "bob"]


async def test_missing_key_file_fails_start_with_the_path(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "absent"
    settings = AuthSettings.model_validate(
        {"enabled": True, "type": "apiKey", "apiKeys": {"file": str(path)}}
    )
    auth = create_authenticator(settings, session)
    with pytest.raises(AuthSetupError, match="absent"):
        await auth.start()
    await auth.close()


def test_principal_key_is_the_principal_else_the_client_address() -> None:
    key_principal = Principal(name="alice", kind="apiKey", subject="alice")
    jwt_principal = Principal(name="u-1", kind="jwt", subject="u-1")
    assert principal_key(key_principal, "10.0.0.7") == "key:alice"
    assert principal_key(jwt_principal, "10.0.0.7") == "sub:u-1"
    assert principal_key(None, "10.0.0.7") == "ip:10.0.0.7", "never X-Trino-User: a client picks that freely"


def test_principal_key_bounds_long_subjects() -> None:
    key = principal_key(Principal(name="x" * 5000, kind="jwt", subject="x" * 5000), "1.2.3.4")
    assert key.startswith("sub:sha256-") and len(key) < 100


_ID = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,19}", fullmatch=True)
_KEY = st.from_regex(r"[A-Za-z0-9_-]{8,64}", fullmatch=True)


@settings(max_examples=100, deadline=None)
@given(keys=st.dictionaries(_ID, _KEY, min_size=1, max_size=8))
def test_parse_api_keys_reads_back_any_secret_in_every_format(keys: dict[str, str]) -> None:
    as_yaml = "".join(f"{key_id}: {key}\n" for key_id, key in keys.items())
    as_lines = "".join(f"{key_id}:{key}\n" for key_id, key in keys.items())
    assert parse_api_keys(as_yaml) == keys
    assert parse_api_keys(json.dumps(keys)) == keys
    assert parse_api_keys(as_lines) == keys
