"""Reading rendered Trino config into emulator settings (no servers).

Checks: Java properties round-trip with the renderer's writer, `${ENV:...}` resolution and its
error (naming the variable, never a value), airlift durations, config.properties/node.properties
keys, catalog files, PASSWORD auth and access-control files, and CLI-style overrides.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from devstack.trino import ConfigError, hash_password, load_settings
from devstack.trino.config import parse_airlift_duration, parse_properties, resolve_env
from xtrinode.render.config import properties_text


def test_properties_written_by_the_renderer_read_back_identically() -> None:
    props = {"a.b": "x y", "key:with=odd chars": " leading space", "multi": "1\\2\nline",
             "placeholder": "${ENV:X}", "empty": ""}
    assert parse_properties(properties_text(props)) == props


def test_properties_accept_comments_separators_and_continuations() -> None:
    text = "# comment\n! also\nplain value\ncolon: v2\nlong = a \\\n    b\n\n"
    assert parse_properties(text) == {"plain": "value", "colon": "v2", "long": "a b"}


def test_env_placeholders_resolve_and_report_use() -> None:
    assert resolve_env("jdbc:${ENV:HOST}:${ENV:PORT}", {"HOST": "db", "PORT": "5432"}, "x") == ("jdbc:db:5432", True)
    assert resolve_env("plain", {}, "x") == ("plain", False)


def test_missing_env_variable_names_it_without_other_values() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_env("${ENV:KNOWN}${ENV:MISSING}", {"KNOWN": "topsecret"}, "catalog/pg.properties")
    assert "'MISSING' is not set" in str(caught.value)
    assert "topsecret" not in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [("2m", 120.0), ("30s", 30.0), ("5.00m", 300.0), ("250ms", 0.25),
                                                ("1.5h", 5400.0), ("1d", 86400.0)])
def test_airlift_durations(text: str, expected: float) -> None:
    assert parse_airlift_duration(text, "k").total_seconds() == pytest.approx(expected)


def test_bad_duration_says_what_to_write() -> None:
    with pytest.raises(ConfigError, match="e.g. '30s'"):
        parse_airlift_duration("soon", "shutdown.grace-period")


def test_no_config_dir_is_a_single_node_coordinator_with_tpch() -> None:
    settings = load_settings(None, {"port": 0})
    assert settings.coordinator and settings.include_coordinator
    assert [c.name for c in settings.catalogs] == ["tpch"]
    assert settings.effective_access_control.name == "default", "as Trino with no access control configured"


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_config_dir_sets_cluster_keys_and_catalogs(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "config.properties": "coordinator=false\nhttp-server.http.port=8080\ndiscovery.uri=http://coord:8080/\n"
                             "shutdown.grace-period=45s\nquery-manager.required-workers=3\n"
                             "query-manager.required-workers-max-wait=2m\nnode-scheduler.include-coordinator=false\n"
                             "http-server.process-forwarded=true\nquery.client.timeout=10s\nquery.max-memory=4GB\n",
        "node.properties": "node.environment=prod\nnode.id=${ENV:HOSTNAME}\nnode.data-dir=/data\n",
        "catalog/pg.properties": "connector.name=postgresql\nconnection-password=${ENV:PG_PW}\n",
        "catalog/tpch.properties": "connector.name=tpch\n",
    })
    settings = load_settings(root, {"port": 0}, env={"HOSTNAME": "worker-1", "PG_PW": "pw"})
    assert (settings.coordinator, settings.port, settings.discovery_uri) == (False, 0, "http://coord:8080")
    assert settings.shutdown_grace_period == timedelta(seconds=45)
    assert (settings.required_workers, settings.required_workers_max_wait) == (3, timedelta(minutes=2))
    assert settings.include_coordinator is False and settings.process_forwarded is True
    assert settings.query_client_timeout == timedelta(seconds=10)
    assert (settings.environment, settings.node_id) == ("prod", "worker-1")
    pg, tpch = settings.catalogs
    assert (pg.name, pg.connector_name, pg.env_properties) == ("pg", "postgresql", frozenset({"connection-password"}))
    assert pg.properties == {"connection-password": "pw"}
    assert "pw" not in repr(settings)
    assert tpch.connector_name == "tpch"


def test_catalog_without_connector_name_is_refused(tmp_path: Path) -> None:
    root = _write(tmp_path, {"config.properties": "coordinator=true\n", "catalog/x.properties": "a=b\n"})
    with pytest.raises(ConfigError, match="connector.name is missing"):
        load_settings(root, env={})


SHARED = "internal-communication.shared-secret=test-shared-secret\n"


def test_password_auth_and_file_access_control(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "config.properties": "coordinator=false\nhttp-server.authentication.type=PASSWORD\n" + SHARED,
        "password-authenticator.properties": "password-authenticator.name=file\nfile.password-file=pw.db\n",
        "pw.db": f"op:{hash_password('secret')}\n",
        "access-control.properties": "access-control.name=file\nsecurity.config-file=rules.json\n",
        "rules.json": json.dumps({"system_information": [{"user": "op", "allow": ["read", "write"]}]}),
    })
    settings = load_settings(root, env={})
    assert settings.password_auth is not None and set(settings.password_auth.users) == {"op"}
    control = settings.effective_access_control
    assert control.can_write_system_information("op") and not control.can_write_system_information("other")


def test_password_auth_without_access_control_denies_management_writes(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "config.properties": "http-server.authentication.type=PASSWORD\n" + SHARED,
        "password-authenticator.properties": "password-authenticator.name=file\nfile.password-file=pw.db\n",
        "pw.db": f"op:{hash_password('secret')}\n",
    })
    assert load_settings(root, env={}).effective_access_control.name == "default"


def test_bcrypt_hashes_and_other_auth_types_are_refused_with_advice(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "config.properties": "http-server.authentication.type=PASSWORD\n" + SHARED,
        "password-authenticator.properties": "password-authenticator.name=file\nfile.password-file=pw.db\n",
        "pw.db": "op:$2y$10$abcdefghijklmnopqrstuv\n",
    })
    with pytest.raises(ConfigError, match="PBKDF2"):
        load_settings(root, env={})
    (tmp_path / "config.properties").write_text("http-server.authentication.type=KERBEROS\n" + SHARED)
    with pytest.raises(ConfigError, match="KERBEROS is not emulated; use PASSWORD, JWT, OAUTH2"):
        load_settings(root, env={})


def test_authentication_without_a_shared_secret_is_refused_as_trino_does(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "config.properties": "http-server.authentication.type=PASSWORD\n",
        "password-authenticator.properties": "password-authenticator.name=file\nfile.password-file=pw.db\n",
        "pw.db": f"op:{hash_password('secret')}\n",
    })
    with pytest.raises(ConfigError, match="internal-communication.shared-secret must be set"):
        load_settings(root, env={})


def test_jwt_and_oauth2_read_their_settings_and_groups_come_from_the_group_file(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "config.properties": (
            "http-server.authentication.type=JWT,OAUTH2,PASSWORD\n" + SHARED
            + "http-server.authentication.allow-insecure-over-http=true\n"
            + "http-server.authentication.jwt.key-file=http://idp/jwks\n"
            + "http-server.authentication.jwt.required-issuer=http://idp\n"
            + "http-server.authentication.jwt.required-audience=trino\n"
            + "http-server.authentication.oauth2.issuer=http://idp\n"
            + "http-server.authentication.oauth2.client-id=trino-ui\n"
            + "http-server.authentication.oauth2.client-secret=${ENV:OAUTH_SECRET}\n"),
        "password-authenticator.properties": "password-authenticator.name=file\nfile.password-file=pw.db\n",
        "pw.db": f"op:{hash_password('secret')}\n",
        "group-provider.properties": "group-provider.name=file\nfile.group-file=/etc/trino/auth/groups/group.db\n",
        "auth/groups/group.db": "analysts:alice,bob\nadmins:alice\n",
    })
    settings = load_settings(root, env={"OAUTH_SECRET": "s"}, path_map=(("/etc/trino", root),))
    jwt_auth, oauth2 = settings.bearer_auth
    assert (jwt_auth.type, jwt_auth.jwks_url, jwt_auth.issuer, jwt_auth.audiences) == ("JWT", "http://idp/jwks", "http://idp", ("trino",))
    assert (oauth2.type, oauth2.jwks_url, oauth2.audiences) == ("OAUTH2", None, ("trino-ui",))
    assert settings.password_auth is not None and settings.allow_insecure_over_http and settings.shared_secret_set
    assert settings.groups == {"alice": ("analysts", "admins"), "bob": ("analysts",)}
    (root / "config.properties").write_text("http-server.authentication.type=JWT\n" + SHARED
                                           + "http-server.authentication.jwt.key-file=/etc/trino/jwt.pem\n")
    with pytest.raises(ConfigError, match="only a JWKS URL"):
        load_settings(root, env={}, path_map=(("/etc/trino", root),))


def test_bad_numbers_and_rule_regexes_name_the_key(tmp_path: Path) -> None:
    root = _write(tmp_path, {"config.properties": "query-manager.required-workers=two\n"})
    with pytest.raises(ConfigError, match="query-manager.required-workers: expected a whole number"):
        load_settings(root, env={})
    _write(tmp_path, {
        "config.properties": "coordinator=true\n",
        "access-control.properties": "access-control.name=file\nsecurity.config-file=rules.json\n",
        "rules.json": json.dumps({"system_information": [{"user": "(", "allow": ["write"]}]}),
    })
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        load_settings(root, env={})
