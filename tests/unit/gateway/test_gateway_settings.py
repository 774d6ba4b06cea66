"""GatewaySettings loading (gateway/settings.py).

Checks: camelCase YAML keys and duration strings, defaults, environment overrides
(XTRINODE_GATEWAY__SECTION__KEY, any case), unknown keys in the file or the environment are errors
naming the key, secrets are not echoed in errors; a `gateway:`-rooted file (the chart's values shape)
reads the same; the seed's `redis.enabled/existingSecret/existingSecretKey` and `auth.apiKeys.existingSecret`
keys are accepted, with the Redis password from the environment only.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from gateway.settings import GatewayConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return path


def test_yaml_keys_are_camel_case_and_durations_strings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "listen: {port: 9090}\nroutes: {namespace: gw, configMap: my-routes}\n"
        "resume: {timeout: 2m, abandonAfter: 45s}\nsticky: {ttl: 30m, lruSize: 10}\n"
        "breaker: {failureThreshold: 3, openFor: 5s}\n",
    )
    s = load_settings(path, environ={})
    assert (s.listen.port, s.routes.namespace, s.routes.config_map) == (9090, "gw", "my-routes")
    assert s.resume.timeout == timedelta(minutes=2) and s.resume.abandon_after == timedelta(seconds=45)
    assert (s.sticky.ttl, s.sticky.lru_size) == (timedelta(minutes=30), 10)
    assert (s.breaker.failure_threshold, s.breaker.open_for) == (3, timedelta(seconds=5))


def test_defaults_without_a_file() -> None:
    s = load_settings(None, environ={})
    assert s.routes.namespace == "xtrinode-gateway" and s.routes.config_map == "trino-gateway-routes"
    assert s.resume.timeout == timedelta(minutes=5) and s.resume.abandon_after == timedelta(seconds=30)
    assert s.kube.kubeconfig is None and s.redis.url is None


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "redis: {url: 'redis://file:6379/0'}\n")
    env = {
        "XTRINODE_GATEWAY__REDIS__URL": "redis://env:6379/1",
        "XTRINODE_GATEWAY__RESUME__ABANDONAFTER": "10s",
        "XTRINODE_GATEWAY__RESUME__ABANDON_AFTER_IGNORED": "x",
    }
    with pytest.raises(GatewayConfigError, match="ABANDON_AFTER_IGNORED"):
        load_settings(path, environ=env)
    del env["XTRINODE_GATEWAY__RESUME__ABANDON_AFTER_IGNORED"]
    env["XTRINODE_GATEWAY__LISTEN__PORT"] = "7000"
    s = load_settings(path, environ=env)
    assert s.redis.url == "redis://env:6379/1"
    assert s.resume.abandon_after == timedelta(seconds=10)
    assert s.listen.port == 7000


def test_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(GatewayConfigError, match=r"resume\.abandonAftr: unknown key"):
        load_settings(write(tmp_path, "resume: {abandonAftr: 30s}\n"), environ={})


def test_bad_duration_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(GatewayConfigError, match=r"resume\.timeout"):
        load_settings(write(tmp_path, "resume: {timeout: soon}\n"), environ={})


def test_secret_values_are_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(GatewayConfigError) as info:
        load_settings(write(tmp_path, "temporal: {apiKey: [s3cr3t]}\n"), environ={})
    assert "s3cr3t" not in str(info.value)


def test_a_gateway_rooted_file_reads_like_the_charts_values(tmp_path: Path) -> None:
    """The chart's `gateway:` values shape (everything under one `gateway:` key) gives the same settings."""
    body = "listen: {port: 9090}\nauth: {enabled: true, type: oauth, oauth: {issuer: 'https://idp', audience: trino}}\n"
    flat = load_settings(write(tmp_path, body), environ={})
    nested = load_settings(write(tmp_path, "gateway:\n" + "".join(f"  {line}\n" for line in body.splitlines())),
                           environ={})
    assert nested == flat and nested.listen.port == 9090 and nested.auth.oauth.issuer == "https://idp"


def test_a_gateway_root_beside_other_top_level_keys_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GatewayConfigError, match=r"under 'gateway'.*'listen'"):
        load_settings(write(tmp_path, "gateway: {logLevel: DEBUG}\nlisten: {port: 1}\n"), environ={})


def test_the_seed_redis_keys_are_accepted_and_the_password_comes_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "gateway:\n  redis: {enabled: true, url: 'redis://r:6379/0', existingSecret: gw-redis, "
                           "existingSecretKey: pw}\n")
    with pytest.raises(GatewayConfigError, match="XTRINODE_GATEWAY__REDIS__PASSWORD from its key 'pw'"):
        load_settings(path, environ={})
    s = load_settings(path, environ={"XTRINODE_GATEWAY__REDIS__PASSWORD": "s3cret-pw"})
    assert s.redis.active and s.redis.password is not None and s.redis.password.get_secret_value() == "s3cret-pw"
    assert (s.redis.existing_secret, s.redis.existing_secret_key) == ("gw-redis", "pw")
    assert "s3cret-pw" not in repr(s)


def test_redis_enabled_decides_whether_redis_is_used(tmp_path: Path) -> None:
    off = load_settings(write(tmp_path, "redis: {enabled: false, url: 'redis://r:6379/0'}\n"), environ={})
    assert not off.redis.active
    assert load_settings(write(tmp_path, "redis: {url: 'redis://r:6379/0'}\n"), environ={}).redis.active
    assert not load_settings(None, environ={}).redis.active
    with pytest.raises(GatewayConfigError, match="redis.enabled is true but redis.url is not set"):
        load_settings(write(tmp_path, "redis: {enabled: true}\n"), environ={})


def test_api_keys_existing_secret_needs_the_mounted_file(tmp_path: Path) -> None:
    keys = "gateway:\n  auth: {enabled: true, type: apiKey, apiKeys: {existingSecret: gw-keys%s}}\n"
    with pytest.raises(GatewayConfigError, match="existingSecret is 'gw-keys' but auth.apiKeys.file is not set"):
        load_settings(write(tmp_path, keys % ""), environ={})
    s = load_settings(write(tmp_path, keys % ", existingSecretKey: keys.yaml, file: /etc/keys/keys.yaml"), environ={})
    assert s.auth.api_keys.file == "/etc/keys/keys.yaml" and s.auth.api_keys.existing_secret_key == "keys.yaml"


def test_temporal_tls_files_and_api_key_reach_the_client_settings(tmp_path: Path) -> None:
    """The chart mounts the Temporal TLS Secret and names its files; the API key comes from the environment."""
    path = write(tmp_path, "gateway:\n  temporal: {address: 't.example:7233', tlsCaFile: /tls/ca.crt, "
                           "tlsCertFile: /tls/tls.crt, tlsKeyFile: /tls/tls.key, tlsServerName: t.example}\n")
    s = load_settings(path, environ={"XTRINODE_GATEWAY__TEMPORAL__APIKEY": "tk-1"})
    t = s.temporal.to_temporal()
    assert (str(t.tls_ca_file), str(t.tls_cert_file), str(t.tls_key_file)) == ("/tls/ca.crt", "/tls/tls.crt", "/tls/tls.key")
    assert t.tls_server_name == "t.example" and t.api_key == "tk-1" and "tk-1" not in repr(s)
