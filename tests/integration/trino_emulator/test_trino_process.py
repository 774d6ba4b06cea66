"""`python -m devstack.trino` as a real OS process, the way the kubelet will run it.

Checks: with no config dir it serves a single-node coordinator the real client can query; it
stops cleanly on SIGTERM; a rendered-style config dir is honoured (node.properties, catalog
files with `${ENV:...}` resolved, SHOW CATALOGS lists them, the secret never appears in logs);
a missing env var stops startup with exit 2, a taken port with exit 1; a worker process told SHUTTING_DOWN exits by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from trino_helpers import eventually, fetch_all, seconds
from devstack.trino import NodeSettings, TrinoNode

SECRET = "pg-s3cret-Value-81d2"


class EmulatorProcess:
    """A child emulator process whose JSON log lines are collected as they arrive."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self.url: str | None = None
        self.listening = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("message") == "listening":
                    self.url = entry["uri"]
                    self.listening.set()

    @property
    def port(self) -> int:
        assert self.url is not None
        return int(self.url.rsplit(":", 1)[1])

    async def wait_listening(self) -> str:
        waiter = asyncio.ensure_future(self.listening.wait())
        done, _ = await asyncio.wait({waiter, self._reader}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert self.url is not None, "emulator did not log 'listening':\n" + "\n".join(self.lines[-20:])
        return self.url

    async def finish(self, timeout: float = 15) -> int:
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await self._reader
        return code

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        await self._reader


@contextlib.asynccontextmanager
async def emulator(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[EmulatorProcess]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devstack.trino", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    child = EmulatorProcess(process)
    try:
        yield child
    finally:
        await child.kill()


async def test_module_runs_a_single_node_coordinator_for_the_real_client() -> None:
    async with emulator("--role", "coordinator", "--port", "0") as child:
        await child.wait_listening()
        node = child
        assert (await asyncio.to_thread(fetch_all, node, "SELECT 1"))[0] == [[1]]
        rows, _ = await asyncio.to_thread(fetch_all, node, "SELECT count(*) FROM tpch.tiny.nation")
        assert rows == [[25]]
        assert (await asyncio.to_thread(fetch_all, node, "SHOW CATALOGS"))[0] == [["system"], ["tpch"]]
        child.process.send_signal(signal.SIGTERM)
        assert await child.finish() == 0
    entries = [json.loads(line) for line in child.lines if line.startswith("{")]
    assert entries and all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    assert any(entry["message"] == "stopping" and entry["reason"] == "signal" for entry in entries)


def _config_dir(root: Path) -> Path:
    (root / "catalog").mkdir(parents=True)
    (root / "config.properties").write_text(
        "coordinator=true\nhttp-server.http.port=0\nhttp-server.process-forwarded=true\n"
        "node-scheduler.include-coordinator=true\nquery-manager.required-workers=1\n"
        "query-manager.required-workers-max-wait=5m\nshutdown.grace-period=30s\n"
    )
    (root / "node.properties").write_text(
        "node.environment=devstack\nnode.data-dir=/data/trino\nnode.id=${ENV:HOSTNAME}\n"
    )
    (root / "catalog" / "tpch.properties").write_text("connector.name=tpch\n")
    (root / "catalog" / "sales.properties").write_text(
        "connector.name=postgresql\nconnection-url=jdbc:postgresql://db:5432/sales\n"
        "connection-user=reader\nconnection-password=${ENV:CATALOG_SALES_CONNECTION_PASSWORD}\n"
    )
    return root


async def test_config_dir_catalogs_resolve_env_placeholders_without_logging_them(tmp_path: Path) -> None:
    env = {"CATALOG_SALES_CONNECTION_PASSWORD": SECRET, "HOSTNAME": "trino-demo-coordinator-0"}
    async with emulator("--config-dir", str(_config_dir(tmp_path)), env=env) as child:
        url = await child.wait_listening()
        node = child
        catalogs, _ = await asyncio.to_thread(fetch_all, node, "SHOW CATALOGS")
        assert catalogs == [["sales"], ["system"], ["tpch"]]
        rows, _ = await asyncio.to_thread(
            fetch_all, node,
            "SELECT property_name, from_env, value_sha256 FROM system.emulator.catalog_properties "
            "WHERE catalog_name = 'sales' ORDER BY property_name",
        )
        assert ["connection-password", True, hashlib.sha256(SECRET.encode()).hexdigest()] in rows
        assert ["connection-user", False, hashlib.sha256(b"reader").hexdigest()] in rows
        async with aiohttp.ClientSession() as http, http.get(f"{url}/v1/status") as response:
            status = await response.json()
        assert (status["environment"], status["nodeId"]) == ("devstack", "trino-demo-coordinator-0")
        child.process.send_signal(signal.SIGTERM)
        assert await child.finish() == 0
    assert child.lines and not any(SECRET in line for line in child.lines)


async def test_missing_env_variable_stops_startup_naming_the_variable(tmp_path: Path) -> None:
    assert "CATALOG_SALES_CONNECTION_PASSWORD" not in os.environ
    async with emulator("--config-dir", str(_config_dir(tmp_path)), env={"HOSTNAME": "x"}) as child:
        assert await child.finish() == 2
    assert any("'CATALOG_SALES_CONNECTION_PASSWORD' is not set" in line for line in child.lines)


async def test_port_in_use_exits_1_with_a_log_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with emulator("--port", str(port)) as child:
            assert await child.finish() == 1
    assert any('"cannot listen"' in line and str(port) in line for line in child.lines)


async def test_worker_process_exits_after_graceful_shutdown(tmp_path: Path) -> None:
    settings = NodeSettings(port=0, include_coordinator=False, node_poll_interval=seconds(0.1))
    async with TrinoNode(settings) as coordinator, aiohttp.ClientSession() as http:
        config = tmp_path / "etc"
        config.mkdir()
        (config / "config.properties").write_text("coordinator=false\n")
        (config / "access-control.properties").write_text("access-control.name=allow-all\n")
        async with emulator("--config-dir", str(config), "--port", "0", "--discovery-uri", coordinator.url,
                            "--announce-interval", "100ms", "--shutdown-grace-period", "200ms") as child:
            worker_url = await child.wait_listening()

            async def active() -> bool:
                async with http.get(f"{coordinator.url}/v1/node", headers={"X-Trino-User": "ops"}) as response:
                    return any(n["uri"] == worker_url and n["state"] == "ACTIVE" for n in await response.json())

            await eventually(active, "the worker process to be ACTIVE on the coordinator")
            assert (await asyncio.to_thread(fetch_all, coordinator, "SELECT 1"))[0] == [[1]]
            async with http.put(f"{worker_url}/v1/info/state", data=json.dumps("SHUTTING_DOWN"),
                                headers={"X-Trino-User": "ops", "Content-Type": "application/json"}) as response:
                assert response.status == 200
            assert await child.finish(timeout=10) == 0
        entries = [json.loads(line) for line in child.lines if line.startswith("{")]
        messages = [entry["message"] for entry in entries]
        assert messages.index("Shutdown requested") < messages.index("Shutting down the process")
        assert any(entry.get("reason") == "graceful shutdown" for entry in entries)
