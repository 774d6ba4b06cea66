"""What an authenticated principal may do: which Trino user it runs as, and which runtimes it may use.

`AccessPolicy` turns `auth.impersonation` and `auth.authorization.rules` into decisions; a denial is
`Forbidden` (HTTP 403 with a Trino error), whose message names what was asked for, never what exists.
With auth off there is no principal and the policy allows everything (the gateway then only routes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from xtrinode.models.routes import RouteEntry

from .principal import Principal
from .settings import AuthorizationRule, AuthSettings

__all__ = ["AccessPolicy", "Forbidden", "USER_HEADERS"]

USER_HEADERS = ("X-Trino-User", "X-Presto-User")
"""The headers naming the Trino user; `X-Trino-Original-User` is checked the same way."""
_ORIGINAL_USER = "X-Trino-Original-User"


class Forbidden(Exception):
    """An authenticated request that is not allowed; `.message` is safe to show the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class _Rule:
    principals: frozenset[str]
    groups: frozenset[str]
    runtimes: tuple[str, ...]
    routing_groups: tuple[str, ...]
    admin: bool

    @classmethod
    def of(cls, rule: AuthorizationRule) -> _Rule:
        return cls(frozenset(rule.principals), frozenset(rule.groups), tuple(rule.runtimes),
                   tuple(rule.routing_groups), rule.admin)

    def applies_to(self, principal: Principal) -> bool:
        return (principal.subject in self.principals or principal.user in self.principals
                or not self.groups.isdisjoint(principal.groups))

    def covers(self, entry: RouteEntry) -> bool:
        return (any(fnmatchcase(entry.key, pattern) for pattern in self.runtimes)
                or any(fnmatchcase(entry.routing_group, pattern) for pattern in self.routing_groups))


class AccessPolicy:
    """Identity and authorization decisions for one gateway (immutable; built from the settings)."""

    def __init__(self, settings: AuthSettings) -> None:
        self.enabled = settings.enabled
        self._impersonators = frozenset(settings.impersonation.principals)
        self._impersonator_groups = frozenset(settings.impersonation.groups)
        self._rules = tuple(_Rule.of(rule) for rule in settings.authorization.rules)

    @property
    def has_rules(self) -> bool:
        return bool(self._rules)

    def may_impersonate(self, principal: Principal) -> bool:
        return (principal.subject in self._impersonators
                or not self._impersonator_groups.isdisjoint(principal.groups))

    def trino_user(self, principal: Principal | None, headers: Mapping[str, str]) -> str | None:
        """The X-Trino-User the request must carry upstream (None: leave the headers as they are).

        A principal runs as its own user unless it may impersonate: another user in X-Trino-User,
        X-Presto-User or X-Trino-Original-User is refused with Forbidden.
        """
        if principal is None:
            return None
        if self.may_impersonate(principal):
            return None if any(headers.get(h) for h in USER_HEADERS) else principal.user
        for header in (*USER_HEADERS, _ORIGINAL_USER):
            asked = headers.get(header)
            if asked is not None and asked != principal.user:
                raise Forbidden(
                    f"{header} {asked[:128]!r} is not your user {principal.user!r}: this credential may only "
                    "run queries as its own user; omit the header or send your own user name (impersonation "
                    "needs an auth.impersonation entry)"
                )
        return principal.user

    def may_use(self, principal: Principal | None, entry: RouteEntry) -> bool:
        """May `principal` send queries to `entry`'s runtime? (Always, without rules or without auth.)"""
        if principal is None or not self._rules:
            return True
        return any(rule.applies_to(principal) and rule.covers(entry) for rule in self._rules)

    def is_admin(self, principal: Principal | None, entry: RouteEntry | None) -> bool:
        """May `principal` see and cancel other principals' queries on `entry` (any runtime when None)?"""
        if principal is None:
            return not self.enabled
        return any(
            rule.admin and rule.applies_to(principal) and (entry is None or rule.covers(entry))
            for rule in self._rules
        )

    def owns(self, principal: Principal | None, owner: str | None, entry: RouteEntry | None) -> bool:
        """May `principal` act on a query started by `owner` on `entry`?

        Without auth everyone may (there are no identities); with auth only the principal that started
        it, or an admin of its runtime. A query whose owner is unknown is treated as someone else's.
        """
        if not self.enabled:
            return True
        if principal is not None and owner is not None and owner == principal.key:
            return True
        return self.is_admin(principal, entry)
