"""Gateway overhead: requests/s and latency direct vs through the gateway against the same Trino emulator,
CPU seconds of the gateway process per 1,000 proxied requests, and its RSS with 5,000 tracked queries.

Starts the kube API emulator, a Trino emulator coordinator and `python -m gateway` as subprocesses on
loopback; this process is an aiohttp load generator. Run: .venv/bin/python bench/gateway.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

from xtrinode.models.routes import ROUTES_CONFIGMAP, ROUTES_KEY, RouteEntry, RouteTable

PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGETS = "targets: added p50<=1ms p90<=2.65ms p99<=5ms at 500 req/s; <=0.35 vCPU per 1,000 req/s; >=5,000 req/s; RSS<=200MB"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else float("nan")


async def wait_http(session: aiohttp.ClientSession, url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer 200 within {timeout}s")
        await asyncio.sleep(0.1)


@dataclass
class Run:
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


Request = Callable[[aiohttp.ClientSession], Awaitable[None]]


async def closed_loop(session: aiohttp.ClientSession, request: Request, concurrency: int, seconds: float) -> Run:
    """`concurrency` workers send back to back for `seconds`: the most the pair can do."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        while (now := time.perf_counter()) < stop:
            await request(session)
            latencies.append(time.perf_counter() - now)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Run(len(latencies), time.perf_counter() - started, latencies)


async def open_loop(session: aiohttp.ClientSession, request: Request, rate: float, seconds: float) -> Run:
    """Requests start on a fixed schedule (`rate` per second), whatever the answers do: latency at a load."""
    latencies: list[float] = []
    tasks: list[asyncio.Task[None]] = []

    async def one(due: float) -> None:
        await request(session)
        latencies.append(time.perf_counter() - due)

    started = time.perf_counter()
    for i in range(int(rate * seconds)):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    return Run(len(latencies), time.perf_counter() - started, latencies)


def get(url: str) -> Request:
    async def send(session: aiohttp.ClientSession) -> None:
        async with session.get(url, headers={"X-Trino-User": "bench"}) as response:
            await response.read()
            assert response.status == 200, response.status

    return send


def statement(base: str) -> Request:
    """A whole `SELECT 1` through the statement protocol (POST, then every nextUri)."""

    async def send(session: aiohttp.ClientSession) -> None:
        headers = {"X-Trino-User": "bench"}
        async with session.post(f"{base}/v1/statement", data="SELECT 1", headers=headers) as response:
            page = await response.json()
        while "nextUri" in page:
            async with session.get(page["nextUri"], headers=headers) as response:
                page = await response.json()
        assert "error" not in page, page["error"]

    return send


async def setup_routes(session: aiohttp.ClientSession, kube: str, namespace: str, backend: str) -> None:
    async with session.post(f"{kube}/api/v1/namespaces", json={"metadata": {"name": namespace}}) as response:
        assert response.status == 201, await response.text()
    entry = RouteEntry(namespace="bench", name="trino", backend=backend, state="RUNNING", routing_group="adhoc",
                       default=True, workflow_id="xtrinode/bench/trino")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ROUTES_CONFIGMAP},
            "data": {ROUTES_KEY: RouteTable(routes=[entry]).to_yaml()}}
    async with session.post(f"{kube}/api/v1/namespaces/{namespace}/configmaps", json=body) as response:
        assert response.status == 201, await response.text()


async def gateway_view(session: aiohttp.ClientSession, gw: str) -> str:
    """The gateway's own mean time to response headers and its upstream share, from /metrics (cumulative)."""
    async with session.get(f"{gw}/metrics") as response:
        text = await response.text()
    values: dict[str, float] = {}
    for row in text.splitlines():
        for metric in ("request_duration_seconds", "upstream_duration_seconds"):
            for suffix in ("_sum", "_count"):
                if row.startswith(f"xtrinode_gateway_{metric}{suffix}") and 'kind="other"' in row:
                    values[metric + suffix] = float(row.rsplit(" ", 1)[1])
    def mean(metric: str) -> float:
        return values.get(metric + "_sum", 0.0) / max(values.get(metric + "_count", 0.0), 1.0) * 1000
    return (f"  inside the gateway (all runs so far): mean {mean('request_duration_seconds'):.3f} ms to response "
            f"headers, of which {mean('upstream_duration_seconds'):.3f} ms waiting for the backend")


def line(name: str, direct: float, through: float, unit: str, lower_is_better: bool = True) -> str:
    ratio = through / direct if direct else float("nan")
    extra = f"  added {through - direct:+.3f} {unit}" if lower_is_better else ""
    return f"  {name:<26} direct {direct:9.3f} {unit:<5} gateway {through:9.3f} {unit:<5} ratio {ratio:5.2f}{extra}"


async def bench(args: argparse.Namespace, tmp: Path) -> None:
    kport, tport, gport, iport = free_port(), free_port(), free_port(), free_port()
    kubeconfig = tmp / "kubeconfig"
    procs = [
        subprocess.Popen([PY, "-m", "devstack.kubeapi", "--port", str(kport), "--kubeconfig-out", str(kubeconfig)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([PY, "-m", "devstack.trino", "--port", str(tport), "--process-forwarded",
                          "--log-level", "WARNING"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        connector = aiohttp.TCPConnector(limit=args.connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            kube, trino, gw = f"http://127.0.0.1:{kport}", f"http://127.0.0.1:{tport}", f"http://127.0.0.1:{gport}"
            await wait_http(session, f"{kube}/version")
            await wait_http(session, f"{trino}/v1/info")
            await setup_routes(session, kube, "xtrinode-gateway", trino)
            config = tmp / "gateway.yaml"
            config.write_text(yaml.safe_dump({"listen": {"host": "127.0.0.1", "port": gport}, "logLevel": "WARNING",
                                              "internal": {"host": "127.0.0.1", "port": iport},
                                              "kube": {"kubeconfig": str(kubeconfig)}}))
            gateway = subprocess.Popen([PY, "-m", "gateway", "--config", str(config)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(gateway)
            await wait_http(session, f"{gw}/readyz")
            seconds, conc = args.seconds, args.concurrency
            print(f"gateway bench: {seconds:.0f}s per run, {os.cpu_count()} CPUs, Python load generator; {TARGETS}")

            for url in (trino, gw):  # warm up pools and code paths
                await closed_loop(session, get(f"{url}/v1/info"), conc, 1.0)

            print(f"\nGET /v1/info, closed loop, {conc} connections (most each can do):")
            direct = await closed_loop(session, get(f"{trino}/v1/info"), conc, seconds)
            cpu0 = cpu_seconds(gateway.pid)
            through = await closed_loop(session, get(f"{gw}/v1/info"), conc, seconds)
            cpu = cpu_seconds(gateway.pid) - cpu0
            print(line("requests/s", direct.rps, through.rps, "req/s", lower_is_better=False))
            print(line("p50 latency", pct(direct.latencies, 0.5), pct(through.latencies, 0.5), "ms"))
            print(line("p99 latency", pct(direct.latencies, 0.99), pct(through.latencies, 0.99), "ms"))
            print(f"  gateway CPU: {cpu / through.requests * 1000:.3f} s per 1,000 requests "
                  f"= {cpu / through.requests * 1000:.3f} vCPU per 1,000 req/s")

            print(f"\nGET /v1/info, open loop at {args.rate:.0f} req/s:")
            direct = await open_loop(session, get(f"{trino}/v1/info"), args.rate, seconds)
            cpu0 = cpu_seconds(gateway.pid)
            through = await open_loop(session, get(f"{gw}/v1/info"), args.rate, seconds)
            cpu = cpu_seconds(gateway.pid) - cpu0
            for name, p in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
                print(line(f"{name} latency", pct(direct.latencies, p), pct(through.latencies, p), "ms"))
            print(await gateway_view(session, gw))
            print(f"  gateway CPU at {through.rps:.0f} req/s: {cpu / through.seconds:.3f} vCPU "
                  f"({cpu / through.requests * 1000:.3f} s per 1,000 requests)")

            print(f"\nSELECT 1 through the statement protocol, closed loop, {args.query_concurrency} clients:")
            direct = await closed_loop(session, statement(trino), args.query_concurrency, seconds)
            through = await closed_loop(session, statement(gw), args.query_concurrency, seconds)
            print(line("queries/s", direct.rps, through.rps, "q/s", lower_is_better=False))
            print(line("p50 query latency", pct(direct.latencies, 0.5), pct(through.latencies, 0.5), "ms"))
            print(line("p99 query latency", pct(direct.latencies, 0.99), pct(through.latencies, 0.99), "ms"))

            before = rss_mb(gateway.pid)
            semaphore = asyncio.Semaphore(50)

            async def post() -> None:
                async with semaphore, session.post(f"{gw}/v1/statement", data="SELECT 1",
                                                   headers={"X-Trino-User": "bench"}) as response:
                    await response.read()

            await asyncio.gather(*(post() for _ in range(args.tracked)))
            async with session.get(f"http://127.0.0.1:{iport}/v1/xtrinode/load/bench/trino") as response:
                tracked = (await response.json())["inflight"]
            print(f"\nRSS of the gateway: {before:.1f} MB before, {rss_mb(gateway.pid):.1f} MB with {tracked} tracked "
                  f"queries (sticky + in-flight entries)")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measured run")
    parser.add_argument("--concurrency", type=int, default=32, help="connections of the closed-loop runs")
    parser.add_argument("--connections", type=int, default=64, help="connection pool of the load generator")
    parser.add_argument("--rate", type=float, default=500.0, help="requests/s of the open-loop run")
    parser.add_argument("--query-concurrency", type=int, default=8, help="clients of the statement run")
    parser.add_argument("--tracked", type=int, default=5000, help="queries started for the RSS measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gw-bench-") as tmp:
        asyncio.run(bench(args, Path(tmp)))


if __name__ == "__main__":
    main()
