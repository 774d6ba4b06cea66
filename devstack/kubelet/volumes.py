"""Pod volumes as local files: ConfigMap (and projected ConfigMap) and Secret volumes become a per-pod
directory.

The config root mount (`/etc/trino`) maps to the directory itself, mounts below it to subdirectories
(`/etc/trino/catalog` -> `catalog/`), other mounts to `mounts/<path>`. Secret volume files (a password
file mounted from auth.passwordAuthSecret) are written 0600, readable by the pod's process only, as the
kubelet's tmpfs does; they are never logged.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .objects import JsonDict

__all__ = [
    "CONFIG_ROOT",
    "mount_map",
    "PodConfigError",
    "PodFiles",
    "local_path",
    "plan_pod_files",
    "referenced_config_maps",
    "referenced_secrets",
    "write_pod_files",
]

CONFIG_ROOT = "/etc/trino"


class PodConfigError(Exception):
    """The pod cannot start with this spec or these objects (Kubernetes: CreateContainerConfigError)."""


@dataclass(slots=True)
class PodFiles:
    """Files (relative path -> bytes) and empty directories of one container's mounts."""

    files: dict[PurePosixPath, bytes] = field(default_factory=dict)
    dirs: set[PurePosixPath] = field(default_factory=set)
    private: set[PurePosixPath] = field(default_factory=set)
    """Files from Secret volumes: written 0600."""

    def text(self, path: str) -> str | None:
        data = self.files.get(PurePosixPath(path))
        return None if data is None else data.decode("utf-8", errors="replace")


def local_path(mount_path: str, config_root: str = CONFIG_ROOT) -> PurePosixPath:
    """Where a container path lives under the pod directory."""
    path = PurePosixPath("/" + mount_path.strip("/"))
    root = PurePosixPath(config_root)
    if path == root:
        return PurePosixPath(".")
    if root in path.parents:
        return path.relative_to(root)
    return PurePosixPath("mounts") / path.relative_to("/")


def mount_map(container: Mapping[str, Any], directory: Path, config_root: str = CONFIG_ROOT) -> tuple[tuple[str, Path], ...]:
    """Each mountPath of the container and the local directory holding it, longest path first: how a file
    path written in the pod's config (`/etc/trino/rules.json`) is found on this machine."""
    paths = {"/" + str(m["mountPath"]).strip("/") for m in container.get("volumeMounts") or [] if m.get("mountPath")}
    paths.add(config_root)
    return tuple(sorted(((path, directory / local_path(path, config_root)) for path in paths),
                        key=lambda item: len(item[0]), reverse=True))


def _config_map_sources(volume: Mapping[str, Any]) -> list[JsonDict] | None:
    """The ConfigMap projections of a volume; None for a kind with no files (emptyDir)."""
    if "configMap" in volume:
        return [dict(volume["configMap"])]
    if "projected" in volume:
        sources: list[JsonDict] = []
        for source in (volume["projected"] or {}).get("sources") or []:
            if "configMap" in source:
                sources.append(dict(source["configMap"]))
            else:
                kinds = ", ".join(sorted(source))
                raise PodConfigError(
                    f"volume {volume.get('name')!r}: projected source {kinds} is not supported by the devstack "
                    "kubelet; project ConfigMaps only (secrets reach pods through secretKeyRef env vars)"
                )
        return sources
    if "secret" in volume:
        return None  # planned by _secret_files
    if "emptyDir" in volume:
        return None
    kinds = ", ".join(sorted(k for k in volume if k != "name"))
    raise PodConfigError(f"volume {volume.get('name')!r}: volume type {kinds} is not supported by the devstack kubelet")


def referenced_secrets(pod_spec: Mapping[str, Any]) -> set[str]:
    """Names of the Secrets the pod's volumes mount."""
    return {str(v["secret"].get("secretName")) for v in pod_spec.get("volumes") or []
            if isinstance(v.get("secret"), Mapping) and v["secret"].get("secretName")}


def _secret_files(volume: Mapping[str, Any], secrets: Mapping[str, Mapping[str, Any]]) -> dict[str, bytes]:
    source = volume["secret"] or {}
    name = source.get("secretName")
    secret = secrets.get(str(name))
    if secret is None:
        if source.get("optional"):
            return {}
        raise PodConfigError(f'secret "{name}" not found (volume {volume.get("name")!r}); create it in the pod\'s '
                             "namespace or mark the volume source optional")
    data: dict[str, bytes] = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    data.update({k: str(v).encode() for k, v in (secret.get("stringData") or {}).items()})
    return _pick_items(source, data, f'secret "{name}"')


def _pick_items(source: Mapping[str, Any], data: dict[str, bytes], what: str) -> dict[str, bytes]:
    """The volume source's `items` (key -> path) out of `data`, or all of it without items."""
    items = source.get("items")
    if not items:
        return data
    picked: dict[str, bytes] = {}
    for item in items:
        key = item.get("key")
        if key not in data:
            if source.get("optional"):
                continue
            raise PodConfigError(f"{what} has no key {key!r}; add it or fix the volume items")
        picked[str(item.get("path") or key)] = data[key]
    return picked


def referenced_config_maps(pod_spec: Mapping[str, Any]) -> set[str]:
    """Names of the ConfigMaps the pod's volumes project (fetch them before planning files)."""
    names: set[str] = set()
    for volume in pod_spec.get("volumes") or []:
        try:
            sources = _config_map_sources(volume)
        except PodConfigError:
            continue
        names.update(str(s["name"]) for s in sources or [] if s.get("name"))
    return names


def _config_map_files(source: Mapping[str, Any], config_map: Mapping[str, Any] | None) -> dict[str, bytes]:
    name = source.get("name")
    if config_map is None:
        if source.get("optional"):
            return {}
        raise PodConfigError(f'configmap "{name}" not found; create it or mark the volume source optional')
    data: dict[str, bytes] = {k: str(v).encode() for k, v in (config_map.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (config_map.get("binaryData") or {}).items()})
    return _pick_items(source, data, f'configmap "{name}"')


def plan_pod_files(
    pod_spec: Mapping[str, Any],
    container: Mapping[str, Any],
    config_maps: Mapping[str, Mapping[str, Any]],
    config_root: str = CONFIG_ROOT,
    secrets: Mapping[str, Mapping[str, Any]] | None = None,
) -> PodFiles:
    """Every file the container's mounts show, keyed by its path under the pod directory."""
    volumes = {v.get("name"): v for v in pod_spec.get("volumes") or []}
    planned = PodFiles()
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount.get("name"))
        if volume is None:
            raise PodConfigError(
                f"volumeMount {mount.get('name')!r} of container {container.get('name')!r} names no volume of the pod"
            )
        target = local_path(str(mount["mountPath"]), config_root)
        sources = _config_map_sources(volume)
        is_secret = "secret" in volume
        if sources is None and not is_secret:
            planned.dirs.add(target)
            continue
        merged: dict[str, bytes] = _secret_files(volume, secrets or {}) if is_secret else {}
        for source in sources or []:
            merged.update(_config_map_files(source, config_maps.get(str(source.get("name")))))
        sub_path = mount.get("subPath")
        if sub_path:
            if sub_path not in merged:
                raise PodConfigError(f"volumeMount {mount.get('name')!r}: subPath {sub_path!r} is not a key of the volume")
            planned.files[target] = merged[sub_path]
            if is_secret:
                planned.private.add(target)
            continue
        planned.dirs.add(target)
        for key, content in merged.items():
            relative = PurePosixPath(key)
            if relative.is_absolute() or ".." in relative.parts:
                raise PodConfigError(f"volume {volume.get('name')!r}: item path {key!r} must be relative without '..'")
            planned.files[target / relative] = content
            if is_secret:
                planned.private.add(target / relative)
    return planned


def write_pod_files(directory: Path, planned: PodFiles) -> None:
    """Replace `directory` with exactly the planned files (0644) and directories."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for relative in sorted(planned.dirs):
        (directory / relative).mkdir(parents=True, exist_ok=True)
    for relative, content in planned.files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if relative in planned.private:
            path.touch(mode=0o600)
            path.chmod(0o600)
            path.write_bytes(content)
        else:
            path.write_bytes(content)
            path.chmod(0o644)
