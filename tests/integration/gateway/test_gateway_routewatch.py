"""The route watch survives the Kubernetes API going away: reconnect with backoff, list again, keep routing.

Checks: with the API server stopped, the gateway keeps its last table and keeps routing; when an API
server with the same state comes back on the same address, a route change made there is picked up
without a gateway restart (the watch re-lists when its resourceVersion is no longer served).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp

from conftest import GatewayFactory, RoutesConfigMap
from gateway_helpers import eventually, query, route
from test_gateway_routes import coordinator_id, served_by
from xtrinode.devstack.kubeapi import KubeApiServer
from xtrinode.devstack.trino import TrinoNode


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
