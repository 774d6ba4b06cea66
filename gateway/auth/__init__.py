"""Gateway authentication: off, API keys from a Secret, or OIDC bearer JWTs (RS256/384/512).

`create_authenticator(settings, session)` builds one; `principal_key` names a rate-limit bucket;
`AccessPolicy` decides the Trino user a principal runs as and the runtimes it may use.
"""

from __future__ import annotations

from .access import AccessPolicy, Forbidden
from .apikeys import ApiKeyStore, parse_api_keys
from .authenticator import (
    ApiKeyAuthenticator,
    Authenticator,
    DisabledAuthenticator,
    OAuthAuthenticator,
    Undecided,
    create_authenticator,
)
from xtrinode.oidc import ALLOWED_ALGORITHMS, JwksCache, JwksError, OAuthSettings
from .principal import (
    MAX_TOKEN_BYTES,
    AuthError,
    AuthReason,
    AuthSetupError,
    Principal,
    bearer_token,
    principal_key,
)
from .settings import (
    ApiKeySettings,
    AuthorizationRule,
    AuthorizationSettings,
    AuthSettings,
    ImpersonationSettings,
)

__all__ = [
    "ALLOWED_ALGORITHMS",
    "MAX_TOKEN_BYTES",
    "AccessPolicy",
    "AuthorizationRule",
    "AuthorizationSettings",
    "Forbidden",
    "ImpersonationSettings",
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
    "Undecided",
    "OAuthSettings",
    "Principal",
    "bearer_token",
    "create_authenticator",
    "parse_api_keys",
    "principal_key",
]
