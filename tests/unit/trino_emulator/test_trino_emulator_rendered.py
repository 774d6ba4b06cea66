"""What the operator renders is what the emulator runs: rendered config files load into the expected settings.

Checks: coordinator and worker `config.properties`/`node.properties` from `xtrinode.render` (absolute
`/etc/trino/...` paths found through the path map, as the kubelet passes it), the rendered access
control (only the control user may change a node's state), and a
Postgres catalog whose password is a `${ENV:...}` placeholder resolved from the env var the render
names (as the pod would get it from the Secret), with the value kept out of the settings' repr.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from devstack.trino import load_settings
from xtrinode.models import XTrinode, XTrinodeCatalog
from xtrinode.render import render_catalog
from xtrinode.render.catalogs import catalog_secret_env
from xtrinode.render.config import role_config_data
from xtrinode.render.settings import RenderSettings

SECRET = "rendered-pg-secret"


def _runtime() -> XTrinode:
    return XTrinode.model_validate({"metadata": {"name": "demo", "namespace": "analytics", "uid": "u"},
                                    "spec": {"size": "xs", "gracefulShutdown": {"gracePeriodSeconds": 45}}})


def _catalog() -> XTrinodeCatalog:
    return XTrinodeCatalog.model_validate({
        "metadata": {"name": "sales", "namespace": "analytics", "uid": "c"},
        "spec": {"labels": {"team": "a"}, "connector": {"postgres": {
            "connectionURL": "jdbc:postgresql://db:5432/sales", "connectionUser": "trino",
            "connectionPasswordSecret": {"name": "pg", "key": "password"}}}},
    })


def _pod_etc(root: Path, role: Literal["coordinator", "worker"]) -> tuple[Path, dict[str, str]]:
    files = role_config_data(_runtime(), role, RenderSettings())
    for name, text in files.items():
        (root / name).write_text(text)
    catalog = _catalog()
    config_map = render_catalog(catalog).config_map
    (root / "catalog").mkdir()
    for name, text in config_map["data"].items():
        (root / "catalog" / name).write_text(text)
    env = {entry.name: SECRET for entry in catalog_secret_env(catalog)}
    return root, {"HOSTNAME": f"trino-demo-{role}-0", **env}


def test_rendered_coordinator_config_loads(tmp_path: Path) -> None:
    root, env = _pod_etc(tmp_path, "coordinator")
    settings = load_settings(root, env=env, path_map=[("/etc/trino", root)])
    assert settings.coordinator and settings.process_forwarded
    assert settings.node_id == "trino-demo-coordinator-0"
    assert settings.shutdown_grace_period == timedelta(seconds=45)
    assert settings.required_workers == 1 and settings.required_workers_max_wait == timedelta(minutes=5)
    assert settings.include_coordinator is False
    [sales] = settings.catalogs
    assert sales.connector_name == "postgresql"
    assert sales.properties["connection-password"] == SECRET
    assert sales.env_properties == frozenset({"connection-password"})
    assert SECRET not in repr(settings)


def test_rendered_worker_config_loads(tmp_path: Path) -> None:
    root, env = _pod_etc(tmp_path, "worker")
    settings = load_settings(root, env=env, path_map=[("/etc/trino", root)])
    assert settings.coordinator is False
    # The rendered access control lets the control user (and nobody else) drain the worker.
    access = settings.effective_access_control
    assert access.name == "file"
    assert access.can_write_system_information("xtrinode-operator")
    assert not access.can_write_system_information("alice")
    assert settings.discovery_uri is not None and settings.discovery_uri.startswith("http://")
    assert settings.node_id == "trino-demo-worker-0"
