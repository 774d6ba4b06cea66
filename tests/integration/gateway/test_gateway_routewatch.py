"""The route watch survives the Kubernetes API going away: reconnect with backoff, list again, keep routing.

Checks: with the API server stopped, the gateway keeps its last table and keeps routing; when an API
server with the same state comes back on the same address, a route change made there is picked up
without a gateway restart; a watch answered with ERROR 410 (Expired) lists again and watches from
the new resourceVersion.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp

from gateway_helpers import (
    GatewayFactory,
    RoutesConfigMap,
    coordinator_id,
    eventually,
    query,
    route,
    served_by,
)
from devstack.kubeapi import KubeApiServer
from devstack.trino import TrinoNode


async def test_route_watch_reconnects_after_the_api_server_restarts(
    coordinators: tuple[TrinoNode, TrinoNode], start_gateway: GatewayFactory, http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    a, b = coordinators
    ids = {await coordinator_id(http, a): "a", await coordinator_id(http, b): "b"}
    state = tmp_path / "kube-state.json"
    server = KubeApiServer(port=0, state_file=state)
    await server.start()
    try:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        routes = RoutesConfigMap(http, server.url, "gw-restart")
        async with http.post(f"{server.url}/api/v1/namespaces", json={"metadata": {"name": "gw-restart"}}) as response:
            assert response.status == 201
        await routes.write(route("gw-restart", "one", a.url, default=True))
        async with start_gateway(kube={"kubeconfig": str(kubeconfig)}, routes={"namespace": "gw-restart"}) as gw:
            assert await served_by(http, gw.url, ids) == "a"
            port = server.port
            await server.stop()
            assert await query(gw.port, "SELECT 1") == [[1]]  # the last table still routes
            server = KubeApiServer(port=port, state_file=state)
            await server.start()
            await RoutesConfigMap(http, server.url, "gw-restart").write(route("gw-restart", "one", b.url, default=True))

            async def moved() -> bool:
                return await served_by(http, gw.url, ids) == "b"

            await eventually(moved, "the gateway to follow a route change made after the API server restarted", timeout=20)
    finally:
        await server.stop()


async def test_route_watch_lists_again_on_410_expired(
    coordinators: tuple[TrinoNode, TrinoNode], start_gateway: GatewayFactory, http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    import asyncio
    import json

    from aiohttp import web

    from xtrinode.models.routes import RouteTable

    a, b = coordinators
    ids = {await coordinator_id(http, a): "a", await coordinator_id(http, b): "b"}
    lists: list[str] = []
    watches: list[str] = []
    tables = [RouteTable(routes=[route("ns", "one", node.url, default=True)]).to_yaml() for node in (a, b)]

    async def configmaps(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "1":
            version = str(len(lists) + 1)
            lists.append(version)
            item = {"metadata": {"name": "trino-gateway-routes", "resourceVersion": version},
                    "data": {"routes.yaml": tables[min(len(lists), 2) - 1]}}
            return web.json_response({"metadata": {"resourceVersion": version}, "items": [item]})
        watches.append(request.query["resourceVersion"])
        response = web.StreamResponse()
        await response.prepare(request)
        if len(watches) == 1:  # the first watch: its version is gone
            event = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
            await response.write(json.dumps(event).encode() + b"\n")
        else:
            await asyncio.sleep(0.3)  # an idle watch that times out
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/ns/configmaps", configmaps)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = f"http://127.0.0.1:{runner.addresses[0][1]}"
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "clusters": [{"name": "c", "cluster": {"server": server}}], "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "current-context": "x",
        }))
        async with start_gateway(kube={"kubeconfig": str(kubeconfig)}, routes={"namespace": "ns"}) as gw:

            async def relisted() -> bool:
                return len(lists) >= 2 and await served_by(http, gw.url, ids) == "b"

            await eventually(relisted, "a second list after the 410 and the table it returned")
            assert watches[:2] == ["1", "2"]  # watched from the first list, then from the second
    finally:
        await runner.cleanup()
