"""deploy/Dockerfile: one image, every component by subcommand, non-root, nothing to build with at run time.

The image cannot be built here (no container runtime); what can be checked is: the final stage runs
as the user the chart's securityContext names, installs nothing and copies only the virtualenv; the
entry point is the project's console script; every package the distribution contains is copied in;
every component the image names is a subcommand that starts and prints its --help (run through the
same console script), and every subcommand the chart runs is one the image names.
"""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from chart_testkit import CHART, REPO, VALUE_SETS, containers, process_help, render_set

DOCKERFILE = REPO / "deploy" / "Dockerfile"


def _stages() -> list[list[str]]:
    """The instructions of each stage (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def _components() -> list[str]:
    final = _stages()[-1]
    label = next(line for line in final if line.startswith("LABEL"))
    found = re.search(r'io\.xtrinode\.components="([^"]+)"', label)
    assert found, "the final stage must name its components (LABEL io.xtrinode.components)"
    return found.group(1).split()


def test_the_final_stage_is_non_root_and_builds_nothing() -> None:
    stages = _stages()
    assert len(stages) >= 2, "a build stage and a final stage"
    final = stages[-1]
    users = [line.split()[1] for line in final if line.startswith("USER")]
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    uid = chart_values["podSecurityContext"]["runAsUser"]
    assert users and users[-1].split(":")[0] == str(uid) != "0", f"USER must be {uid}, the chart's runAsUser"
    runs = " ".join(line for line in final if line.startswith("RUN"))
    for tool in ("apt-get", "apk ", "pip ", "gcc", "build-essential", "make ", "curl", "wget"):
        assert tool not in runs, f"the final stage runs {tool.strip()}"
    copies = [line for line in final if line.startswith("COPY")]
    assert copies == ["COPY --from=build /opt/xtrinode /opt/xtrinode"], copies
    build = " ".join(stages[0])
    assert "pip uninstall --yes pip setuptools wheel" in build, "no installer in the copied virtualenv"


def test_the_entry_point_is_the_console_script_and_every_package_is_copied() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    scripts = project["project"]["scripts"]
    final = _stages()[-1]
    entry = next(line for line in final if line.startswith("ENTRYPOINT"))
    assert entry == 'ENTRYPOINT ["xtrinode"]' and "xtrinode" in scripts
    build = _stages()[0]
    copied = {line.split()[1] for line in build if line.startswith("COPY")}
    packages = {name.rstrip("*") for name in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied, f"packages not copied into the image: {sorted(packages - copied)}"


@pytest.mark.parametrize("component", _components())
def test_each_component_the_image_names_starts_with_help(component: str) -> None:
    result = process_help(component)
    assert result.returncode == 0, f"xtrinode {component} --help: {result.stderr[-800:]}"
    assert "usage:" in result.stdout and component in result.stdout


def test_the_chart_runs_only_components_the_image_names() -> None:
    used = {container["args"][0] for value_set in VALUE_SETS for _, container in containers(render_set(value_set))}
    assert used <= set(_components()), used - set(_components())
    assert {"operator", "worker", "gateway", "api-server"} <= used
