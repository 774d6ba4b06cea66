"""The resource registry: built-in kinds the emulator serves and the kinds CRDs add.

A `ResourceType` is one (group, version, plural) with the traits the verbs and discovery need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)


@dataclass(frozen=True)
class ScalePaths:
    """Where a kind keeps its replicas, as dotted paths (`.spec.replicas`)."""

    spec_replicas: str = ".spec.replicas"
    status_replicas: str = ".status.replicas"
    label_selector: str | None = None


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    status: bool = False
    scale: ScalePaths | None = None
    tracks_generation: bool = False
    custom: bool = False
    schema: JsonDict | None = field(default=None, compare=False, hash=False)
    printer_columns: tuple[JsonDict, ...] = field(default=(), compare=False, hash=False)
    delete_returns_object: bool = False
    field_labels: tuple[str, ...] = ()
    virtual: bool = False  # nothing stored (reviews)
    stored_as: tuple[str, str] | None = None  # another group/resource's storage, converted (events)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> tuple[str, str]:
        """The storage key: every version of a kind shares one store."""
        return self.stored_as or (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _t(group: str, version: str, plural: str, kind: str, namespaced: bool = True, **kw: Any) -> ResourceType:
    singular = kw.pop("singular", kind.lower())
    return ResourceType(group, version, plural, singular, kind, namespaced, **kw)


_APPS_SCALE = ScalePaths(label_selector=".spec.selector")

BUILTINS: tuple[ResourceType, ...] = (
    _t("", "v1", "namespaces", "Namespace", False, short_names=("ns",), status=True),
    _t(
        "", "v1", "pods", "Pod", short_names=("po",), categories=("all",), status=True,
        delete_returns_object=True, field_labels=("spec.nodeName", "status.phase"),
    ),
    _t("", "v1", "services", "Service", short_names=("svc",), categories=("all",), status=True,
       delete_returns_object=True),  # the typed client (and the OpenAPI spec) expect the Service back
    _t("", "v1", "endpoints", "Endpoints", short_names=("ep",), singular="endpoints"),
    _t("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _t("", "v1", "secrets", "Secret", field_labels=("type",)),
    _t("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",), delete_returns_object=True),
    _t(
        "", "v1", "events", "Event", short_names=("ev",),
        field_labels=(
            "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
            "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
            "involvedObject.fieldPath", "reason", "type", "source",
        ),
    ),
    _t(
        "apps", "v1", "deployments", "Deployment", short_names=("deploy",), categories=("all",),
        status=True, scale=_APPS_SCALE, tracks_generation=True,
    ),
    _t(
        "apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",), categories=("all",),
        status=True, scale=_APPS_SCALE, tracks_generation=True,
    ),
    _t(
        "policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",),
        status=True, tracks_generation=True,
    ),
    _t(
        "networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short_names=("netpol",),
        tracks_generation=True,
    ),
    _t("coordination.k8s.io", "v1", "leases", "Lease"),
    _t("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    _t(
        "events.k8s.io", "v1", "events", "Event", short_names=("ev",), stored_as=("", "events"),
        field_labels=("regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "reason", "type"),
    ),
    _t("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    _t("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _t("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _t("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _t(
        "authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False,
        verbs=CREATE_ONLY, virtual=True,
    ),
    _t(
        "authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
        verbs=CREATE_ONLY, virtual=True,
    ),
    _t(
        "authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview",
        verbs=CREATE_ONLY, virtual=True,
    ),
    _t(
        "authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False,
        verbs=CREATE_ONLY, virtual=True,
    ),
    _t("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False),
    _t("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False),
    _t(
        "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
        short_names=("crd", "crds"), status=True, tracks_generation=True,
    ),
)

CRD_GROUP_RESOURCE = ("apiextensions.k8s.io", "customresourcedefinitions")


def types_from_crd(crd: JsonDict) -> list[ResourceType]:
    """The served versions of a CRD as resource types (no conversion: every version shares storage)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    plural = names.get("plural", "")
    kind = names.get("kind", "")
    result = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        scale = subresources.get("scale")
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        result.append(
            ResourceType(
                group=group,
                version=version.get("name", "v1"),
                plural=plural,
                singular=names.get("singular") or kind.lower(),
                kind=kind,
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status="status" in subresources,
                scale=ScalePaths(
                    spec_replicas=scale.get("specReplicasPath", ".spec.replicas"),
                    status_replicas=scale.get("statusReplicasPath", ".status.replicas"),
                    label_selector=scale.get("labelSelectorPath"),
                )
                if isinstance(scale, dict)
                else None,
                tracks_generation=True,
                custom=True,
                schema=schema,
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                field_labels=tuple(
                    f["jsonPath"].lstrip(".") for f in version.get("selectableFields") or ()
                ),
            )
        )
    return result


class Registry:
    """Every served resource type, looked up by path segments or by kind."""

    def __init__(self) -> None:
        self._builtin = {(t.group, t.version, t.plural): t for t in BUILTINS}
        self._custom: dict[str, list[ResourceType]] = {}  # CRD name -> its versions

    def all(self) -> list[ResourceType]:
        out = list(self._builtin.values())
        for types in self._custom.values():
            out.extend(types)
        return out

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        found = self._builtin.get((group, version, plural))
        if found is not None:
            return found
        for types in self._custom.values():
            for t in types:
                if (t.group, t.version, t.plural) == (group, version, plural):
                    return t
        return None

    def by_group_resource(self, group: str, plural: str) -> ResourceType | None:
        """The first (preferred) version of a group/resource."""
        for t in self.all():
            if (t.group, t.plural) == (group, plural):
                return t
        return None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for t in self.all():
            if (t.group, t.version, t.kind) == (group, version, kind):
                return t
        return None

    def register_crd(self, crd: JsonDict) -> None:
        name = (crd.get("metadata") or {}).get("name", "")
        self._custom[name] = types_from_crd(crd)

    def unregister_crd(self, name: str) -> None:
        self._custom.pop(name, None)

    def groups(self) -> dict[str, list[str]]:
        """Named groups and their versions, preferred first, in registration order."""
        out: dict[str, list[str]] = {}
        for t in self.all():
            if not t.group:
                continue
            versions = out.setdefault(t.group, [])
            if t.version not in versions:
                versions.append(t.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self.all() if (t.group, t.version) == (group, version)]
