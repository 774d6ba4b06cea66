"""The gateway as a process: `python -m gateway --config FILE` (what `xtrinode gateway` runs).

Checks: it reads the YAML settings plus an XTRINODE_GATEWAY__* override, loads the route table from
the kube API emulator (/readyz 200), proxies a query, and exits 0 on SIGTERM; two gateway processes
sharing a real Redis continue each other's queries (sticky routes in Redis); so do two processes reading
the chart's shape of settings (`gateway:`-rooted, `redis.enabled/existingSecret/existingSecretKey`) with the
password of a password-protected Redis from the environment only.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
import yaml

from gateway_helpers import MULTI_PAGE_SQL, RoutesConfigMap, eventually, query, redis_server, route
from tests import leaks
from devstack.trino import TrinoNode
from devstack.ports import free_port as _free_port


async def test_gateway_process_serves_and_exits_0_on_sigterm(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, kubeconfig: Path, tmp_path: Path,
    http: aiohttp.ClientSession,
) -> None:
    a, _ = coordinators
    await routes_cm.write(route(routes_cm.namespace, "one", a.url, default=True))
    port = _free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"listen": {"host": "127.0.0.1", "port": 1}, "routes": {"namespace": routes_cm.namespace},
                                      "kube": {"kubeconfig": str(kubeconfig)}, "internal": {"host": "127.0.0.1", "port": 0}}))
    env = {**os.environ, "XTRINODE_GATEWAY__LISTEN__PORT": str(port)}
    log = (tmp_path / "gateway.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "--config", str(config), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=log,
    )
    try:

        async def ready() -> bool:
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                    return response.status == 200
            except aiohttp.ClientConnectionError:
                return False

        await eventually(ready, f"the gateway process to become ready (log: {tmp_path / 'gateway.log'})", timeout=20)
        assert await query(port, "SELECT 1") == [[1]]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()
    assert b'"gateway stopping"' in (tmp_path / "gateway.log").read_bytes()


async def _two_processes_continue_each_others_query(
    config: Path, env: dict[str, str], tmp_path: Path, http: aiohttp.ClientSession, backend: TrinoNode
) -> None:
    """Start two gateway processes on `config`; a multi-page query started through the first is paged to
    the end through the second, which must find the backend in Redis."""
    ports, procs, logs = [_free_port(), _free_port()], [], []
    try:
        for i, port in enumerate(ports):
            logs.append((tmp_path / f"gateway-{i}.log").open("wb"))
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", "--config", str(config),
                env={**os.environ, **env, "XTRINODE_GATEWAY__LISTEN__PORT": str(port)},
                stdout=asyncio.subprocess.DEVNULL, stderr=logs[-1]))
        for i, port in enumerate(ports):

            async def ready(port: int = port) -> bool:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(ready, f"gateway process on port {port} ready (log {tmp_path}/gateway-{i}.log)",
                             timeout=20)
        user = {"X-Trino-User": "alice"}
        async with http.post(f"http://127.0.0.1:{ports[0]}/v1/statement", data=MULTI_PAGE_SQL,
                             headers=user) as response:
            page = await response.json()
        rows: list[object] = []
        while "nextUri" in page:
            # Every follow-up goes to the OTHER process, which must find the backend in Redis.
            path = page["nextUri"].split("/", 3)[3]
            async with http.get(f"http://127.0.0.1:{ports[1]}/{path}", headers=user) as response:
                assert response.status == 200, await response.text()
                page = await response.json()
            rows.extend(page.get("data") or [])
        assert "error" not in page
        direct = await query(int(backend.url.rsplit(":", 1)[1]), MULTI_PAGE_SQL)
        assert rows == direct and len(rows) > 100
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 15)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        for log in logs:
            log.close()


async def test_two_gateway_processes_share_sticky_routes_through_redis(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, kubeconfig: Path, tmp_path: Path,
    http: aiohttp.ClientSession, redis_url: str,
) -> None:
    """A multi-page query started through one gateway process is paged to the end through another."""
    a, _ = coordinators
    await routes_cm.write(route(routes_cm.namespace, "one", a.url, default=True))
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": 1}, "routes": {"namespace": routes_cm.namespace},
        "kube": {"kubeconfig": str(kubeconfig)}, "internal": {"host": "127.0.0.1", "port": 0},
        "redis": {"url": redis_url, "keyPrefix": f"proc-{tmp_path.name}:"},
    }))
    await _two_processes_continue_each_others_query(config, {}, tmp_path, http, a)


@pytest.fixture
def redis_with_password() -> Iterator[tuple[str, str]]:
    """A redis-server that refuses commands without its password (as a production Redis does)."""
    password = secrets.token_urlsafe(16)
    leaks.register(password, "Redis password (redis_with_password)")
    with redis_server("--requirepass", password) as (url, _proc):
        yield url, password


async def test_chart_shaped_settings_reach_a_password_protected_redis(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, kubeconfig: Path, tmp_path: Path,
    http: aiohttp.ClientSession, redis_with_password: tuple[str, str],
) -> None:
    """The settings file the chart writes (everything under `gateway:`, `redis.enabled`, `existingSecret`,
    `existingSecretKey`, no password in it) plus the password from the environment (the chart maps the
    Secret's key there): two processes share sticky routes through a Redis that requires the password."""
    a, _ = coordinators
    url, password = redis_with_password
    await routes_cm.write(route(routes_cm.namespace, "one", a.url, default=True))
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"gateway": {
        "listen": {"host": "127.0.0.1", "port": 1}, "routes": {"namespace": routes_cm.namespace},
        "kube": {"kubeconfig": str(kubeconfig)}, "internal": {"host": "127.0.0.1", "port": 0},
        "redis": {"enabled": True, "url": url, "existingSecret": "gateway-redis", "existingSecretKey": "redis-password",
                  "keyPrefix": f"pw-{tmp_path.name}:"},
    }}))
    assert password not in config.read_text()
    await _two_processes_continue_each_others_query(
        config, {"XTRINODE_GATEWAY__REDIS__PASSWORD": password}, tmp_path, http, a)
    client = aioredis.Redis.from_url(url, password=password)
    try:
        stored = await client.keys(f"pw-{tmp_path.name}:*")
    finally:
        await client.aclose()
    assert stored, "the gateways wrote no sticky mapping into the password-protected Redis"
