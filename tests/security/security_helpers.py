"""Tools of the security suite: a raw HTTP client that sends a request target and headers byte for byte
(no client-side normalisation of `..` or encodings), a coordinator that records every request reaching
it (a Trino emulator behind a recording hop: what the backend saw is the evidence), and a gateway run
as a real process from a settings file.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from devstack.kubeapi import KubeApiServer
from devstack.trino import NodeSettings, TrinoNode
from xtrinode.models.routes import ROUTES_CONFIGMAP, ROUTES_KEY, RouteEntry, RouteTable

T = TypeVar("T")

_names = itertools.count()

API_KEYS = {"alice-key": "ka-4f1d9c0e7b2a", "bob-key": "kb-93e0aa1c55d7", "ops-key": "ko-1b7e2d9f0c3a"}
"""key id -> key: alice (team-a), bob (team-b), ops (admin of everything, may impersonate)."""


def key(name: str) -> tuple[str, str]:
    """The X-API-Key header of `alice`, `bob` or `ops`."""
    return ("X-API-Key", API_KEYS[f"{name}-key"])


async def metric(gw: GatewayProcess, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`, read from the process's /metrics."""
    async with aiohttp.ClientSession() as http, http.get(gw.url + "/metrics") as response:
        text = await response.text()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{"):
            got = dict(part.split("=", 1) for part in line[len(name) + 1 : line.index("}")].split(","))
            if all(got.get(k) == f'"{v}"' for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class RawResponse:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def _header_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


async def raw_request(
    port: int,
    method: str | bytes,
    target: str | bytes,
    headers: Sequence[tuple[str | bytes, str | bytes]] = (),
    body: bytes = b"",
    timeout: float = 15.0,
) -> RawResponse:
    """One HTTP/1.1 request on a fresh connection, exactly as given (Connection: close); the response
    de-chunked. Host and Content-Length are added unless given."""
    lines = [_header_bytes(method) + b" " + _header_bytes(target) + b" HTTP/1.1"]
    names = {(_header_bytes(n)).lower() for n, _ in headers}
    if b"host" not in names:
        lines.append(f"Host: 127.0.0.1:{port}".encode())
    for name, value in headers:
        lines.append(_header_bytes(name) + b": " + _header_bytes(value))
    if b"content-length" not in names and (body or _header_bytes(method) in (b"POST", b"PUT")):
        lines.append(f"Content-Length: {len(body)}".encode())
    lines.append(b"Connection: close")
    payload = b"\r\n".join(lines) + b"\r\n\r\n" + body

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(payload)
            await writer.drain()
            return await reader.read()
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass

    data = await asyncio.wait_for(exchange(), timeout)
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    status = int(status_line.split(b" ")[1])
    parsed: CIMultiDict[str] = CIMultiDict()
    for line in header_lines:
        name, _, value = line.partition(b":")
        parsed.add(name.decode("latin-1").strip(), value.decode("latin-1").strip())
    if parsed.get("Transfer-Encoding", "").lower() == "chunked":
        rest = _dechunk(rest)
    return RawResponse(status, parsed, rest)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@dataclass
class Seen:
    """One request as the backend received it."""

    method: str
    path_qs: str
    headers: CIMultiDict[str]


class RecordingCoordinator:
    """A Trino emulator coordinator behind a hop that records every request reaching it (then passes it on)."""

    def __init__(self) -> None:
        self.node = TrinoNode(NodeSettings(port=0, page_rows=50, environment="security", process_forwarded=True))
        self.seen: list[Seen] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RecordingCoordinator:
        await self.node.start()
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._relay)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
        await self.node.stop()

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.method, request.raw_path, CIMultiDict(request.headers)))
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        body = await request.read()
        async with self._session.request(request.method, URL(self.node.url + request.raw_path, encoded=True),
                                         headers=headers, data=body, allow_redirects=False) as upstream:
            payload = await upstream.read()
            out_headers = {k: v for k, v in upstream.headers.items()
                           if k.lower() not in ("content-length", "transfer-encoding", "connection")}
            return web.Response(status=upstream.status, body=payload, headers=out_headers)


def route(namespace: str, name: str, backend: str, **kw: Any) -> RouteEntry:
    fields: dict[str, Any] = {
        "namespace": namespace, "name": name, "backend": backend, "state": "RUNNING",
        "routing_group": f"{namespace}--{name}", "workflow_id": f"xtrinode/{namespace}/{name}",
    }
    fields.update(kw)
    return RouteEntry.model_validate(fields)


async def write_routes(http: aiohttp.ClientSession, kube_url: str, namespace: str, *routes: RouteEntry) -> None:
    """Create the namespace (once) and write the routes ConfigMap, as the activities do."""
    async with http.post(f"{kube_url}/api/v1/namespaces", json={"metadata": {"name": namespace}}) as response:
        assert response.status in (201, 409), await response.text()
    url = f"{kube_url}/api/v1/namespaces/{namespace}/configmaps"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ROUTES_CONFIGMAP},
            "data": {ROUTES_KEY: RouteTable(routes=list(routes)).to_yaml()}}
    async with http.put(f"{url}/{ROUTES_CONFIGMAP}", json=body) as response:
        if response.status == 404:
            async with http.post(url, json=body) as created:
                assert created.status == 201, await created.text()
        else:
            assert response.status == 200, await response.text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class GatewayProcess:
    """`python -m gateway --config FILE` as a process: what a platform team runs."""

    config: dict[str, Any]
    workdir: Path
    port: int = field(default_factory=free_port)
    internal_port: int = field(default_factory=free_port)
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.internal_port}"

    @property
    def log(self) -> Path:
        return self.workdir / "gateway.log"

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"level": "RAW", "message": raw})
        return lines

    def rss_kib(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS line")

    async def start(self, wait_ready: bool = True) -> GatewayProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = {**self.config, "listen": {"host": "127.0.0.1", "port": self.port},
                  "internal": {"host": "127.0.0.1", "port": self.internal_port}}
        path = self.workdir / "gateway.yaml"
        path.write_text(yaml.safe_dump(config))
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", "--config", str(path), stdout=asyncio.subprocess.DEVNULL,
                stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        if wait_ready:
            await self.wait_status("/readyz", 200)
        return self

    async def wait_status(self, path: str, status: int, timeout: float = 20.0) -> None:
        async with aiohttp.ClientSession() as http:

            async def probe() -> bool:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise AssertionError(f"the gateway exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
                try:
                    async with http.get(self.url + path) as response:
                        return response.status == status
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(probe, f"{path} {status} from the gateway process (log {self.log})", timeout)

    async def stop(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        assert self.proc.returncode is not None
        return self.proc.returncode


RULES = [
    {"groups": ["team-a"], "runtimes": ["team-a/*"]},
    {"groups": ["team-b"], "runtimes": ["team-b/*"]},
    {"groups": ["platform"], "runtimes": ["*/*"], "admin": True},
]


class Gateways:
    """Starts gateway processes with the suite's routes in a fresh namespace each; stops them at the end."""

    def __init__(self, kube: KubeApiServer, kubeconfig: Path, workdir: Path, a: RecordingCoordinator,
                 b: RecordingCoordinator, temporal_address: str) -> None:
        self.kube, self.kubeconfig, self.workdir = kube, kubeconfig, workdir
        self.a, self.b, self.temporal_address = a, b, temporal_address
        self.started: list[GatewayProcess] = []

    async def start(self, wait_ready: bool = True, **config: Any) -> GatewayProcess:
        namespace = f"sec-{next(_names)}"
        async with aiohttp.ClientSession() as http:
            await write_routes(
                http, self.kube.url, namespace,
                route("team-a", "etl", self.a.url, header="etl"),
                route("team-b", "bi", self.b.url, default=True),
                route("team-a", "sleepy", "http://127.0.0.1:9", state="PAUSED"),
            )
        settings: dict[str, Any] = {
            "routes": {"namespace": namespace}, "kube": {"kubeconfig": str(self.kubeconfig)},
            "health": {"interval": "1s", "timeout": "1s"}, "temporal": {"address": self.temporal_address},
            "logLevel": "DEBUG",
        }
        settings.update(config)
        gateway = GatewayProcess(settings, self.workdir / namespace)
        self.started.append(gateway)
        return await gateway.start(wait_ready)

    async def stop_all(self) -> None:
        for gateway in self.started:
            if gateway.proc is not None:
                await gateway.stop()


def api_key_auth(path: Path) -> dict[str, Any]:
    path.write_text("".join(f"{key_id}: {key}\n" for key_id, key in API_KEYS.items()))
    return {
        "enabled": True, "type": "apiKey",
        "apiKeys": {"file": str(path), "reloadInterval": "200ms",
                    "users": {"alice-key": "alice", "bob-key": "bob", "ops-key": "ops"},
                    "groups": {"alice-key": ["team-a"], "bob-key": ["team-b"], "ops-key": ["platform"]}},
        "impersonation": {"groups": ["platform"]},
        "authorization": {"rules": RULES},
    }
