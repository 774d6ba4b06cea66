"""Fixtures for the gateway integration tests: the Kubernetes API emulator, Trino emulator coordinators
and gateways built with the production `create_app`, served on loopback port 0.

Each test gets its own namespace for the routes ConfigMap; coordinators are session-scoped (tests that
need their own start one with `TrinoNode`). Nothing here reaches into gateway internals except metrics.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from gateway import GatewaySettings, create_app
from gateway.app import METRICS
from gateway_helpers import PAGE_ROWS
from xtrinode.devstack.kubeapi import KubeApiServer
from xtrinode.devstack.trino import NodeSettings, TrinoNode
from xtrinode.models.routes import ROUTES_CONFIGMAP, ROUTES_KEY, RouteEntry, RouteTable

_counter = itertools.count()


def coordinator_settings(**kw: Any) -> NodeSettings:
    """A single-node coordinator that accepts the gateway's X-Forwarded-* headers."""
    values: dict[str, Any] = {"port": 0, "page_rows": PAGE_ROWS, "environment": "gateway-test", "process_forwarded": True}
    values.update(kw)
    return NodeSettings(**values)


@pytest.fixture(scope="session")
async def kube() -> AsyncIterator[KubeApiServer]:
    async with KubeApiServer(port=0) as server:
        yield server


@pytest.fixture(scope="session")
def kubeconfig(kube: KubeApiServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kube.write_kubeconfig(tmp_path_factory.mktemp("gw-kube") / "kubeconfig")


@pytest.fixture(scope="session")
async def coordinators() -> AsyncIterator[tuple[TrinoNode, TrinoNode]]:
    """Two coordinators (for shared pools); tests use them read-only."""
    async with TrinoNode(coordinator_settings()) as a, TrinoNode(coordinator_settings()) as b:
        yield a, b


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class RoutesConfigMap:
    """Writes the routes ConfigMap of one namespace through the kube API, as the activities do."""

    def __init__(self, http: aiohttp.ClientSession, server: str, namespace: str) -> None:
        self.http, self.namespace = http, namespace
        self.url = f"{server}/api/v1/namespaces/{namespace}/configmaps"

    async def write_text(self, text: str) -> None:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ROUTES_CONFIGMAP}, "data": {ROUTES_KEY: text}}
        async with self.http.put(f"{self.url}/{ROUTES_CONFIGMAP}", json=body) as response:
            if response.status == 404:
                async with self.http.post(self.url, json=body) as created:
                    assert created.status == 201, await created.text()
                return
            assert response.status == 200, await response.text()

    async def write(self, *routes: RouteEntry) -> None:
        await self.write_text(RouteTable(routes=list(routes)).to_yaml())


@pytest.fixture
async def routes_cm(kube: KubeApiServer, http: aiohttp.ClientSession, request: pytest.FixtureRequest) -> RoutesConfigMap:
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    namespace = f"gw-{base}-{next(_counter)}"
    async with http.post(f"{kube.url}/api/v1/namespaces", json={"metadata": {"name": namespace}}) as response:
        assert response.status == 201, await response.text()
    return RoutesConfigMap(http, kube.url, namespace)


@dataclass
class RunningGateway:
    app: web.Application
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metric(self, name: str, **labels: str) -> float:
        value = self.app[METRICS].registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


GatewayFactory = Callable[..., contextlib.AbstractAsyncContextManager[RunningGateway]]


@pytest.fixture
def gateway_settings(kubeconfig: Path, routes_cm: RoutesConfigMap) -> Callable[..., GatewaySettings]:
    """Settings for a test gateway: port 0, the emulator's kubeconfig, this test's namespace; overrides merge."""

    def build(**sections: Any) -> GatewaySettings:
        data: dict[str, Any] = {
            "listen": {"host": "127.0.0.1", "port": 0},
            "kube": {"kubeconfig": str(kubeconfig)},
            "routes": {"namespace": routes_cm.namespace},
            "health": {"interval": "1s", "timeout": "1s"},
        }
        for key, value in sections.items():
            data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
        return GatewaySettings.model_validate(yaml.safe_load(yaml.safe_dump(data)))

    return build


@pytest.fixture
def start_gateway(gateway_settings: Callable[..., GatewaySettings]) -> GatewayFactory:
    """`async with start_gateway(**sections) as gw:` serves a production-factory gateway until the block ends."""

    @contextlib.asynccontextmanager
    async def run(wait_ready: bool = True, **sections: Any) -> AsyncIterator[RunningGateway]:
        app = create_app(gateway_settings(**sections))
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            gw = RunningGateway(app, int(runner.addresses[0][1]))
            if wait_ready:
                from gateway_helpers import eventually

                async with aiohttp.ClientSession() as session:

                    async def ready() -> bool:
                        async with session.get(f"{gw.url}/readyz") as response:
                            return response.status == 200

                    await eventually(ready, "the gateway to load its route table (/readyz 200)")
            yield gw
        finally:
            await runner.cleanup()

    return run
