"""Property tests: evaluate() is total and fails closed on anything a client can send.

Checks, over random spec-like and garbage objects (nested overlays, wrong types, NaN, huge numbers):
evaluate never raises, never hits its internal-error fallback, is allowed exactly when it gives no
reason, keeps warnings short, and its response serializes; a host-namespace switch hidden anywhere in
an overlay and a secret property in any catalog are always rejected, the secret never echoed.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from xtrinode.admission import AdmissionRequest, AdmissionResult, evaluate, to_admission_response
from xtrinode.admission.catalog_rules import looks_secret
from xtrinode.models.catalog import CONNECTOR_TYPES
from xtrinode.models.presets import SIZES

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    # the repository-wide leaked-task guard is function scoped; it is harmless to share across examples
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["true", "false", "4Gi", "500m", "-1", "1e3", "5m", "0", "PASSWORD", "LoadBalancer"]),
)
keys = st.one_of(
    st.text(max_size=10),
    st.sampled_from(
        [
            "hostNetwork", "privileged", "hostPath", "envFrom", "sidecars", "type", "service", "port",
            "securityContext", "capabilities", "add", "http-server.http.port", "http-server.https.enabled",
            "http-server.authentication.type", "name", "value", "additionalConfigProperties", "https", "enabled",
        ]
    ),
)  # fmt: skip
json_values = st.recursive(
    scalars | st.sampled_from(["http-server.http.port=1", "a=b\nhttp-server.http.enabled=false", "x: y"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=8,
)


junk = scalars | st.lists(scalars, max_size=2) | st.dictionaries(keys, scalars, max_size=2)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually the plausible value, sometimes a value of the wrong shape."""
    return st.one_of(strategy, strategy, junk)


quantities = maybe(st.sampled_from(["1", "500m", "2", "4Gi", "64Gi", "1.5G", 3, 0, "1e2", "lots"]))
role_resources = maybe(
    st.fixed_dictionaries(
        {},
        optional={
            "requests": maybe(st.fixed_dictionaries({}, optional={"cpu": quantities, "memory": quantities})),
            "limits": maybe(st.fixed_dictionaries({}, optional={"cpu": quantities, "memory": quantities})),
        },
    )
)
counts = maybe(st.integers(min_value=-3, max_value=510))
runtime_specs = st.fixed_dictionaries(
    {},
    optional={
        "size": maybe(st.sampled_from([*SIZES, "XL", "huge"])),
        "minWorkers": counts,
        "maxWorkers": counts,
        "wakeMinWorkers": counts,
        "suspended": maybe(st.booleans()),
        "autoSuspendAfter": maybe(st.sampled_from(["0", "5m", "90s", "1h30m", "soon", 30])),
        "resources": maybe(st.fixed_dictionaries({}, optional={"coordinator": role_resources, "worker": role_resources})),
        "routing": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "routingGroup": maybe(st.text(max_size=5)),
                    "hostname": maybe(st.sampled_from(["a.example.com", "Bad_Host"])),
                    "hostnameDomain": maybe(st.just("example.com")),
                    "default": maybe(st.booleans()),
                },
            )
        ),
        "keda": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "enabled": maybe(st.booleans()),
                    "scalerType": maybe(st.sampled_from(["prometheus", "http", "cron"])),
                    "prometheusServer": maybe(st.just("http://prom:9090")),
                    "threshold": maybe(st.sampled_from(["5", 5, "x"])),
                },
            )
        ),
        "trinoControlAuth": maybe(st.just({"passwordSecret": {"name": "s", "key": "k"}})),
        "valuesOverlay": json_values,
        "unknownField": json_values,
    },
)
connector_bodies = maybe(
    st.fixed_dictionaries(
        {},
        optional={
            "connectionURL": maybe(st.sampled_from(["jdbc:postgresql://db/x", "jdbc:mysql://u:p@db/x"])),
            "connectorName": maybe(st.just("clickhouse")),
            "properties": maybe(st.dictionaries(keys | st.sampled_from(["password", "a.secret-key"]), scalars, max_size=3)),
            "propertySecretRefs": json_values,
        },
    )
)
catalog_specs = st.fixed_dictionaries(
    {},
    optional={
        "labels": json_values,
        "connector": maybe(st.dictionaries(st.sampled_from([*CONNECTOR_TYPES, "postgresql"]), connector_bodies, max_size=3)),
        "catalogName": maybe(st.sampled_from(["orders", "Bad-Name"])),
    },
)


def _object(kind: str, spec: Any) -> dict[str, Any]:
    return {"apiVersion": "analytics.xtrinode.io/v1", "kind": kind, "metadata": {"name": "sales"}, "spec": spec}


@st.composite
def requests(draw: st.DrawFn) -> AdmissionRequest:
    kind = draw(st.sampled_from(["XTrinode", "XTrinodeCatalog"]))
    specs = runtime_specs if kind == "XTrinode" else catalog_specs
    spec = draw(st.one_of(specs, specs, specs, json_values))
    old = draw(st.none() | specs | json_values)
    obj: Any = draw(st.one_of(st.just(_object(kind, spec)), st.dictionaries(keys, json_values, max_size=3)))
    return AdmissionRequest(
        operation=draw(st.sampled_from(["CREATE", "UPDATE", "UPDATE", "DELETE", "CONNECT"])),
        kind=kind,
        namespace="team-a",
        name="sales",
        object=obj,
        old_object=_object(kind, old) if old is not None else None,
    )


def _check_invariants(result: AdmissionResult) -> None:
    assert result.allowed is (result.reasons == []), result
    assert not any("bug in XTrinode admission" in reason for reason in result.reasons), result.reasons
    assert all(len(warning) <= 256 for warning in result.warnings), result.warnings
    json.dumps(to_admission_response("uid", result))


@SETTINGS
@given(requests())
def test_evaluate_is_total_and_allowed_exactly_without_reasons(request: AdmissionRequest) -> None:
    result = evaluate(request)
    event(f"{request.operation} {'allowed' if result.allowed else 'rejected'}{' gated' if result.gate_required else ''}")
    _check_invariants(result)


FOCUSED = settings(SETTINGS, max_examples=60)


@FOCUSED
@given(json_values, st.lists(keys, max_size=4), st.sampled_from(["hostNetwork", "hostPID", "hostIPC"]))
def test_a_host_namespace_switch_anywhere_in_the_overlay_is_rejected(overlay: Any, path: list[str], switch: str) -> None:
    hidden: Any = {switch: True}
    for key in reversed(path):
        hidden = {key: hidden}
    spec = {"size": "s", "valuesOverlay": {"a": [overlay, hidden]}}
    result = evaluate(AdmissionRequest(operation="CREATE", kind="XTrinode", name="sales", object=_object("XTrinode", spec)))
    _check_invariants(result)
    assert any(switch in reason and "namespace" in reason for reason in result.reasons), result.reasons


@FOCUSED
@given(
    st.sampled_from([t for t in CONNECTOR_TYPES]),
    st.sampled_from(["password", "hive.s3.aws-secret-key", "oauth2.token", "private-key", "credential"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=12, max_size=24),
)
def test_a_secret_property_is_always_rejected_and_never_echoed(connector: str, name: str, secret: str) -> None:
    body: dict[str, Any] = {"properties": {name: secret}}
    if connector in ("postgres", "mysql"):
        body["connectionURL"] = "jdbc:x://db/x"
    if connector == "custom":
        body["connectorName"] = "x"
    spec = {"connector": {connector: body}}
    result = evaluate(
        AdmissionRequest(operation="CREATE", kind="XTrinodeCatalog", name="c", object=_object("XTrinodeCatalog", spec))
    )
    _check_invariants(result)
    assert not result.allowed
    assert all(secret not in reason for reason in result.reasons)


@st.composite
def ordinary_runtime_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Specs a platform team would write: valid bounds, a selector, a harmless overlay."""
    high = draw(st.integers(min_value=0, max_value=500))
    words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)
    spec: dict[str, Any] = {
        "size": draw(st.sampled_from(SIZES)),
        "maxWorkers": high,
        "minWorkers": draw(st.integers(min_value=0, max_value=high)),
        "wakeMinWorkers": draw(st.integers(min_value=0, max_value=high)),
        "suspended": draw(st.booleans()),
        "autoSuspendAfter": draw(st.sampled_from(["0", "90s", "5m", "1h30m"])),
        "routing": {"routingGroup": draw(words), "header": draw(words)},
    }
    if draw(st.booleans()):
        properties = st.dictionaries(words.map(lambda w: f"optimizer.x-{w}").filter(lambda k: not looks_secret(k)),
                                     st.integers(0, 99) | words, max_size=3)
        spec["valuesOverlay"] = {"trino": {"config": draw(properties)},
                                 "env": [{"name": name.upper(), "value": "1"} for name in draw(st.sets(words, max_size=2))]}
    return spec


@FOCUSED
@given(ordinary_runtime_specs(), ordinary_runtime_specs())
def test_ordinary_specs_are_allowed(old: dict[str, Any], new: dict[str, Any]) -> None:
    request = AdmissionRequest(
        operation="UPDATE",
        kind="XTrinode",
        namespace="team-a",
        name="sales",
        object=_object("XTrinode", new),
        old_object=_object("XTrinode", old),
    )
    result = evaluate(request)
    _check_invariants(result)
    assert result.allowed, result.reasons
