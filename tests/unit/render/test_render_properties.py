"""Property tests over random valid runtimes, catalogs and Secrets (hypothesis).

Checks: no Secret value (random 'S3cr3t-<hex>' strings that cannot otherwise occur) appears anywhere in
the rendered YAML, in ConfigMap data or in any annotation; no Secret name appears in ConfigMap data;
every `${ENV:...}` placeholder of a catalog ConfigMap has a matching secretKeyRef env var in both roles,
pointing at the Secret key the catalog names; rendering twice gives identical manifests.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from render_testkit import build_catalog, build_runtime, by_kind, deployment

from xtrinode.models import SIZES
from xtrinode.render import Manifest, manifests_to_yaml, render_runtime

PLACEHOLDER = re.compile(r"\$\{ENV:([A-Z0-9_]+)\}")
CATALOG_NAMES = ["sales", "hr", "lake", "orders"]
PROP_KEY = st.lists(st.sampled_from(["s3", "aws", "key", "path", "user", "mode", "region"]), min_size=1, max_size=3).map(
    ".".join
)
PLAIN_VALUE = st.integers(0, 10**6).map(lambda i: f"val-{i}")
SECRET_VALUE = st.binary(min_size=8, max_size=8).map(lambda b: "S3cr3t-" + b.hex())


@st.composite
def secrets(draw: st.DrawFn) -> dict[str, dict[str, str]]:
    """1-3 Secrets `secNN`, each with 1-3 keys and random values."""
    names = draw(st.lists(st.integers(0, 99).map(lambda i: f"sec{i:02d}"), min_size=1, max_size=3, unique=True))
    return {
        name: draw(st.dictionaries(st.sampled_from(["password", "token", "key", "ssl"]), SECRET_VALUE, min_size=1))
        for name in names
    }


def _ref(draw: st.DrawFn, store: dict[str, dict[str, str]]) -> dict[str, str]:
    name = draw(st.sampled_from(sorted(store)))
    return {"name": name, "key": draw(st.sampled_from(sorted(store[name])))}


@st.composite
def connector(draw: st.DrawFn, store: dict[str, dict[str, str]]) -> dict[str, Any]:
    kind = draw(st.sampled_from(["postgres", "mysql", "iceberg", "custom", "tpch"]))
    body: dict[str, Any] = {
        "properties": draw(st.dictionaries(PROP_KEY, PLAIN_VALUE, max_size=3)),
        "propertySecretRefs": {
            key: _ref(draw, store) for key in draw(st.lists(PROP_KEY, max_size=2, unique=True))
        },
    }
    if kind in ("postgres", "mysql"):
        body["connectionURL"] = f"jdbc:{kind}://db:5432/x"
        body["connectionUser"] = draw(PLAIN_VALUE)
        if draw(st.booleans()):
            body["connectionPasswordSecret"] = _ref(draw, store)
    if kind == "custom":
        body["connectorName"] = "clickhouse"
    return {kind: body}


@st.composite
def scenario(draw: st.DrawFn) -> tuple[Any, list[Any], dict[str, dict[str, str]], dict[str, str]]:
    store = draw(secrets())
    max_workers = draw(st.integers(0, 6))
    spec: dict[str, Any] = {
        "size": draw(st.sampled_from(SIZES)),
        "minWorkers": draw(st.integers(0, max_workers)),
        "maxWorkers": max_workers,
        "suspended": draw(st.booleans()),
        "gracefulShutdown": {"gracePeriodSeconds": draw(st.integers(0, 600)), "enabled": draw(st.booleans())},
        "catalogSelector": {"matchLabels": {"team": "a"}},
    }
    keda = draw(st.sampled_from([None, "prometheus", "http"]))
    if keda is not None:
        spec["keda"] = {"enabled": True, "scalerType": keda, "prometheusServer": "http://prom:9090"}
    if draw(st.booleans()):
        spec["trinoControlAuth"] = {"username": "ops", "passwordSecret": _ref(draw, store)}
    if draw(st.booleans()):
        spec["limits"] = {"session": {"maxQueryMemory": f"{draw(st.integers(1, 64))}GB"}}
    names = draw(st.lists(st.sampled_from(CATALOG_NAMES), min_size=1, max_size=4, unique=True))
    catalogs = [
        build_catalog(name, draw(connector(store)), labels={"team": draw(st.sampled_from(["a", "a", "a", "b"]))})
        for name in names
    ]
    versions = {name: str(draw(st.integers(1, 10**6))) for name in store}
    return build_runtime(**spec), catalogs, store, versions


def _annotations(manifest: Manifest) -> list[str]:
    out = list(manifest["metadata"].get("annotations", {}).values())
    template = manifest.get("spec", {}).get("template")
    if template:
        out.extend(template["metadata"].get("annotations", {}).values())
    return out


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario())
def test_no_secret_value_is_rendered_and_every_placeholder_has_an_env_ref(
    case: tuple[Any, list[Any], dict[str, dict[str, str]], dict[str, str]],
) -> None:
    runtime, catalogs, store, versions = case
    manifests = render_runtime(runtime, catalogs, secret_versions=versions)
    assert render_runtime(runtime, catalogs, secret_versions=versions) == manifests
    text = manifests_to_yaml(manifests)  # equal manifests dump to equal bytes (sorted keys, no anchors)

    values = [value for keys in store.values() for value in keys.values()]
    assert not any(value in text for value in values)
    config_maps = by_kind(manifests, "ConfigMap")
    for manifest in manifests:
        for annotation in _annotations(manifest):
            assert not any(value in annotation for value in values)
    for cm in config_maps:
        for content in cm["data"].values():
            assert not any(value in content for value in values)
            assert not any(name in content for name in store)

    refs_by_catalog = {}
    for catalog in catalogs:
        body = catalog.spec.connector.body
        refs = {prop: (ref.name, ref.key) for prop, ref in body.property_secret_refs.items()}
        if getattr(body, "connection_password_secret", None) is not None:
            refs.setdefault("connection-password", (body.connection_password_secret.name, body.connection_password_secret.key))
        refs_by_catalog[catalog.trino_name] = refs
    for role in ("coordinator", "worker"):
        env = {
            e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for e in deployment(manifests, role)["spec"]["template"]["spec"]["containers"][0].get("env", [])
        }
        for cm in config_maps:
            if cm["metadata"]["labels"]["app.kubernetes.io/component"] != "catalog":
                continue
            ((filename, content),) = cm["data"].items()
            trino_name = filename.removesuffix(".properties")
            for line in content.splitlines():
                prop, _, value = line.partition("=")
                match = PLACEHOLDER.fullmatch(value)
                if match:
                    assert env[match.group(1)] == refs_by_catalog[trino_name][prop]
