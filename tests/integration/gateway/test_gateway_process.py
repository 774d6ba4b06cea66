"""The gateway as a process: `python -m gateway --config FILE` (what `xtrinode gateway` runs).

Checks: it reads the YAML settings plus an XTRINODE_GATEWAY__* override, loads the route table from
the kube API emulator (/readyz 200), proxies a query, and exits 0 on SIGTERM; two gateway processes
sharing a real Redis continue each other's queries (sticky routes in Redis).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import yaml

from gateway_helpers import MULTI_PAGE_SQL, RoutesConfigMap, eventually, query, route
from devstack.trino import TrinoNode


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    ports, procs, logs = [_free_port(), _free_port()], [], []
    try:
        for i, port in enumerate(ports):
            logs.append((tmp_path / f"gateway-{i}.log").open("wb"))
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", "--config", str(config),
                env={**os.environ, "XTRINODE_GATEWAY__LISTEN__PORT": str(port)},
                stdout=asyncio.subprocess.DEVNULL, stderr=logs[-1]))
        for port in ports:

            async def ready(port: int = port) -> bool:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(ready, f"gateway process on port {port} ready", timeout=20)
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
        direct = await query(int(a.url.rsplit(":", 1)[1]), MULTI_PAGE_SQL)
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
