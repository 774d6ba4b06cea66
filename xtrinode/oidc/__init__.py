"""OIDC bearer tokens, shared by the gateway and the API server: settings, the issuer's signing keys
(JWKS, discovery, refresh, unknown-kid refetch) and the token validator.
"""

from __future__ import annotations

from .errors import TokenError
from .jwks import JwksCache, JwksError, SigningKey, safe_url
from .settings import ALLOWED_ALGORITHMS, OAuthSettings
from .tokens import JwtValidator, claim_groups, create_jwt_validator

__all__ = [
    "ALLOWED_ALGORITHMS",
    "JwksCache",
    "JwksError",
    "JwtValidator",
    "OAuthSettings",
    "SigningKey",
    "TokenError",
    "claim_groups",
    "create_jwt_validator",
    "safe_url",
]
