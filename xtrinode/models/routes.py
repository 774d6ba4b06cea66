"""The gateway route table: ConfigMap `trino-gateway-routes`, key `routes.yaml`.

Written only by lifecycle activities, read and watched by the gateway.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml
from pydantic import Field

from xtrinode.models.base import KubeModel

__all__ = ["ROUTES_CONFIGMAP", "ROUTES_KEY", "RouteState", "RouteEntry", "RouteTable"]

ROUTES_CONFIGMAP = "trino-gateway-routes"
ROUTES_KEY = "routes.yaml"
RouteState = Literal["RUNNING", "DRAINING", "PAUSED"]


class RouteEntry(KubeModel):
    namespace: str
    name: str
    backend: str = Field(description="Coordinator base URL, e.g. http://trino-a.team.svc:8080.")
    state: RouteState = "PAUSED"
    routing_group: str
    hostname: str | None = None
    hostname_domain: str | None = None
    header: str | None = None
    default: bool = False
    capacity_units: int = Field(default=1, ge=1)
    workflow_id: str
    message: str | None = Field(
        default=None,
        description="Why the route changed, for clients whose query it cut off (set by a suspend or delete "
        "that ran out of its drain budget; absent otherwise).")

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class RouteTable(KubeModel):
    routes: list[RouteEntry] = Field(default_factory=list)

    @classmethod
    def from_yaml(cls, text: str) -> RouteTable:
        data: Any = {}
        if text.strip():
            try:
                data = json.loads(text)
            except ValueError:  # written by hand as block YAML
                data = yaml.safe_load(text)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError(f"{ROUTES_KEY} must be a mapping with a 'routes' list, got {type(data).__name__}")
        return cls.model_validate(data)

    def to_yaml(self) -> str:
        """The table as YAML in its JSON form, one route per line, sorted: any YAML reader takes it, and
        parsing it is ~50x cheaper than block YAML. The lifecycle re-reads and re-writes the whole table on
        every route change, which with hundreds of runtimes made YAML parsing most of the worker's CPU."""
        ordered = sorted(self.routes, key=lambda r: (r.namespace, r.name))
        lines = [json.dumps(r.to_wire(), sort_keys=True, separators=(", ", ": ")) for r in ordered]
        if not lines:
            return '{"routes": []}\n'
        return '{"routes": [\n' + ",\n".join(lines) + "\n]}\n"

    def upsert(self, entry: RouteEntry) -> RouteTable:
        others = [r for r in self.routes if r.key != entry.key]
        return RouteTable(routes=[*others, entry])

    def remove(self, namespace: str, name: str) -> RouteTable:
        key = f"{namespace}/{name}"
        return RouteTable(routes=[r for r in self.routes if r.key != key])
