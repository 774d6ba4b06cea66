"""Rendering the Helm chart (deploy/helm/xtrinode) with the real helm binary, for the chart tests.

`helm_binary()` finds helm (.venv/bin/helm from `make setup`, else scripts/fetch-helm.sh installs it);
`render(values)` runs `helm template` and returns the documents; VALUE_SETS are the chart's ci/ files
plus "default" (only the one required value, temporal.address).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "deploy" / "helm" / "xtrinode"
CI_VALUES = {path.name.removesuffix("-values.yaml"): path for path in sorted((CHART / "ci").glob("*-values.yaml"))}
DEFAULT = {"temporal": {"address": "temporal-frontend.temporal.svc:7233"}}
VALUE_SETS = ["default", *CI_VALUES]
RELEASE = "xtrinode"
RELEASE_NAMESPACE = "default"


class RenderFailed(Exception):
    """helm template exited non-zero; the message is helm's error."""


@functools.cache
def helm_binary() -> str:
    local = Path(sys.executable).parent / "helm"
    if local.exists():
        return str(local)
    found = shutil.which("helm")
    if found:
        return found
    result = subprocess.run(["bash", str(REPO / "scripts" / "fetch-helm.sh")], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"scripts/fetch-helm.sh failed: {result.stderr[-2000:]}")
    return result.stdout.strip().splitlines()[-1]


def values_of(value_set: str) -> dict[str, Any]:
    if value_set == "default":
        return dict(DEFAULT)
    loaded: dict[str, Any] = yaml.safe_load(CI_VALUES[value_set].read_text()) or {}
    return loaded


@functools.cache
def _render(values_json: str) -> tuple[dict[str, Any], ...]:
    command = [helm_binary(), "template", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE, "--values", "-"]
    result = subprocess.run(command, input=values_json, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderFailed(result.stderr.strip())
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifests `helm template` makes of the chart with `values` (JSON is YAML)."""
    return [json.loads(json.dumps(doc)) for doc in _render(json.dumps(values, sort_keys=True))]


def render_set(value_set: str) -> list[dict[str, Any]]:
    return render(values_of(value_set))


def find(docs: list[dict[str, Any]], kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] == kind and meta["name"] == name and (namespace is None or meta.get("namespace") == namespace):
            return doc
    raise AssertionError(f"no {kind} {namespace}/{name} in the rendered chart")


def containers(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(Deployment, container) pairs."""
    return [(doc, c) for doc in docs if doc["kind"] == "Deployment" for c in doc["spec"]["template"]["spec"]["containers"]]


@functools.cache
def process_help(subcommand: str) -> subprocess.CompletedProcess[str]:
    """`xtrinode <subcommand> --help` through the project's console script (the image's entry point)."""
    script = Path(sys.executable).parent / "xtrinode"
    return subprocess.run([str(script), subcommand, "--help"], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, "COLUMNS": "200"}, check=False)
