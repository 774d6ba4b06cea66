"""The `xtrinode` CLI: `render` prints manifests a platform engineer can diff, `validate` prints
admission verdicts; bad files give errors naming the file, line or field, and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xtrinode.cli import main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "deploy" / "examples"


def test_render_minimal_example_prints_workloads_services_and_configmaps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "-f", str(EXAMPLES / "minimal.yaml")]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap"} <= kinds
    names = {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}
    assert names == {"trino-demo-coordinator", "trino-demo-worker"}


def test_render_never_prints_a_secret_value(capsys: pytest.CaptureFixture[str]) -> None:
    path = EXAMPLES / "postgres-catalog.yaml"
    secrets = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "Secret"]
    assert secrets, "the postgres example ships a Secret"
    values = [v for s in secrets for v in (s.get("stringData") or {}).values()]
    assert values
    assert main(["render", "-f", str(path)]) == 0
    out = capsys.readouterr().out
    assert "${ENV:CATALOG_" in out
    for value in values:
        assert value not in out


def test_render_without_a_runtime_says_what_to_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "cm.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert main(["render", "-f", str(f)]) == 2
    assert "no XTrinode object" in capsys.readouterr().err


def test_bad_yaml_error_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("apiVersion: analytics.xtrinode.io/v1\nkind: XTrinode\nspec: [unclosed\n")
    assert main(["render", "-f", str(f)]) == 2
    err = capsys.readouterr().err
    assert str(f) in err and "line" in err and "not valid YAML" in err


def test_invalid_spec_error_names_the_field_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "rt.yaml"
    f.write_text(
        "apiVersion: analytics.xtrinode.io/v1\nkind: XTrinode\nmetadata: {name: a, namespace: t}\n"
        "spec: {size: s, maxWorkers: 900}\n"
    )
    assert main(["render", "-f", str(f)]) == 2
    err = capsys.readouterr().err
    assert "spec.maxWorkers" in err and "900" in err


def test_missing_file_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "-f", "/nonexistent/rt.yaml"]) == 2
    assert "cannot read file" in capsys.readouterr().err


def test_validate_accepts_every_example(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 4
    args = ["validate"] + [a for f in files for a in ("-f", str(f))]
    assert main(args) == 0, capsys.readouterr().out
    assert "rejected" not in capsys.readouterr().out


def test_validate_rejects_with_reasons_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "rt.yaml"
    f.write_text(
        "apiVersion: analytics.xtrinode.io/v1\nkind: XTrinode\nmetadata: {name: a, namespace: t}\n"
        "spec: {size: s, routing: {hostname: a.example.com, hostnameDomain: example.com}}\n"
    )
    assert main(["validate", "-f", str(f)]) == 1
    out = capsys.readouterr().out
    assert "rejected XTrinode/a" in out and "hostname" in out


def test_console_script_renders_from_stdin() -> None:
    text = (EXAMPLES / "minimal.yaml").read_text()
    proc = subprocess.run(
        [sys.executable, "-m", "xtrinode.cli", "render", "-f", "-"], input=text, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "kind: Deployment" in proc.stdout


def test_render_error_is_one_line_and_exit_code_1_not_a_traceback(tmp_path: Path) -> None:
    f = tmp_path / "rt.yaml"
    f.write_text(
        "apiVersion: analytics.xtrinode.io/v1\nkind: XTrinode\nmetadata: {name: a, namespace: t}\n"
        "spec: {size: s, valuesOverlay: {trino: {config: {http-server.http.enabled: 'false'}}}}\n"
    )
    result = subprocess.run([sys.executable, "-m", "xtrinode.cli", "render", "-f", str(f)], capture_output=True,
                            text=True, cwd=ROOT, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: XTrinode t/a cannot be rendered: ")
    assert "http-server.http.enabled" in result.stderr


def test_validate_refuses_a_catalog_name_too_long_for_its_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "c" * 50  # trino-catalog-<name> would be 64 characters
    f = tmp_path / "cat.yaml"
    f.write_text(f"apiVersion: analytics.xtrinode.io/v1\nkind: XTrinodeCatalog\nmetadata: {{name: {name}}}\n"
                 "spec: {connector: {tpch: {}}}\n")
    assert main(["validate", "-f", str(f)]) == 1
    out = capsys.readouterr().out
    assert f"rejected XTrinodeCatalog/{name}" in out
    assert "at most 63 characters" in out and "49" in out
    f.write_text(f"apiVersion: analytics.xtrinode.io/v1\nkind: XTrinodeCatalog\nmetadata: {{name: {name[:49]}}}\n"
                 "spec: {connector: {tpch: {}}}\n")
    assert main(["validate", "-f", str(f)]) == 0
