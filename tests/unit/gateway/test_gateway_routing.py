"""Route selection and pool planning (gateway/routing.py), pure.

Checks: selector precedence (X-Trino-XTrinode by header value and by namespace/name, the client tag
xtrinode=, Host by hostname and by <group>.<domain>, X-Trino-Routing-Group, the client tag
xtrinode-group=, source rules, principal defaults, default); unknown explicit selectors raise NoRoute
naming the value; the no-route error names the ways header-less clients can choose first; hosts that
name nothing fall through; balancing by in-flight per capacity unit; DRAINING/PAUSED/unusable backends
get no new queries; resume plans.
"""

from __future__ import annotations

import pytest

from gateway.routing import NoRoute, Preference, plan_new_query, select_pool, strip_port, tag_values
from xtrinode.models.routes import RouteEntry, RouteTable


def route(name: str, **kw: object) -> RouteEntry:
    fields: dict[str, object] = {
        "namespace": "team",
        "name": name,
        "backend": f"http://{name}:8080",
        "state": "RUNNING",
        "routing_group": "adhoc",
        "workflow_id": f"xtrinode/team/{name}",
    }
    fields.update(kw)
    return RouteEntry.model_validate(fields)


TABLE = RouteTable(
    routes=[
        route("a", header="alpha", hostname="a.trino.example.com", default=True),
        route("b", routing_group="etl", hostname_domain="trino.example.com"),
        route("c", routing_group="etl", hostname_domain="trino.example.com", capacity_units=2),
    ]
)


def keys(selection_pool: tuple[RouteEntry, ...]) -> list[str]:
    return [r.key for r in selection_pool]


def test_xtrinode_header_selects_by_header_value_or_namespace_name() -> None:
    assert keys(select_pool(TABLE, xtrinode="alpha").pool) == ["team/a"]
    assert keys(select_pool(TABLE, xtrinode="team/b", routing_group="adhoc").pool) == ["team/b"]


def test_unknown_xtrinode_header_is_an_error_not_a_fallback() -> None:
    with pytest.raises(NoRoute, match="'nope'") as info:
        select_pool(TABLE, xtrinode="nope")
    assert info.value.selector == "header"


def test_host_selects_by_hostname_ignoring_port_and_case() -> None:
    selection = select_pool(TABLE, host="A.Trino.Example.com:8443", routing_group="etl")
    assert (selection.selector, keys(selection.pool)) == ("host", ["team/a"])


def test_host_group_under_domain_selects_the_shared_pool() -> None:
    assert keys(select_pool(TABLE, host="etl.trino.example.com").pool) == ["team/b", "team/c"]


def test_unknown_group_under_a_known_domain_is_an_error() -> None:
    with pytest.raises(NoRoute, match="'bi'"):
        select_pool(TABLE, host="bi.trino.example.com")


def test_host_naming_nothing_falls_through_to_routing_group_then_default() -> None:
    assert keys(select_pool(TABLE, host="127.0.0.1:8080", routing_group="etl").pool) == ["team/b", "team/c"]
    assert select_pool(TABLE, host="127.0.0.1:8080").selector == "default"


def test_unknown_routing_group_is_an_error_that_lists_no_other_group() -> None:
    with pytest.raises(NoRoute, match="no routing group 'bi'") as info:
        select_pool(TABLE, routing_group="bi")
    assert "adhoc" not in info.value.message and "etl" not in info.value.message


def test_no_default_and_no_selector_names_the_ways_for_clients_without_headers_first() -> None:
    with pytest.raises(NoRoute, match="no default route") as info:
        select_pool(RouteTable(routes=[route("x")]))
    message = info.value.message
    assert message.index("client tag xtrinode=") < message.index("X-Trino-XTrinode"), message
    assert "--client-tags" in message and "clientTags" in message


def test_client_tags_select_a_runtime_or_a_group_as_the_headers_do() -> None:
    assert tag_values("etl-job, xtrinode=team/b ,x", "xtrinode") == ["team/b"]
    selection = select_pool(TABLE, client_tags="nightly,xtrinode=team/c", host="a.trino.example.com")
    assert (selection.selector, keys(selection.pool)) == ("tag", ["team/c"]), "the tag outranks Host"
    assert keys(select_pool(TABLE, client_tags="xtrinode=alpha").pool) == ["team/a"]
    assert keys(select_pool(TABLE, client_tags="xtrinode-group=etl").pool) == ["team/b", "team/c"]
    assert keys(select_pool(TABLE, xtrinode="team/b", client_tags="xtrinode=team/c").pool) == ["team/b"]
    with pytest.raises(NoRoute, match="xtrinode=nope"):
        select_pool(TABLE, client_tags="xtrinode=nope")
    with pytest.raises(NoRoute, match="different"):
        select_pool(TABLE, client_tags="xtrinode=team/b,xtrinode=team/c")


def test_source_rules_and_principal_defaults_come_before_the_default_route() -> None:
    source = Preference("source", "team/b", None, "X-Trino-Source rule 'airflow*'")
    mine = Preference("principal", None, "etl", "your default runtime")
    assert keys(select_pool(TABLE, preferences=(source, mine)).pool) == ["team/b"]
    assert keys(select_pool(TABLE, preferences=(mine,)).pool) == ["team/b", "team/c"]
    assert keys(select_pool(TABLE, routing_group="adhoc", preferences=(source,)).pool) == ["team/a"], \
        "an explicit selector outranks the implicit ones"
    with pytest.raises(NoRoute, match="X-Trino-Source rule 'airflow\\*' names runtime 'team/gone'"):
        select_pool(TABLE, preferences=(Preference("source", "team/gone", None, "X-Trino-Source rule 'airflow*'"),))


def test_strip_port_handles_ipv6_and_trailing_dot() -> None:
    assert strip_port("[::1]:8080") == "::1"
    assert strip_port("Host.Example.") == "host.example"


def test_pool_balances_on_inflight_per_capacity_unit() -> None:
    pool = select_pool(TABLE, routing_group="etl").pool
    load = {"team/b": 1, "team/c": 1}
    assert plan_new_query(pool, lambda e: True, lambda e: load[e.key]).entry.key == "team/c"
    load = {"team/b": 1, "team/c": 3}
    assert plan_new_query(pool, lambda e: True, lambda e: load[e.key]).entry.key == "team/b"


def test_draining_and_unusable_backends_get_no_new_queries() -> None:
    pool = (route("b", state="DRAINING"), route("c"), route("d"))
    plan = plan_new_query(pool, lambda e: e.name != "c", lambda e: 0)
    assert (plan.action, plan.entry.name) == ("forward", "d")


def test_paused_runtime_is_resumed_when_nothing_is_usable() -> None:
    pool = (route("b", state="PAUSED"), route("c", state="DRAINING"))
    plan = plan_new_query(pool, lambda e: True, lambda e: 0)
    assert (plan.action, plan.entry.name) == ("resume", "b")


def test_running_but_unready_runtime_is_resumed_not_forwarded() -> None:
    plan = plan_new_query((route("b"),), lambda e: False, lambda e: 0)
    assert (plan.action, plan.entry.name) == ("resume", "b")
