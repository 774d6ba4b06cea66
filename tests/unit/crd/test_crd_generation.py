"""The CRD YAML in deploy/crds/ is generated from the models and must not drift.

Also checks that the schema is structural (the API server would refuse it otherwise) and carries
what the SPEC names: status subresource, printer columns, short name, enums, minimums, required.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from xtrinode.crd import CRD_DIR, crd_documents, main, xtrinode_catalog_crd, xtrinode_crd


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        out.append((path, node))
        for key, value in node.get("properties", {}).items():
            out.extend(_walk(value, f"{path}.{key}"))
        if isinstance(node.get("items"), dict):
            out.extend(_walk(node["items"], f"{path}[]"))
        if isinstance(node.get("additionalProperties"), dict):
            out.extend(_walk(node["additionalProperties"], f"{path}{{}}"))
    return out


def test_checked_in_crds_match_the_models() -> None:
    for name, text in crd_documents().items():
        path = CRD_DIR / name
        assert path.exists(), f"{path} missing: run `make crds`"
        assert path.read_text() == text, f"{path} drifted from the models: run `make crds` and commit"


def test_check_mode_fails_on_drift(tmp_path: Path) -> None:
    assert main(["--write", "--dir", str(tmp_path)]) == 0
    assert main(["--check", "--dir", str(tmp_path)]) == 0
    victim = next(tmp_path.glob("xtrinodes.*.yaml"))
    victim.write_text(victim.read_text().replace("minimum: 0", "minimum: 1", 1))
    assert main(["--check", "--dir", str(tmp_path)]) == 1


def test_every_schema_node_is_structural() -> None:
    for crd in (xtrinode_crd(), xtrinode_catalog_crd()):
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        assert "$ref" not in yaml.safe_dump(schema)
        for path, node in _walk(schema):
            assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
            assert node.get("additionalProperties") is not False, f"{path}: additionalProperties false"
            assert node.get("type") != "null", f"{path}: null type"
            assert all(b.get("type") != "null" for b in node.get("anyOf", [])), f"{path}: nullable branch"


def test_only_values_overlay_preserves_unknown_fields() -> None:
    preserved = []
    for crd in (xtrinode_crd(), xtrinode_catalog_crd()):
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        preserved += [p for p, node in _walk(schema) if node.get("x-kubernetes-preserve-unknown-fields")]
    assert preserved == [".spec.valuesOverlay"]


def test_xtrinode_crd_has_spec_features() -> None:
    crd = xtrinode_crd()
    version = crd["spec"]["versions"][0]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert crd["metadata"]["name"] == "xtrinodes.analytics.xtrinode.io"
    assert crd["spec"]["names"]["shortNames"] == ["tn"]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Size", "Phase", "Workers", "Age"]
    assert spec["required"] == ["size"]
    assert spec["properties"]["size"]["enum"] == ["xs", "s", "m", "l", "xl"]
    assert spec["properties"]["maxWorkers"]["maximum"] == 500
    assert spec["properties"]["autoSuspendAfter"]["default"] == "5m"
    phase = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["phase"]
    assert "Suspended" in phase["enum"]


def test_catalog_crd_demands_exactly_one_connector() -> None:
    spec = xtrinode_catalog_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    connector = spec["properties"]["connector"]
    assert (connector["minProperties"], connector["maxProperties"]) == (1, 1)
    assert "connectionURL" in connector["properties"]["postgres"]["properties"]
    assert "connector" in spec["required"]
