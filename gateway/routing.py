"""Choosing where a request goes: route selection and pool balancing.

Precedence (first that applies wins; an explicit selector that matches nothing is an error, never a
fallback):

| # | selector | how a client sends it |
|---|---|---|
| 1 | `X-Trino-XTrinode: <header value or ns/name>` | HTTP header (Python client `http_headers`) |
| 2 | client tag `xtrinode=<header value or ns/name>` | trino CLI `--client-tags`, JDBC `clientTags` |
| 3 | Host: a route's `hostname` or `<group>.<hostnameDomain>` | DNS name the client connects to |
| 4 | `X-Trino-Routing-Group: <group>` | HTTP header |
| 5 | client tag `xtrinode-group=<group>` | `--client-tags`, `clientTags` |
| 6 | `routing.sourceRules` on `X-Trino-Source` | CLI `--source`, JDBC `source` |
| 7 | `routing.principalDefaults` for the user, key or group | nothing: the gateway knows the caller |
| 8 | the route marked `default` | nothing |

Pure functions over a `RouteTable`; the caller supplies backend health and load and the implicit
preferences (rows 6 and 7), so everything here is unit tested without servers
(tests/unit/gateway/test_gateway_routing.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from xtrinode.models.routes import RouteEntry, RouteTable

__all__ = [
    "GROUP_TAG",
    "RUNTIME_TAG",
    "XTRINODE_HEADER",
    "NoRoute",
    "Plan",
    "Preference",
    "Selection",
    "plan_new_query",
    "select_pool",
    "strip_port",
    "tag_values",
]

XTRINODE_HEADER: Final = "X-Trino-XTrinode"
"""Selects one runtime: its route `header` value, or `<namespace>/<name>` (not a Trino header: ours)."""

RUNTIME_TAG: Final = "xtrinode"
"""Client tag `xtrinode=<runtime>`: the header's selection for clients that cannot send headers."""
GROUP_TAG: Final = "xtrinode-group"
"""Client tag `xtrinode-group=<routing group>`."""

SelectorKind = Literal["header", "tag", "host", "routing-group", "group-tag", "source", "principal", "default"]


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
class Preference:
    """An implicit selection (a source rule or a principal's default): a runtime or a routing group."""

    kind: Literal["source", "principal"]
    runtime: str | None
    routing_group: str | None
    why: str
    """What chose it, for messages: `X-Trino-Source rule 'airflow*'`."""


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


def _by_runtime(table: RouteTable, value: str) -> tuple[RouteEntry, ...]:
    return tuple(r for r in table.routes if r.header == value or r.key == value)[:1]


def tag_values(client_tags: str | None, name: str) -> list[str]:
    """The values of tags `<name>=<value>` in an `X-Trino-Client-Tags` list (comma separated)."""
    if not client_tags:
        return []
    found = []
    for tag in client_tags.split(","):
        key, sep, value = tag.strip().partition("=")
        if sep and key.strip() == name and value.strip():
            found.append(value.strip())
    return found


def _one_tag(client_tags: str | None, name: str) -> str | None:
    values = tag_values(client_tags, name)
    if len(set(values)) > 1:
        raise NoRoute("tag", None, f"the client tags name {len(values)} different {name}= values; send one")
    return values[0] if values else None


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


_HOW_TO_CHOOSE = (
    "choose a runtime: with the trino CLI or JDBC add the client tag xtrinode=<namespace>/<name> "
    "(--client-tags, clientTags) or xtrinode-group=<routing group>; or ask your platform team for a default "
    "runtime for your user or X-Trino-Source; clients that send headers may use X-Trino-XTrinode: <namespace>/<name>"
)


def select_pool(
    table: RouteTable,
    *,
    xtrinode: str | None = None,
    host: str | None = None,
    routing_group: str | None = None,
    client_tags: str | None = None,
    preferences: tuple[Preference, ...] = (),
) -> Selection:
    """The routes for a request, by the precedence in this module's docstring.

    An explicit selector that matches nothing raises `NoRoute`; it never falls back to the default.
    A Host that matches no hostname (for example an IP address) is not a selector and falls through.
    """
    if xtrinode is not None and xtrinode.strip():
        value = xtrinode.strip()
        found = _by_runtime(table, value)
        if not found:
            raise NoRoute(
                "header",
                value,
                f"no XTrinode runtime matches {XTRINODE_HEADER}: {value!r}; "
                "send a runtime's header value or '<namespace>/<name>'",
            )
        return Selection("header", value, found)
    tagged = _one_tag(client_tags, RUNTIME_TAG)
    if tagged is not None:
        found = _by_runtime(table, tagged)
        if not found:
            raise NoRoute("tag", tagged, f"no XTrinode runtime matches the client tag {RUNTIME_TAG}={tagged}; "
                                         "tag a runtime's header value or '<namespace>/<name>'")
        return Selection("tag", tagged, found)
    if host:
        by_host = _select_by_host(table, host)
        if by_host is not None:
            return by_host
    for kind, asked in (("routing-group", routing_group), ("group-tag", _one_tag(client_tags, GROUP_TAG))):
        if asked is not None and asked.strip():
            group = asked.strip()
            pool = _by_group(table, group)
            if not pool:
                # Never list the groups that exist: the caller may not be allowed to know them.
                where = "X-Trino-Routing-Group" if kind == "routing-group" else f"client tag {GROUP_TAG}="
                raise NoRoute(
                    kind,  # type: ignore[arg-type]
                    group,
                    f"no routing group {group!r} ({where}); check the group name with your platform team",
                )
            return Selection(kind, group, pool)  # type: ignore[arg-type]
    for preference in preferences:
        if preference.runtime is not None:
            found = _by_runtime(table, preference.runtime)
            what = f"runtime {preference.runtime!r}"
        else:
            found = _by_group(table, preference.routing_group or "")
            what = f"routing group {preference.routing_group!r}"
        if not found:
            raise NoRoute(preference.kind, preference.why,
                          f"{preference.why} names {what}, which has no route (deleted?); tell your platform team")
        return Selection(preference.kind, preference.runtime or preference.routing_group, found)
    defaults = tuple(r for r in table.routes if r.default)
    if not defaults:
        raise NoRoute("default", None, f"no runtime was selected and there is no default route; {_HOW_TO_CHOOSE}")
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
