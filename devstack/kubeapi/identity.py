"""Who a request is: the cluster admin, or the user kubectl `--as`/`--as-group` impersonates.

Every client of the emulator is `kubernetes-admin` (group system:masters), as with a kind cluster's
kubeconfig. `Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid` and `Impersonate-Extra-<key>`
headers switch to that user (the admin may impersonate anyone); the request is then authorized by the
RBAC objects in the store, and admission webhooks see that user in `userInfo`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from multidict import CIMultiDictProxy

from .errors import ApiError, qualified
from .rbac import authorize
from .resources import ResourceType
from .store import Store

__all__ = ["ADMIN", "User", "authorize_request", "from_headers", "verb_for"]

AUTHENTICATED = "system:authenticated"
_EXTRA_PREFIX = "impersonate-extra-"


@dataclass(frozen=True)
class User:
    username: str
    groups: tuple[str, ...]
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)
    impersonated: bool = False

    def user_info(self) -> dict[str, Any]:
        """AdmissionReview `userInfo`."""
        info: dict[str, Any] = {"username": self.username, "groups": list(self.groups)}
        if self.uid:
            info["uid"] = self.uid
        if self.extra:
            info["extra"] = {k: list(v) for k, v in self.extra.items()}
        return info


ADMIN = User("kubernetes-admin", ("system:masters", AUTHENTICATED))


def from_headers(headers: CIMultiDictProxy[str]) -> User:
    """The impersonated user of a request, or ADMIN."""
    name = headers.get("Impersonate-User")
    groups = [g for g in headers.getall("Impersonate-Group", []) if g]
    if not name and not groups:
        return ADMIN
    if not name:
        raise ApiError(400, "impersonating groups needs a user too: add --as <user> to --as-group", reason="BadRequest")
    extra: dict[str, list[str]] = {}
    for key, value in headers.items():
        if key.lower().startswith(_EXTRA_PREFIX):
            extra.setdefault(unquote(key[len(_EXTRA_PREFIX):]).lower(), []).append(value)
    if AUTHENTICATED not in groups and not name.startswith("system:anonymous"):
        groups.append(AUTHENTICATED)
    return User(name, tuple(groups), headers.get("Impersonate-Uid", ""), extra, impersonated=True)


def verb_for(method: str, named: bool, watch: bool) -> str:
    if method == "GET":
        return "get" if named else ("watch" if watch else "list")
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


_SELF_REVIEWS = {"SelfSubjectAccessReview", "SelfSubjectReview", "SelfSubjectRulesReview"}


def authorize_request(store: Store, user: User, rt: ResourceType, verb: str, namespace: str | None, name: str,
                      sub: str) -> None:
    """Raise 403 Forbidden, worded as the apiserver does, unless RBAC lets `user` do it."""
    if not user.impersonated or rt.kind in _SELF_REVIEWS:
        return
    attrs = {"verb": verb, "group": rt.group, "resource": rt.plural, "subresource": sub, "name": name,
             "namespace": namespace or ""}
    allowed, _ = authorize(store, user.username, list(user.groups), attrs, non_resource=False)
    if allowed:
        return
    target = qualified(rt.plural, rt.group) + (f' "{name}"' if name else "")
    resource = f"{rt.plural}/{sub}" if sub else rt.plural
    scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    raise ApiError(
        403,
        f'{target} is forbidden: User "{user.username}" cannot {verb} resource "{resource}" in API group '
        f'"{rt.group}"{scope}',
        details={"name": name, "group": rt.group, "kind": rt.plural},
    )
