"""CustomResourceDefinitions generated from the pydantic models (deploy/crds/).

`python -m xtrinode.crd --write` regenerates the YAML; `--check` fails when it drifts.
"""

from __future__ import annotations

import argparse
import copy
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from xtrinode.durations import format_duration

from xtrinode.models import API_GROUP, API_VERSION, XTrinodeCatalogSpec, XTrinodeCatalogStatus
from xtrinode.models.runtime import NAME_MAX_LENGTH, NAME_PATTERN, XTrinodeSpec, XTrinodeStatus

__all__ = ["CRD_DIR", "crd_documents", "structural_schema", "xtrinode_crd", "xtrinode_catalog_crd", "main"]

CRD_DIR = Path(__file__).resolve().parent.parent / "deploy" / "crds"
CHART_CRD_DIR = CRD_DIR.parent / "helm" / "xtrinode" / "files" / "crds"
"""The Helm chart's copy (templates/crds.yaml installs it); written and checked with deploy/crds."""
_HEADER = "# Generated from xtrinode/models by `python -m xtrinode.crd --write`. Do not edit by hand.\n"


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    """Inline $refs and turn pydantic's JSON Schema into a Kubernetes structural schema."""
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        extra = {k: v for k, v in node.items() if k != "$ref"}
        target.update(extra)
        return _resolve(target, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs"):
            continue
        if key == "properties":
            out[key] = {name: _resolve(prop, defs) for name, prop in value.items()}
        elif key in ("items", "additionalProperties", "anyOf", "allOf", "oneOf"):
            out[key] = _resolve(value, defs)
        else:
            out[key] = value
    return _simplify(out)


def _simplify(node: dict[str, Any]) -> dict[str, Any]:
    # Optional[X] is anyOf [X, null]: the API server expresses that by leaving the field out.
    if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        if len(branches) == 1:
            merged = {k: v for k, v in node.items() if k != "anyOf"}
            merged = {**branches[0], **merged}
            node = merged
        else:
            node["anyOf"] = branches
    if node.get("default", "absent") is None:
        del node["default"]
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    if node.get("type") == "object" and node.get("additionalProperties") is True:
        del node["additionalProperties"]
        node["x-kubernetes-preserve-unknown-fields"] = True
    if node.get("x-kubernetes-preserve-unknown-fields") and "type" not in node:
        node["type"] = "object"
    if node.get("default") == {} and node.get("type") == "object" and "properties" in node:
        # An empty object default would be filled from the properties' own defaults anyway.
        del node["default"]
    return node


class _KubeJsonSchema(GenerateJsonSchema):
    """Defaults as the user writes them: durations as '5m', not ISO 8601."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The openAPIV3Schema of a model, camelCase, with every $ref inlined."""
    raw = model.model_json_schema(by_alias=True, mode="validation", schema_generator=_KubeJsonSchema)
    defs = raw.get("$defs", {})
    return dict(_resolve(raw, defs))


def _crd(
    *,
    kind: str,
    plural: str,
    singular: str,
    short_names: list[str],
    spec_model: type[BaseModel],
    status_model: type[BaseModel],
    printer_columns: list[dict[str, Any]],
    name_schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    # A CRD may restrict metadata.name (only name and generateName): the API server then refuses a
    # name the model would refuse too.
    metadata: dict[str, Any] = {"type": "object"}
    if name_schema:
        metadata["properties"] = {"name": name_schema}
    schema = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": metadata,
            "spec": structural_schema(spec_model),
            "status": structural_schema(status_model),
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "shortNames": short_names,
                "categories": ["xtrinode-all"],
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": printer_columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def xtrinode_crd() -> dict[str, Any]:
    return _crd(
        kind="XTrinode",
        plural="xtrinodes",
        singular="xtrinode",
        short_names=["tn"],
        spec_model=XTrinodeSpec,
        status_model=XTrinodeStatus,
        name_schema={"type": "string", "maxLength": NAME_MAX_LENGTH, "pattern": NAME_PATTERN},
        printer_columns=[
            {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Workers", "type": "integer", "jsonPath": ".status.workers.ready",
             "description": "Ready workers"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


def xtrinode_catalog_crd() -> dict[str, Any]:
    return _crd(
        kind="XTrinodeCatalog",
        plural="xtrinodecatalogs",
        singular="xtrinodecatalog",
        short_names=["tnc"],
        spec_model=XTrinodeCatalogSpec,
        status_model=XTrinodeCatalogStatus,
        printer_columns=[
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "ConfigMap", "type": "string", "jsonPath": ".status.configMapName"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


def crd_documents() -> dict[str, str]:
    """File name -> YAML text for every CRD we own."""
    out = {}
    for crd in (xtrinode_crd(), xtrinode_catalog_crd()):
        name = f"{crd['metadata']['name']}.yaml"
        out[name] = _HEADER + yaml.safe_dump(crd, sort_keys=False, default_flow_style=False, width=100)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xtrinode.crd", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write deploy/crds/*.yaml")
    mode.add_argument("--check", action="store_true", help="fail when deploy/crds/*.yaml drift")
    parser.add_argument("--dir", type=Path, action="append",
                        help="directory of the CRD files, repeatable (default: deploy/crds and the chart's files/crds)")
    args = parser.parse_args(argv)
    drift = []
    for directory in args.dir or [CRD_DIR, CHART_CRD_DIR]:
        for name, text in crd_documents().items():
            path = directory / name
            if args.write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                print(f"wrote {path}")
            elif not path.exists() or path.read_text() != text:
                drift.append(str(path))
    if drift:
        print(
            "CRD YAML is out of date with the models: " + ", ".join(drift)
            + "\nrun `make crds` (python -m xtrinode.crd --write) and commit the result",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
