"""Builders for admission tests: wire objects and requests as the API server sends them."""

from __future__ import annotations

import copy
from typing import Any

from xtrinode.admission import AdmissionRequest, UserInfo

NAMESPACE = "team-a"
NAME = "sales"
ALICE = UserInfo(username="alice@example.com", uid="u-1", groups=["team-a-admins", "system:authenticated"])


def runtime_object(spec: dict[str, Any], name: str = NAME) -> dict[str, Any]:
    return {
        "apiVersion": "analytics.xtrinode.io/v1",
        "kind": "XTrinode",
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": "0b9c-runtime", "generation": 1},
        "spec": copy.deepcopy(spec),
    }


def catalog_object(spec: dict[str, Any], name: str = "orders-db") -> dict[str, Any]:
    return {
        "apiVersion": "analytics.xtrinode.io/v1",
        "kind": "XTrinodeCatalog",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": copy.deepcopy(spec),
    }


def runtime_request(
    spec: dict[str, Any], old_spec: dict[str, Any] | None = None, operation: str | None = None
) -> AdmissionRequest:
    """CREATE of `spec`, or UPDATE from `old_spec` to `spec` when old_spec is given."""
    op = operation or ("UPDATE" if old_spec is not None else "CREATE")
    return AdmissionRequest(
        uid="req-1",
        operation=op,
        kind="XTrinode",
        namespace=NAMESPACE,
        name=NAME,
        object=runtime_object(spec),
        old_object=runtime_object(old_spec) if old_spec is not None else None,
        user=ALICE,
    )


def catalog_request(spec: dict[str, Any], old_spec: dict[str, Any] | None = None) -> AdmissionRequest:
    return AdmissionRequest(
        uid="req-2",
        operation="UPDATE" if old_spec is not None else "CREATE",
        kind="XTrinodeCatalog",
        namespace=NAMESPACE,
        name="orders-db",
        object=catalog_object(spec),
        old_object=catalog_object(old_spec) if old_spec is not None else None,
        user=ALICE,
    )


def postgres(**extra: Any) -> dict[str, Any]:
    """A valid postgres catalog spec; keyword arguments are merged into the postgres connector body."""
    body: dict[str, Any] = {
        "connectionURL": "jdbc:postgresql://orders.db.svc:5432/orders",
        "connectionUser": "trino",
        "connectionPasswordSecret": {"name": "orders-db", "key": "password"},
    }
    body.update(extra)
    return {"labels": {"team": "a"}, "connector": {"postgres": body}}


def admission_review(
    operation: str, obj: dict[str, Any] | None, old: dict[str, Any] | None = None, kind: str = "XTrinode"
) -> dict[str, Any]:
    """An AdmissionReview v1 request, shaped like the one kube-apiserver posts to the webhook."""
    resource = "xtrinodes" if kind == "XTrinode" else "xtrinodecatalogs"
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "analytics.xtrinode.io", "version": "v1", "kind": kind},
            "resource": {"group": "analytics.xtrinode.io", "version": "v1", "resource": resource},
            "requestKind": {"group": "analytics.xtrinode.io", "version": "v1", "kind": kind},
            "requestResource": {"group": "analytics.xtrinode.io", "version": "v1", "resource": resource},
            "name": NAME,
            "namespace": NAMESPACE,
            "operation": operation,
            "userInfo": {
                "username": "alice@example.com",
                "uid": "u-1",
                "groups": ["team-a-admins", "system:authenticated"],
                "extra": {"scopes.authorization.openshift.io": ["user:full"]},
            },
            "object": obj,
            "oldObject": old,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }
