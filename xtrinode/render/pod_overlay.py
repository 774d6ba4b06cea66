"""The pod side of `spec.valuesOverlay`: image, security contexts, env, envFrom, volumes and sidecars.

Applied to a rendered pod spec; anything that would clash with what XTrinode renders (a volume, mount
path, env var or container name it uses) is a RenderError naming the key, never a silent override.
"""

from __future__ import annotations

import copy
from typing import Any

from xtrinode.models import XTrinode
from xtrinode.models.runtime import Image
from xtrinode.render.overlay import overlay
from xtrinode.render.resources import Role
from xtrinode.render.settings import RenderError

__all__ = ["apply_pod_overlay", "image_of"]


def image_of(runtime: XTrinode) -> Image:
    """spec.image with valuesOverlay.image's repository, tag and pullPolicy over it."""
    extra = overlay(runtime).image
    if extra is None:
        return runtime.spec.image
    changes = {key: value for key, value in extra.model_dump().items() if value is not None}
    return runtime.spec.image.model_copy(update=changes)


def _clash(what: str, names: list[str], taken: set[str]) -> None:
    for name in names:
        if name in taken:
            raise RenderError(
                f"valuesOverlay.{what} {name!r} is already used by XTrinode's pod; choose another name"
            )


def apply_pod_overlay(runtime: XTrinode, role: Role, pod_spec: dict[str, Any]) -> None:
    """Add the overlay's pod settings to `pod_spec` (the Trino container is the first)."""
    values = overlay(runtime)
    container = pod_spec["containers"][0]
    if values.security_context:
        pod_spec["securityContext"] = {**pod_spec.get("securityContext", {}), **copy.deepcopy(values.security_context)}
    if values.container_security_context:
        container["securityContext"] = {
            **container.get("securityContext", {}), **copy.deepcopy(values.container_security_context)}
    if values.env:
        rendered = {str(e["name"]) for e in container.get("env", [])}
        _clash("env", [str(e["name"]) for e in values.env], rendered)
        container["env"] = [*container.get("env", []), *copy.deepcopy(values.env)]
    if values.env_from:
        container["envFrom"] = copy.deepcopy(values.env_from)
    if values.volumes:
        _clash("volumes", [str(v["name"]) for v in values.volumes], {str(v["name"]) for v in pod_spec["volumes"]})
        pod_spec["volumes"] = [*pod_spec["volumes"], *copy.deepcopy(values.volumes)]
    if values.volume_mounts:
        taken = {str(m["mountPath"]).rstrip("/") for m in container["volumeMounts"]}
        _clash("volumeMounts mountPath", [str(m["mountPath"]).rstrip("/") for m in values.volume_mounts], taken)
        known = {str(v["name"]) for v in pod_spec["volumes"]}
        for mount in values.volume_mounts:
            if mount["name"] not in known:
                raise RenderError(
                    f"valuesOverlay.volumeMounts {mount['name']!r} names no volume; add it to valuesOverlay.volumes"
                )
        container["volumeMounts"] = [*container["volumeMounts"], *copy.deepcopy(values.volume_mounts)]
    sidecars = values.sidecar_containers
    extra = (sidecars.coordinator if role == "coordinator" else sidecars.worker) if sidecars is not None else []
    if extra:
        _clash(f"sidecarContainers.{role} name", [str(c["name"]) for c in extra],
               {str(c["name"]) for c in pod_spec["containers"]})
        pod_spec["containers"] = [*pod_spec["containers"], *copy.deepcopy(extra)]
