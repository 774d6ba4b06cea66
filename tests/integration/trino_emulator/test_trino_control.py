"""Control and status endpoints, as the kubelet, activities and gateway use them; the coordinator tests run
on the emulator and on real Trino 476 (contract), the worker and special-config ones on the emulator.

Checks: /v1/info fields exactly as Trino 476 (airlift uptime; no nodeId, state or coordinatorId), `starting`
during the startup delay (queries fail SERVER_STARTING_UP meanwhile), /v1/info/state as a JSON string,
/v1/info/coordinator 200/404, /v1/status, /metrics gauges, PUT /v1/info/state rules (coordinator 500,
415, 400 for illegal transitions, DRAINING -> DRAINED -> ACTIVE) and, with PASSWORD auth from a
config directory, 401/403 unless the control user named by the access-control rules calls.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trino

from trino_facts import AIRLIFT_DURATION
from trino_helpers import Backend, HasUrl, eventually, fetch_all, seconds
from devstack.trino import AccessControl, NodeSettings, TrinoNode, hash_password, load_settings

USER = {"X-Trino-User": "ops"}
ALLOW_ALL = AccessControl(name="allow-all")
"""`access-control.name=allow-all`: what a node needs before anyone may PUT its state (Trino's
`default` access control, used when none is configured, refuses graceful shutdown)."""
JSON = {"Content-Type": "application/json"}


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def _json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as response:
        assert response.status == 200, url
        return await response.json()


async def _put_state(http: aiohttp.ClientSession, node: HasUrl, state: str, **headers: str) -> tuple[int, str]:
    async with http.put(f"{node.url}/v1/info/state", data=json.dumps(state), headers={**JSON, **headers}) as r:
        return r.status, await r.text()


async def test_info_reports_trino_476_fields_only(backend: Backend, http: aiohttp.ClientSession) -> None:
    info = await _json(http, f"{backend.url}/v1/info")
    assert set(info) == {"nodeVersion", "environment", "coordinator", "starting", "uptime"}
    assert info["nodeVersion"] == {"version": "476"}
    assert info["environment"] == backend.environment
    assert info["coordinator"] is True and info["starting"] is False
    assert AIRLIFT_DURATION.match(info["uptime"])


async def test_state_is_a_json_string_and_coordinator_probe(backend: Backend, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{backend.url}/v1/info/state") as response:
        assert await response.text() == '"ACTIVE"'
        assert response.headers["Content-Type"] == "application/json"
    async with http.get(f"{backend.url}/v1/info/coordinator") as response:
        assert response.status == 200


async def test_a_worker_is_no_coordinator(http: aiohttp.ClientSession) -> None:
    async with TrinoNode(NodeSettings(port=0, coordinator=False)) as worker:
        async with http.get(f"{worker.url}/v1/info/coordinator") as response:
            assert response.status == 404
        info = await _json(http, f"{worker.url}/v1/info")
        assert info["coordinator"] is False and "coordinatorId" not in info
        async with http.post(f"{worker.url}/v1/statement", data="SELECT 1", headers=USER) as response:
            assert response.status in (404, 405), "workers do not serve the statement API"


async def test_status_answers_get_and_head(backend: Backend, http: aiohttp.ClientSession) -> None:
    status = await _json(http, f"{backend.url}/v1/status")
    assert set(status) == {"nodeId", "nodeVersion", "environment", "coordinator", "uptime", "externalAddress",
                           "internalAddress", "memoryInfo", "processors", "processCpuLoad", "systemCpuLoad",
                           "heapUsed", "heapAvailable", "nonHeapUsed"}
    async with http.head(f"{backend.url}/v1/status") as response:
        assert response.status == 200


async def test_metrics_expose_query_and_node_gauges(backend: Backend, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{backend.url}/metrics") as response:
        assert response.status == 401
    running = asyncio.create_task(asyncio.to_thread(fetch_all, backend, backend.sleep_sql(3, "metric_probe")))

    async def gauges() -> dict[str, float] | None:
        async with http.get(f"{backend.url}/metrics", headers=USER) as response:
            assert response.headers["Content-Type"].startswith("application/openmetrics-text")
            text = await response.text()
        assert text.endswith("# EOF\n")
        values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if not line.startswith("#")}
        return values if values["trino_execution_name_QueryManager_RunningQueries"] >= 1 else None

    values = await eventually(gauges, "RunningQueries >= 1 while a query sleeps")
    assert values["trino_execution_name_QueryManager_QueuedQueries"] == 0
    assert values["trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount"] == 1
    assert (await running)[0] == [[True]]


FORBIDDEN = (403, "Error 403 Forbidden: Management only resource")


async def test_without_access_control_nobody_may_change_a_nodes_state(
    backend: Backend, http: aiohttp.ClientSession
) -> None:
    # Trino 476 with no access-control.properties uses `default`: 403 even for a no-op transition.
    assert await _put_state(http, backend, "ACTIVE", **USER) == FORBIDDEN


async def test_without_access_control_a_worker_refuses_shutdown(http: aiohttp.ClientSession) -> None:
    async with TrinoNode(NodeSettings(port=0, coordinator=False)) as worker:
        assert await _put_state(http, worker, "SHUTTING_DOWN", **USER) == FORBIDDEN
        assert (await _json(http, f"{worker.url}/v1/info/state")) == "ACTIVE"


async def test_coordinator_cannot_be_shut_down(http: aiohttp.ClientSession) -> None:
    async with TrinoNode(NodeSettings(port=0, access_control=ALLOW_ALL)) as coordinator:
        assert await _put_state(http, coordinator, "SHUTTING_DOWN", **USER) == (500, "Cannot shutdown coordinator")
        assert await _put_state(http, coordinator, "DRAINING", **USER) == (500, "Cannot drain coordinator")
        assert await _put_state(http, coordinator, "ACTIVE", **USER) == (200, "")
        async with http.put(f"{coordinator.url}/v1/info/state", data='"ACTIVE"',
                            headers={**USER, "Content-Type": "text/plain"}) as response:
            assert response.status == 415


async def test_info_reports_starting_during_startup_delay(http: aiohttp.ClientSession) -> None:
    async with TrinoNode(NodeSettings(port=0, startup_delay=seconds(0.8))) as node:
        info = await _json(http, f"{node.url}/v1/info")
        assert info["starting"] is True
        with pytest.raises(trino.exceptions.TrinoQueryError) as caught:
            await asyncio.to_thread(fetch_all, node, "SELECT 1")
        assert caught.value.error_name == "SERVER_STARTING_UP"

        async def started() -> bool:
            return (await _json(http, f"{node.url}/v1/info"))["starting"] is False

        await eventually(started, "starting to become false after the startup delay", timeout=5)
        assert (await asyncio.to_thread(fetch_all, node, "SELECT 1"))[0] == [[1]]


async def test_worker_drains_reactivates_and_shuts_down_at_once_when_drained(http: aiohttp.ClientSession) -> None:
    settings = NodeSettings(port=0, coordinator=False, shutdown_grace_period=seconds(0.4), access_control=ALLOW_ALL)
    async with TrinoNode(settings) as worker:
        assert await _put_state(http, worker, "INACTIVE", **USER) == (400, "Invalid state transition to INACTIVE")
        assert await _put_state(http, worker, "DRAINING", **USER) == (200, "")

        async def drained() -> bool:
            async with http.get(f"{worker.url}/v1/info/state") as response:
                return await response.text() == '"DRAINED"'

        await eventually(drained, "the worker to reach DRAINED after the grace period")
        assert await _put_state(http, worker, "ACTIVE", **USER) == (200, "")
        assert (await _json(http, f"{worker.url}/v1/info/state")) == "ACTIVE"
        assert not worker.exit_requested.is_set()
        assert await _put_state(http, worker, "DRAINING", **USER) == (200, "")
        await eventually(drained, "the worker to reach DRAINED again")
        assert await _put_state(http, worker, "SHUTTING_DOWN", **USER) == (200, "")
        await asyncio.wait_for(worker.exit_requested.wait(), timeout=0.35)  # from DRAINED: no grace period


def _password_config(tmp_path: Path, allow_insecure: bool) -> Path:
    (tmp_path / "catalog").mkdir()
    (tmp_path / "config.properties").write_text(
        "coordinator=false\nhttp-server.http.port=0\nshutdown.grace-period=30s\n"
        "http-server.authentication.type=PASSWORD\ninternal-communication.shared-secret=test-shared-secret\n"
        f"http-server.authentication.allow-insecure-over-http={'true' if allow_insecure else 'false'}\n"
    )
    (tmp_path / "node.properties").write_text("node.environment=auth-test\nnode.id=worker-auth\n")
    (tmp_path / "password-authenticator.properties").write_text(
        "password-authenticator.name=file\nfile.password-file=password.db\n"
    )
    (tmp_path / "password.db").write_text(
        f"xtrinode-operator:{hash_password('op-pass')}\nanalyst:{hash_password('analyst-pass')}\n"
    )
    (tmp_path / "access-control.properties").write_text("access-control.name=file\nsecurity.config-file=rules.json\n")
    (tmp_path / "rules.json").write_text(json.dumps({"system_information": [
        {"user": "xtrinode-operator", "allow": ["read", "write"]}, {"user": ".*", "allow": ["read"]},
    ]}))
    return tmp_path


async def test_shutdown_needs_the_control_user_with_password_auth(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    settings = load_settings(_password_config(tmp_path, allow_insecure=True), {"port": 0})
    async with TrinoNode(settings) as worker:
        assert (await _put_state(http, worker, "SHUTTING_DOWN"))[0] == 401
        assert (await _put_state(http, worker, "SHUTTING_DOWN", **USER))[0] == 401
        assert (await _put_state(http, worker, "SHUTTING_DOWN", **_basic("xtrinode-operator", "wrong")))[0] == 401
        assert await _put_state(http, worker, "SHUTTING_DOWN", **_basic("analyst", "analyst-pass")) == FORBIDDEN
        assert await _put_state(http, worker, "SHUTTING_DOWN", **_basic("xtrinode-operator", "op-pass")) == (200, "")
        assert await _put_state(http, worker, "SHUTTING_DOWN", **_basic("xtrinode-operator", "op-pass")) == (200, "")
        assert await _put_state(http, worker, "ACTIVE", **_basic("xtrinode-operator", "op-pass")) == (
            400, "Invalid state transition to ACTIVE")
        assert (await _json(http, f"{worker.url}/v1/info/state")) == "SHUTTING_DOWN"


async def test_password_auth_over_plain_http_is_refused_unless_allowed(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    settings = load_settings(_password_config(tmp_path, allow_insecure=False), {"port": 0})
    async with TrinoNode(settings) as worker:
        status, text = await _put_state(http, worker, "SHUTTING_DOWN", **_basic("xtrinode-operator", "op-pass"))
        assert (status, text) == (403, "Error 403 Forbidden: Authentication over HTTP is not enabled")
        assert (await _json(http, f"{worker.url}/v1/info/state")) == "ACTIVE"


async def test_bodies_are_gzipped_for_clients_that_accept_gzip_as_trino_does(backend: Backend) -> None:
    # Checked against Trino 476: /v1/info and statement pages come gzipped to a client sending
    # Accept-Encoding gzip; the 8-byte "ACTIVE" of /v1/info/state does not (Jetty's 32-byte minimum).
    async with aiohttp.ClientSession(auto_decompress=False) as raw:
        gzip_only = {"Accept-Encoding": "gzip", **USER}
        async with raw.get(f"{backend.url}/v1/info", headers=gzip_only) as response:
            assert response.headers.get("Content-Encoding") == "gzip"
            info = json.loads(gzip.decompress(await response.read()))
            assert info["coordinator"] is True
        async with raw.get(f"{backend.url}/v1/info/state", headers=gzip_only) as response:
            assert "Content-Encoding" not in response.headers and await response.read() == b'"ACTIVE"'
        async with raw.post(f"{backend.url}/v1/statement", data="SELECT 1", headers=gzip_only) as response:
            assert response.headers.get("Content-Encoding") == "gzip"
        async with raw.get(f"{backend.url}/v1/info", headers={"Accept-Encoding": "identity"}) as response:
            assert "Content-Encoding" not in response.headers, "plain for a client that does not accept gzip"
