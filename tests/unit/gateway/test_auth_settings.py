"""AuthSettings: off by default, camelCase keys as in the chart (`jwksURL` included), unknown keys
rejected, algorithms pinned to RS256/384/512, durations parsed, required fields per auth type.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from gateway.auth import AuthSettings


def test_defaults_are_off_with_rsa_algorithms_and_documented_durations() -> None:
    settings = AuthSettings()
    assert settings.enabled is False
    assert settings.type == "apiKey"
    assert settings.oauth.algorithms == ["RS256", "RS384", "RS512"]
    assert settings.oauth.refresh_interval == timedelta(hours=1)
    assert settings.oauth.unknown_kid_cooldown == timedelta(seconds=5)
    assert settings.oauth.leeway == timedelta(seconds=60)
    assert settings.oauth.user_claim == "sub"
    assert not settings.authorization.rules and not settings.impersonation.principals


def test_chart_style_camel_case_values_are_read() -> None:
    settings = AuthSettings.model_validate(
        {
            "enabled": True,
            "type": "oauth",
            "impersonation": {"groups": ["trino-admins"]},
            "authorization": {"rules": [{"groups": ["team-a"], "runtimes": ["team-a/*"], "admin": True}]},
            "oauth": {
                "issuer": "https://idp.example",
                "audience": ["trino", "xtrinode"],
                "jwksURL": "https://idp.example/keys",
                "refreshInterval": "10m",
                "unknownKidCooldown": "5s",
            },
        }
    )
    assert settings.oauth.jwks_url == "https://idp.example/keys"
    assert settings.oauth.refresh_interval == timedelta(minutes=10)
    assert settings.oauth.audiences() == ["trino", "xtrinode"]
    assert settings.impersonation.groups == ["trino-admins"]
    assert settings.authorization.rules[0].runtimes == ["team-a/*"] and settings.authorization.rules[0].admin


def test_unknown_key_is_rejected_by_name() -> None:
    with pytest.raises(ValidationError, match="jwksUri"):
        AuthSettings.model_validate({"oauth": {"jwksUri": "https://x"}})


@pytest.mark.parametrize("alg", ["HS256", "none", "ES256", "PS256"])
def test_non_rsa_algorithms_are_refused_even_when_configured(alg: str) -> None:
    with pytest.raises(ValidationError, match="not allowed"):
        AuthSettings.model_validate({"oauth": {"algorithms": ["RS256", alg]}})


def test_oauth_needs_issuer_and_audience() -> None:
    with pytest.raises(ValidationError, match="issuer"):
        AuthSettings.model_validate({"enabled": True, "type": "oauth", "oauth": {"audience": "a"}})
    with pytest.raises(ValidationError, match="audience"):
        AuthSettings.model_validate(
            {"enabled": True, "type": "oauth", "oauth": {"issuer": "https://idp"}}
        )


def test_api_key_type_needs_a_key_source() -> None:
    with pytest.raises(ValidationError, match="apiKeys"):
        AuthSettings.model_validate({"enabled": True, "type": "apiKey"})


def test_inline_keys_are_hidden_in_repr() -> None:
    settings = AuthSettings.model_validate({"apiKeys": {"inline": {"alice": "very-secret"}}})
    assert "very-secret" not in repr(settings)
