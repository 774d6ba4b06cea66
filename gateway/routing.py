"""Choosing where a request goes: route selection by header, Host, routing group or default, and pool balancing.

Pure functions over a `RouteTable`; the caller supplies backend health and load, so everything here is
unit tested without servers (tests/unit/gateway/test_gateway_routing.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from xtrinode.models.routes import RouteEntry, RouteTable

__all__ = [
    "XTRINODE_HEADER",
    "NoRoute",
    "Plan",
    "Selection",
    "plan_new_query",
    "select_pool",
    "strip_port",
]

XTRINODE_HEADER: Final = "X-Trino-XTrinode"
"""Selects one runtime: its route `header` value, or `<namespace>/<name>` (not a Trino header: ours)."""

SelectorKind = Literal["header", "host", "routing-group", "default"]


class NoRoute(Exception):
    """No route matches an explicit selector (or there is no default); the client gets a Trino-style error."""

    def __init__(self, selector: SelectorKind, value: str | None, message: str) -> None:
        super().__init__(message)
        self.selector = selector
        self.value = value
        self.message = message


@dataclass(frozen=True, slots=True)
class Selection:
    """The routes a request may use: one runtime, or the shared pool of a routing group."""

    selector: SelectorKind
    value: str | None
    pool: tuple[RouteEntry, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do with a new statement: forward it to `entry`, or hold it and resume `entry` first."""

    action: Literal["forward", "resume"]
    entry: RouteEntry


def strip_port(host: str) -> str:
    """`trino.example.com:8443` -> `trino.example.com`; `[::1]:80` -> `::1`; lower case, no trailing dot."""
    host = host.strip()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".").lower()


def _by_group(table: RouteTable, group: str) -> tuple[RouteEntry, ...]:
    return tuple(r for r in table.routes if r.routing_group == group)


def _select_by_host(table: RouteTable, host: str) -> Selection | None:
    name = strip_port(host)
    if not name:
        return None
    exact = tuple(r for r in table.routes if r.hostname and r.hostname.rstrip(".").lower() == name)
    if exact:
        return Selection("host", name, exact[:1])
    for route in table.routes:
        domain = (route.hostname_domain or "").strip(".").lower()
        if domain and name.endswith("." + domain):
            group = name[: -len(domain) - 1]
            pool = tuple(
                r for r in table.routes if r.routing_group == group and (r.hostname_domain or "").strip(".").lower() == domain
            )
            if not pool:
                raise NoRoute(
                    "host",
                    name,
                    f"no routing group {group!r} under domain {domain!r} (Host {name!r}); "
                    "use an existing group's hostname or drop the group prefix",
                )
            return Selection("host", name, pool)
    return None


def select_pool(
    table: RouteTable, *, xtrinode: str | None = None, host: str | None = None, routing_group: str | None = None
) -> Selection:
    """The routes for a request, by precedence: X-Trino-XTrinode, Host, X-Trino-Routing-Group, default.

    An explicit selector that matches nothing raises `NoRoute`; it never falls back to the default.
    A Host that matches no hostname (for example an IP address) is not a selector and falls through.
    """
    if xtrinode is not None and xtrinode.strip():
        value = xtrinode.strip()
        found = tuple(r for r in table.routes if r.header == value or r.key == value)
        if not found:
            raise NoRoute(
                "header",
                value,
                f"no XTrinode runtime matches {XTRINODE_HEADER}: {value!r}; "
                "send a runtime's header value or '<namespace>/<name>'",
            )
        return Selection("header", value, found[:1])
    if host:
        by_host = _select_by_host(table, host)
        if by_host is not None:
            return by_host
    if routing_group is not None and routing_group.strip():
        group = routing_group.strip()
        pool = _by_group(table, group)
        if not pool:
            # Never list the groups that exist: the caller may not be allowed to know them.
            raise NoRoute(
                "routing-group",
                group,
                f"no routing group {group!r} (X-Trino-Routing-Group); check the group name with your platform team",
            )
        return Selection("routing-group", group, pool)
    defaults = tuple(r for r in table.routes if r.default)
    if not defaults:
        raise NoRoute(
            "default",
            None,
            f"no default route and no selector; send {XTRINODE_HEADER}: <namespace>/<name> "
            "or X-Trino-Routing-Group: <group>",
        )
    return Selection("default", None, defaults)


def plan_new_query(
    pool: tuple[RouteEntry, ...], usable: Callable[[RouteEntry], bool], load: Callable[[RouteEntry], float]
) -> Plan:
    """Where a new statement goes within a pool.

    RUNNING backends that are usable (healthy, breaker closed, not starting) share new queries by
    in-flight queries per capacity unit; DRAINING and PAUSED ones get none. With no usable RUNNING
    backend, a PAUSED (else DRAINING, else unready RUNNING) runtime is resumed first: the statement is
    held until the runtime is Ready.
    """
    if not pool:
        raise ValueError("plan_new_query needs a non-empty pool")

    def per_unit(entry: RouteEntry) -> tuple[float, str]:
        return load(entry) / entry.capacity_units, entry.key

    running = [r for r in pool if r.state == "RUNNING"]
    ready = [r for r in running if usable(r)]
    if ready:
        return Plan("forward", min(ready, key=per_unit))
    asleep = [r for r in pool if r.state == "PAUSED"] or [r for r in pool if r.state == "DRAINING"] or running
    return Plan("resume", min(asleep, key=lambda r: (-r.capacity_units, r.key)))
