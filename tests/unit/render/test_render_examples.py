"""deploy/examples: they load, they render to the golden files, and the core objects are valid Kubernetes.

Checks: every example document loads (XTrinode / XTrinodeCatalog through the models, other kinds with
kubernetes-validate) and lives in namespace `analytics`; each example renders byte-for-byte to
tests/unit/render/golden/<example>.yaml (run with UPDATE_GOLDEN=1 to rewrite them after an intended
change); every rendered non-CRD object of every example, and of a few extra variants, passes
kubernetes-validate in strict mode; no Secret value of the examples appears in any golden file.
"""

from __future__ import annotations

import base64
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from render_testkit import GOLDEN, example_catalogs, example_files, example_objects, load_documents, with_uid

from xtrinode.models import XTrinode, XTrinodeCatalog
from xtrinode.render import Manifest, manifests_to_yaml, render_catalog, render_runtime, select_catalogs

K8S_VERSION = kubernetes_validate.utils.latest_version()
CRD_GROUPS = ("keda.sh/", "analytics.xtrinode.io/")
EXAMPLE_NAMES = [path.stem for path in example_files()]


@pytest.fixture(scope="module", autouse=True)
def _cached_schemas() -> Iterator[None]:
    """kubernetes-validate re-reads its multi-megabyte schema files on every call; read each once."""
    with pytest.MonkeyPatch.context() as mp:
        cached = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)
        mp.setattr(kubernetes_validate.utils, "schema_contents", cached)
        yield


def render_example(path: Path) -> list[Manifest]:
    """What `kubectl apply -f deploy/examples/` makes of this file's objects."""
    docs = [with_uid(d) for d in load_documents(path)]
    catalogs = example_catalogs()
    runtimes = [XTrinode.model_validate(d) for d in docs if d["kind"] == "XTrinode"]
    out: list[Manifest] = []
    selected: set[str] = set()
    for runtime in runtimes:
        out.extend(render_runtime(runtime, catalogs))
        selected.update(c.name for c in select_catalogs(runtime, catalogs))
    for doc in docs:
        if doc["kind"] == "XTrinodeCatalog" and doc["metadata"]["name"] not in selected:
            out.append(render_catalog(XTrinodeCatalog.model_validate(doc)).config_map)
    return out


def _validate_core(manifest: dict[str, Any]) -> None:
    if manifest["apiVersion"].startswith(CRD_GROUPS):
        return
    try:
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        pytest.fail(f"{manifest['kind']}/{manifest['metadata']['name']} invalid at {path}: {e.message}")


def test_there_are_the_six_examples() -> None:
    assert sorted(EXAMPLE_NAMES) == ["keda", "minimal", "password-auth", "postgres-catalog", "shared-pool", "tpch-catalog"]


@pytest.mark.parametrize("path,doc", list(example_objects()), ids=lambda v: getattr(v, "stem", None) or v["metadata"]["name"])
def test_example_documents_load(path: Path, doc: dict[str, Any]) -> None:
    assert doc["metadata"]["namespace"] == "analytics"
    if doc["kind"] == "XTrinode":
        XTrinode.model_validate(doc)
    elif doc["kind"] == "XTrinodeCatalog":
        XTrinodeCatalog.model_validate(doc)
    else:
        _validate_core(doc)


def test_minimal_selects_tpch_and_postgres_runtime_selects_its_catalog() -> None:
    runtimes = {d["metadata"]["name"]: XTrinode.model_validate(d) for _, d in example_objects() if d["kind"] == "XTrinode"}
    catalogs = example_catalogs()
    assert [c.name for c in select_catalogs(runtimes["demo"], catalogs)] == ["tpch"]
    assert [c.name for c in select_catalogs(runtimes["sales"], catalogs)] == ["sales-db"]
    pool = [r for r in runtimes.values() if r.routing_group == "bi"]
    assert sorted(r.spec.routing.capacity_units for r in pool if r.spec.routing) == [1, 3]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_renders_to_golden_file(name: str) -> None:
    rendered = manifests_to_yaml(render_example(next(p for p in example_files() if p.stem == name)))
    golden = GOLDEN / f"{name}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered)
    assert golden.exists(), f"{golden} is missing; run the tests with UPDATE_GOLDEN=1 to create it"
    assert rendered == golden.read_text(), (
        f"rendering of deploy/examples/{name}.yaml differs from {golden.name}; if the change is intended, "
        "rerun with UPDATE_GOLDEN=1 and review the diff"
    )


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_rendered_core_objects_are_valid_kubernetes(name: str) -> None:
    manifests = render_example(next(p for p in example_files() if p.stem == name))
    assert manifests
    for manifest in manifests:
        _validate_core(manifest)


VARIANTS: dict[str, dict[str, Any]] = {
    "placement-and-control-auth": {
        "placement": {
            "coordinator": {
                "affinity": {
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 50,
                                "podAffinityTerm": {
                                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "trino"}},
                                    "topologyKey": "kubernetes.io/hostname",
                                },
                            }
                        ]
                    }
                }
            },
            "worker": {"tolerations": [{"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}]},
        },
        "trinoControlAuth": {"username": "ops", "passwordSecret": {"name": "control", "key": "pw"}},
    },
    "suspended-coordinator-only": {"suspended": True, "minWorkers": 0, "maxWorkers": 0},
    "graceful-shutdown-off": {"gracefulShutdown": {"enabled": False}, "valuesOverlay": {"service": {"port": 80}}},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_core_objects_are_valid_kubernetes(variant: str) -> None:
    doc = {"metadata": {"name": "variant", "namespace": "analytics", "uid": "u"}, "spec": {"size": "s", **VARIANTS[variant]}}
    for manifest in render_runtime(XTrinode.model_validate(doc), example_catalogs()):
        _validate_core(manifest)


def test_example_secret_values_appear_in_no_golden_file() -> None:
    values: list[str] = []
    for _, doc in example_objects():
        if doc["kind"] == "Secret":
            values.extend(doc.get("stringData", {}).values())
            values.extend(base64.b64decode(v).decode() for v in doc.get("data", {}).values())
    assert values, "the postgres example should carry a Secret"
    for golden in sorted(GOLDEN.glob("*.yaml")):
        text = golden.read_text()
        for value in values:
            assert value not in text, f"a Secret value of the examples leaked into {golden.name}"
