"""The gateway as a process: `python -m gateway --config FILE` (what `xtrinode gateway` runs).

Checks: it reads the YAML settings plus an XTRINODE_GATEWAY__* override, loads the route table from
the kube API emulator (/readyz 200), proxies a query, and exits 0 on SIGTERM.
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

from gateway_helpers import RoutesConfigMap, eventually, query, route
from xtrinode.devstack.trino import TrinoNode


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
                                      "kube": {"kubeconfig": str(kubeconfig)}}))
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
