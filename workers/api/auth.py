"""Who may call the API server: bearer tokens from a Secret file (each with scopes and namespaces), or
OIDC bearer JWTs validated by the shared validator (xtrinode.oidc) with groups mapped to grants.

A `Grant` answers "may this caller do X in namespace N"; runtimes outside a caller's namespaces are
answered as if they did not exist (404), so a token of one team learns nothing about another.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from xtrinode.oidc import JwtValidator, TokenError, claim_groups, create_jwt_validator
from xtrinode.secret_files import ReloadingFile

from .settings import AuthSettings, Scope

__all__ = ["ApiAuth", "Grant", "Unauthorized", "parse_tokens"]

log = logging.getLogger("xtrinode.api.auth")

_IMPLIED: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "resume": frozenset({"read", "resume"}),
    "admin": frozenset({"read", "resume", "admin"}),
}
_MAX_TOKEN = 16 * 1024


class Unauthorized(Exception):
    """No usable credential: 401 with `message` (never the token)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Grant:
    """What one caller may do: rules of `scopes` (read ⊂ resume ⊂ admin) in `namespaces` (None: all)."""

    name: str
    rules: tuple[tuple[frozenset[str], frozenset[str] | None], ...]

    def sees(self, namespace: str) -> bool:
        return any(namespaces is None or namespace in namespaces for _, namespaces in self.rules)

    def may(self, scope: Scope, namespace: str) -> bool:
        return any(scope in scopes and (namespaces is None or namespace in namespaces)
                   for scopes, namespaces in self.rules)

    @property
    def namespaces(self) -> frozenset[str] | None:
        """Every namespace this caller sees (None: all)."""
        if any(namespaces is None for _, namespaces in self.rules):
            return None
        return frozenset().union(*(namespaces or frozenset() for _, namespaces in self.rules))


@dataclass(frozen=True)
class _Token:
    name: str
    digest: bytes
    grant: Grant


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def _scopes(raw: Any, where: str) -> frozenset[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) and s in _IMPLIED for s in raw):
        raise ValueError(f"{where}: scopes must be a non-empty list of read, resume, admin")
    return frozenset().union(*(_IMPLIED[s] for s in raw))


def parse_tokens(text: str) -> list[_Token]:
    """The token file: a YAML list of {name, token, scopes, namespaces?}; errors name the entry, never a token."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError("the token file is not valid YAML") from e
    if not isinstance(loaded, list):
        raise ValueError("the token file must be a YAML list of {name, token, scopes, namespaces}")
    tokens: list[_Token] = []
    for index, entry in enumerate(loaded):
        where = f"entry {index}"
        if not isinstance(entry, dict) or set(entry) - {"name", "token", "scopes", "namespaces"}:
            raise ValueError(f"{where}: give exactly name, token, scopes and optionally namespaces")
        name, token = entry.get("name"), entry.get("token")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: `name` is missing")
        if not isinstance(token, str) or len(token) < 16:
            raise ValueError(f"{where} ({name!r}): `token` must be a string of at least 16 characters")
        namespaces = entry.get("namespaces")
        if namespaces is not None and (not isinstance(namespaces, list) or not all(isinstance(n, str) for n in namespaces)):
            raise ValueError(f"{where} ({name!r}): `namespaces` must be a list of namespace names")
        grant = Grant(name, ((_scopes(entry.get("scopes"), f"{where} ({name!r})"),
                              frozenset(namespaces) if namespaces is not None else None),))
        tokens.append(_Token(name, _digest(token), grant))
    return tokens


class ApiAuth:
    """`await authenticate(request)` -> the caller's Grant, or Unauthorized."""

    def __init__(self, settings: AuthSettings, session: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._tokens: list[_Token] = []
        self._file: ReloadingFile[list[_Token]] | None = None
        if settings.tokens.file:
            self._file = ReloadingFile(Path(settings.tokens.file), parse_tokens, self._install, [],
                                       settings.tokens.reload_interval.total_seconds(), "API token", log)
        self._validator: JwtValidator | None = (
            create_jwt_validator(settings.oauth, session) if settings.oauth is not None else None)

    def _install(self, tokens: list[_Token]) -> None:
        self._tokens = tokens

    @property
    def ready(self) -> bool:
        return self._validator is None or self._validator.ready

    async def start(self) -> None:
        if self._file is not None:
            await self._file.start()
        if self._validator is not None:
            await self._validator.start()

    async def close(self) -> None:
        if self._file is not None:
            await self._file.close()
        if self._validator is not None:
            await self._validator.close()

    async def authenticate(self, request: web.BaseRequest) -> Grant:
        header = request.headers.get("Authorization")
        if header is None:
            raise Unauthorized("send Authorization: Bearer <token>")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("the Authorization header must be `Bearer <token>`")
        if len(token) > _MAX_TOKEN or not (token.isascii() and token.isprintable()):
            raise Unauthorized("the bearer token is malformed")
        candidate = _digest(token)
        found: _Token | None = None
        for entry in self._tokens:
            if hmac.compare_digest(candidate, entry.digest) and found is None:
                found = entry
        if found is not None:
            return found.grant
        if self._validator is None or token.count(".") != 2:
            raise Unauthorized("the token is not valid")
        try:
            claims = await self._validator.validate(token)
        except TokenError as e:
            raise Unauthorized(e.message) from e
        return self._grant_for(str(claims["sub"]), claim_groups(claims.get(self._settings.oauth.groups_claim
                                                                               if self._settings.oauth else "groups")))

    def _grant_for(self, subject: str, groups: frozenset[str]) -> Grant:
        rules = tuple(
            (frozenset().union(*(_IMPLIED[s] for s in grant.scopes)),
             frozenset(grant.namespaces) if grant.namespaces is not None else None)
            for grant in self._settings.group_grants if not groups.isdisjoint(grant.groups)
        )
        if not rules:
            raise Unauthorized(f"{subject!r} is in no group that auth.groupGrants lists")
        return Grant(subject, rules)
