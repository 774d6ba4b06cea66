"""Volume mapping of the devstack kubelet: container paths to the per-pod directory (/etc/trino is
the directory, /etc/trino/catalog its catalog/, others under mounts/), ConfigMap and projected
volumes to files, items and subPath, Secret volumes (the password file of PASSWORD auth) written 0600,
and refusals that say what to do (missing ConfigMap or Secret, a missing key).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from devstack.kubelet.volumes import (
    PodConfigError,
    local_path,
    plan_pod_files,
    referenced_config_maps,
    referenced_secrets,
    write_pod_files,
)

POD_SPEC = {
    "volumes": [
        {"name": "config", "configMap": {"name": "trino-demo-coordinator-abc"}},
        {"name": "catalog", "projected": {"sources": [{"configMap": {"name": "trino-catalog-tpch"}},
                                                      {"configMap": {"name": "trino-catalog-pg"}}]}},
        {"name": "data", "emptyDir": {}},
    ]
}
CONTAINER = {
    "name": "trino",
    "volumeMounts": [
        {"name": "config", "mountPath": "/etc/trino"},
        {"name": "catalog", "mountPath": "/etc/trino/catalog"},
        {"name": "data", "mountPath": "/data/trino"},
    ],
}
CONFIG_MAPS = {
    "trino-demo-coordinator-abc": {"data": {"config.properties": "coordinator=true\n", "node.properties": "x=1\n"}},
    "trino-catalog-tpch": {"data": {"tpch.properties": "connector.name=tpch\n"}},
    "trino-catalog-pg": {"data": {"pg.properties": "connector.name=postgresql\n"}},
}


@pytest.mark.parametrize(("mount", "expected"), [
    ("/etc/trino", "."),
    ("/etc/trino/", "."),
    ("/etc/trino/catalog", "catalog"),
    ("/etc/trino/a/b", "a/b"),
    ("/data/trino", "mounts/data/trino"),
    ("/etc/trinox", "mounts/etc/trinox"),
])
def test_mount_paths_map_under_the_pod_directory(mount: str, expected: str) -> None:
    assert local_path(mount) == PurePosixPath(expected)


def test_config_map_and_projected_volumes_become_files() -> None:
    planned = plan_pod_files(POD_SPEC, CONTAINER, CONFIG_MAPS)
    assert {str(p) for p in planned.files} == {
        "config.properties", "node.properties", "catalog/tpch.properties", "catalog/pg.properties"}
    assert planned.text("config.properties") == "coordinator=true\n"
    assert PurePosixPath("mounts/data/trino") in planned.dirs
    assert referenced_config_maps(POD_SPEC) == set(CONFIG_MAPS)


def test_items_and_sub_path_pick_keys() -> None:
    spec = {"volumes": [{"name": "c", "configMap": {"name": "cm", "items": [{"key": "a", "path": "renamed.txt"}]}},
                        {"name": "s", "configMap": {"name": "cm"}}]}
    container = {"volumeMounts": [{"name": "c", "mountPath": "/etc/trino"},
                                  {"name": "s", "mountPath": "/etc/trino/only-b", "subPath": "b"}]}
    planned = plan_pod_files(spec, container, {"cm": {"data": {"a": "A", "b": "B"}}})
    assert planned.files == {PurePosixPath("renamed.txt"): b"A", PurePosixPath("only-b"): b"B"}


def test_missing_config_map_is_an_error_unless_optional() -> None:
    with pytest.raises(PodConfigError, match='configmap "trino-catalog-pg" not found'):
        plan_pod_files(POD_SPEC, CONTAINER, {k: v for k, v in CONFIG_MAPS.items() if k != "trino-catalog-pg"})
    optional = {"volumes": [{"name": "c", "configMap": {"name": "nope", "optional": True}}]}
    planned = plan_pod_files(optional, {"volumeMounts": [{"name": "c", "mountPath": "/etc/trino"}]}, {})
    assert planned.files == {}


SECRET_SPEC = {"volumes": [{"name": "pw", "secret": {"secretName": "trino-passwords",
                                                     "items": [{"key": "password.db", "path": "password.db"}]}}]}
SECRET_MOUNT = {"volumeMounts": [{"name": "pw", "mountPath": "/etc/trino/auth/password", "readOnly": True}]}
SECRETS = {"trino-passwords": {"data": {"password.db": "b3BzOjEwMDA6YWI6Y2QK", "other": "eA=="}}}  # ops:1000:ab:cd


def test_secret_volumes_become_private_files(tmp_path: Path) -> None:
    assert referenced_secrets(SECRET_SPEC) == {"trino-passwords"}
    planned = plan_pod_files(SECRET_SPEC, SECRET_MOUNT, {}, secrets=SECRETS)
    assert planned.files == {PurePosixPath("auth/password/password.db"): b"ops:1000:ab:cd\n"}
    write_pod_files(tmp_path / "pod", planned)
    written = tmp_path / "pod" / "auth" / "password" / "password.db"
    assert written.read_bytes() == b"ops:1000:ab:cd\n"
    assert written.stat().st_mode & 0o777 == 0o600


def test_missing_secret_or_key_is_an_error_unless_optional() -> None:
    with pytest.raises(PodConfigError, match='secret "trino-passwords" not found'):
        plan_pod_files(SECRET_SPEC, SECRET_MOUNT, {}, secrets={})
    with pytest.raises(PodConfigError, match="has no key 'password.db'"):
        plan_pod_files(SECRET_SPEC, SECRET_MOUNT, {}, secrets={"trino-passwords": {"data": {}}})
    optional = {"volumes": [{"name": "pw", "secret": {"secretName": "nope", "optional": True}}]}
    assert plan_pod_files(optional, SECRET_MOUNT, {}, secrets={}).files == {}


def test_unknown_mount_names_no_volume() -> None:
    with pytest.raises(PodConfigError, match="names no volume"):
        plan_pod_files({"volumes": []}, {"name": "trino", "volumeMounts": [{"name": "x", "mountPath": "/x"}]}, {})


def test_writing_replaces_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "pod"
    directory.mkdir()
    (directory / "stale.properties").write_text("old")
    write_pod_files(directory, plan_pod_files(POD_SPEC, CONTAINER, CONFIG_MAPS))
    assert sorted(str(p.relative_to(directory)) for p in directory.rglob("*.properties")) == [
        "catalog/pg.properties", "catalog/tpch.properties", "config.properties", "node.properties"]
    assert (directory / "mounts" / "data" / "trino").is_dir()
