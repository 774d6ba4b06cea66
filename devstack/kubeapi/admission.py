"""Admission webhooks: Mutating- and ValidatingWebhookConfigurations called with AdmissionReview v1.

Matching follows the apiserver (rules, scope, namespace and object selectors, failurePolicy,
timeoutSeconds). Webhooks are reached by `clientConfig.url` (http is accepted on loopback);
`clientConfig.service` cannot be resolved outside a cluster and fails per failurePolicy.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .errors import ApiError
from .patch import PatchError, json_patch
from .resources import ResourceType
from .selectors import Requirement, labels_match
from .store import Store

JsonDict = dict[str, Any]
ADMISSION = "admissionregistration.k8s.io"
MUTATING = (ADMISSION, "mutatingwebhookconfigurations")
VALIDATING = (ADMISSION, "validatingwebhookconfigurations")
USER = {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]}


@dataclass(frozen=True)
class Attributes:
    """What a request does, as the webhook rules and the AdmissionReview describe it."""

    rt: ResourceType
    operation: str  # CREATE, UPDATE, DELETE
    namespace: str
    name: str
    subresource: str
    obj: JsonDict | None
    old: JsonDict | None
    dry_run: bool
    user: JsonDict = field(default_factory=lambda: dict(USER))
    """AdmissionReview `userInfo`: the cluster admin, or the user kubectl impersonates (`--as`)."""


def _matches(values: list[str] | None, wanted: str) -> bool:
    return bool(values) and ("*" in values or wanted in values)  # type: ignore[operator]


def _resource_matches(resources: list[str], rt: ResourceType, sub: str) -> bool:
    full = f"{rt.plural}/{sub}" if sub else rt.plural
    return "*/*" in resources or full in resources or (not sub and "*" in resources) or (bool(sub) and f"*/{sub}" in resources)


def _rule_matches(rule: JsonDict, a: Attributes) -> bool:
    scope = rule.get("scope", "*")
    if scope == "Namespaced" and not a.rt.namespaced or scope == "Cluster" and a.rt.namespaced:
        return False
    return (
        _matches(rule.get("operations"), a.operation)
        and _matches(rule.get("apiGroups"), a.rt.group)
        and _matches(rule.get("apiVersions"), a.rt.version)
        and _resource_matches(rule.get("resources") or [], a.rt, a.subresource)
    )


def _selector(raw: JsonDict | None) -> list[Requirement]:
    """A LabelSelector (matchLabels and matchExpressions) as requirements."""
    raw = raw or {}
    reqs = [Requirement(k, "=", (v,)) for k, v in (raw.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in raw.get("matchExpressions") or []:
        reqs.append(Requirement(expr.get("key", ""), ops.get(expr.get("operator", ""), "exists"), tuple(expr.get("values") or ())))
    return reqs


def _selected(store: Store, hook: JsonDict, a: Attributes) -> bool:
    objects = [o for o in (a.obj, a.old) if o]
    if not any(labels_match(_selector(hook.get("objectSelector")), o) for o in objects):
        return False
    ns_selector = _selector(hook.get("namespaceSelector"))
    if not ns_selector:
        return True
    if a.rt.group_resource == ("", "namespaces"):
        return any(labels_match(ns_selector, o) for o in objects)
    if not a.rt.namespaced:
        return True
    namespace = store.get(("", "namespaces"), "", a.namespace)
    return namespace is not None and labels_match(ns_selector, namespace)


def hooks_for(store: Store, kind: tuple[str, str], a: Attributes) -> list[JsonDict]:
    """The webhooks of one kind of configuration that apply to this request, in name order."""
    found = []
    for config in store.objects(kind):
        for hook in config.get("webhooks") or []:
            if any(_rule_matches(rule, a) for rule in hook.get("rules") or []) and _selected(store, hook, a):
                found.append(hook)
    return found


def any_configured(store: Store) -> bool:
    return bool(store.objects(MUTATING) or store.objects(VALIDATING))


def _review(a: Attributes, obj: JsonDict | None) -> JsonDict:
    rt = a.rt
    kind = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    resource = {"group": rt.group, "version": rt.version, "resource": rt.plural}
    options_kind = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}[a.operation]
    request: JsonDict = {
        "uid": str(uuid.uuid4()),
        "kind": kind, "resource": resource, "requestKind": kind, "requestResource": resource,
        "name": a.name, "namespace": a.namespace, "operation": a.operation, "userInfo": a.user,
        "object": obj, "oldObject": a.old, "dryRun": a.dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": options_kind},
    }
    if a.subresource:
        request["subResource"] = a.subresource
        request["requestSubResource"] = a.subresource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def _ssl(client_config: JsonDict) -> ssl.SSLContext | None:
    bundle = client_config.get("caBundle")
    if not bundle:
        return None
    return ssl.create_default_context(cadata=base64.b64decode(bundle).decode())


class Admitter:
    """Calls the webhooks that match a request; one HTTP session for the server's lifetime."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def _call(self, hook: JsonDict, review: JsonDict) -> JsonDict | None:
        """The webhook's response, or None when it failed and failurePolicy is Ignore."""
        name = hook.get("name", "")
        client_config = hook.get("clientConfig") or {}
        url = client_config.get("url")
        if not url and client_config.get("service"):
            svc = client_config["service"]
            url = f"https://{svc.get('name')}.{svc.get('namespace')}.svc:{svc.get('port', 443)}{svc.get('path', '')}"
        timeout = float(hook.get("timeoutSeconds") or 10)
        if self.session is None:
            self.session = aiohttp.ClientSession()
        try:
            async with self.session.post(
                str(url), json=review, ssl=_ssl(client_config) or True, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as resp:
                if resp.status != 200:
                    raise ValueError(f"the webhook answered HTTP {resp.status}")
                answer = await resp.json(content_type=None)
            response = answer.get("response") if isinstance(answer, dict) else None
            if not isinstance(response, dict) or "allowed" not in response:
                raise ValueError("the reply is not an AdmissionReview with a response.allowed field")
            return response
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, ssl.SSLError, OSError) as e:
            if hook.get("failurePolicy", "Fail") == "Ignore":
                return None
            raise ApiError(
                500, f'Internal error occurred: failed calling webhook "{name}": failed to call webhook: {e}',
                reason="InternalError",
            ) from e

    @staticmethod
    def _verdict(hook: JsonDict, response: JsonDict, warnings: list[str]) -> None:
        warnings.extend(str(w) for w in response.get("warnings") or [])
        if response.get("allowed"):
            return
        status = response.get("status") or {}
        code = int(status.get("code") or 0)
        message = status.get("message") or ""
        # As kube-apiserver (webhook errors.ToStatusErr): a code below 400 becomes 400, the reason is the
        # webhook's own or none (kubectl then prints "Error from server: ..." without a reason).
        error = ApiError(
            code if 400 <= code < 600 else 400,
            f'admission webhook "{hook.get("name", "")}" denied the request'
            + (f": {message}" if message else " without explanation"),
        )
        error.reason = str(status.get("reason") or "")
        raise error

    async def mutate(self, a: Attributes, obj: JsonDict, warnings: list[str]) -> JsonDict:
        """`obj` after every matching mutating webhook's JSON patch."""
        for hook in hooks_for(self.store, MUTATING, a):
            response = await self._call(hook, _review(a, obj))
            if response is None:
                continue
            self._verdict(hook, response, warnings)
            if response.get("patch"):
                try:
                    obj = json_patch(obj, json.loads(base64.b64decode(response["patch"])))
                except (PatchError, ValueError) as e:
                    raise ApiError(500, f'Internal error occurred: webhook "{hook.get("name")}" returned a bad patch: {e}') from e
        return obj

    async def validate(self, a: Attributes, obj: JsonDict | None, warnings: list[str]) -> None:
        """Raise the first denial of the matching validating webhooks (called concurrently)."""
        hooks = hooks_for(self.store, VALIDATING, a)
        responses = await asyncio.gather(*(self._call(h, _review(a, obj)) for h in hooks))
        for hook, response in zip(hooks, responses):
            if response is not None:
                self._verdict(hook, response, warnings)
