"""Fixtures for the gateway integration tests: the Kubernetes API emulator, Trino emulator coordinators
and gateways built with the production `create_app`, served on loopback port 0.

Each test gets its own namespace for the routes ConfigMap; coordinators are module-scoped (tests that
need their own start one with `TrinoNode`). Nothing here reaches into gateway internals except metrics.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from gateway import GatewaySettings
from gateway.cli import start_serving
from gateway_helpers import GatewayFactory, RoutesConfigMap, RunningGateway, coordinator_settings, eventually
from tests.kube_fixtures import namespace_name
from devstack.kubeapi import KubeApiServer
from devstack.trino import TrinoNode



@pytest.fixture(scope="session")
async def kube() -> AsyncIterator[KubeApiServer]:
    async with KubeApiServer(port=0) as server:
        yield server


@pytest.fixture(scope="session")
def kubeconfig(kube: KubeApiServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kube.write_kubeconfig(tmp_path_factory.mktemp("gw-kube") / "kubeconfig")


@pytest.fixture(scope="module")
async def coordinators() -> AsyncIterator[tuple[TrinoNode, TrinoNode]]:
    """Two coordinators (for shared pools); tests use them read-only. Module-scoped, so their SQL threads
    are gone before the Trino emulator tests' session-end check for leftover threads."""
    async with TrinoNode(coordinator_settings()) as a, TrinoNode(coordinator_settings()) as b:
        yield a, b


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def routes_cm(kube: KubeApiServer, http: aiohttp.ClientSession, request: pytest.FixtureRequest) -> RoutesConfigMap:
    namespace = namespace_name(request, prefix="gw-")
    async with http.post(f"{kube.url}/api/v1/namespaces", json={"metadata": {"name": namespace}}) as response:
        assert response.status == 201, await response.text()
    return RoutesConfigMap(http, kube.url, namespace)


@pytest.fixture
def gateway_settings(kubeconfig: Path, routes_cm: RoutesConfigMap) -> Callable[..., GatewaySettings]:
    """Settings for a test gateway: port 0, the emulator's kubeconfig, this test's namespace; overrides merge."""

    def build(**sections: Any) -> GatewaySettings:
        data: dict[str, Any] = {
            "listen": {"host": "127.0.0.1", "port": 0},
            "kube": {"kubeconfig": str(kubeconfig)},
            "routes": {"namespace": routes_cm.namespace},
            "health": {"interval": "1s", "timeout": "1s"},
            "internal": {"host": "127.0.0.1", "port": 0},
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
        serving = await start_serving(gateway_settings(**sections))
        try:
            gw = RunningGateway(serving.app, serving.port, serving.internal_port, serving)
            if wait_ready:
                async with aiohttp.ClientSession() as session:

                    async def ready() -> bool:
                        async with session.get(f"{gw.url}/readyz") as response:
                            return response.status == 200

                    await eventually(ready, "the gateway to load its route table (/readyz 200)")
            yield gw
        finally:
            await serving.close(2.0)

    return run
