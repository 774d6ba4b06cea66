"""Gateway authentication: off, API keys from a Secret, or OIDC bearer JWTs (RS256/384/512).

`create_authenticator(settings, session)` builds one; `principal_key` names a rate-limit bucket.
"""

from __future__ import annotations

from .apikeys import ApiKeyStore, parse_api_keys
from .authenticator import (
    ApiKeyAuthenticator,
    Authenticator,
    DisabledAuthenticator,
    OAuthAuthenticator,
    create_authenticator,
)
from .jwks import JwksCache, JwksError
from .principal import AuthError, AuthReason, AuthSetupError, Principal, bearer_token, principal_key
from .settings import ALLOWED_ALGORITHMS, ApiKeySettings, AuthSettings, OAuthSettings

__all__ = [
    "ALLOWED_ALGORITHMS",
    "ApiKeyAuthenticator",
    "ApiKeySettings",
    "ApiKeyStore",
    "AuthError",
    "AuthReason",
    "AuthSettings",
    "AuthSetupError",
    "Authenticator",
    "DisabledAuthenticator",
    "JwksCache",
    "JwksError",
    "OAuthAuthenticator",
    "OAuthSettings",
    "Principal",
    "bearer_token",
    "create_authenticator",
    "parse_api_keys",
    "principal_key",
]
