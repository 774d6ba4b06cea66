"""Gateway fast path (issue #19): the gateway against direct access and nginx in front of the same Trino
coordinator, in one run.

Workloads (Trino protocol: a `SELECT 1` is a POST and its nextUri GETs; every HTTP request counts):
  saturation  32 clients loop statements as fast as they can;
  paced       statements start on a schedule that makes 500 requests/s;
  follow-ups  clients page through a long result (GETs of statement pages only).
Each workload runs in --rounds rounds of --seconds per hop, the hops taking turns, and each hop's rounds are
pooled (a shared machine's slow spells then fall on every hop alike). For each hop it prints requests/s, p50/p90/p99 per request, and the CPU the hop process spent per 1,000
requests (= vCPU per 1,000 req/s); for the gateway also requests/s per core on follow-ups. It exits 1 when
the gateway spends more than --max-vcpu (0.20) vCPU per 1,000 req/s while the machine was quiet before the
run (1-minute load below --quiet-load); a busy machine is reported, not judged.

Starts the kube API emulator, a coordinator (`--backend memory`, the default: bench/trino_backend.py,
Trino's statement protocol with pages from memory, so a hop's own cost shows; `--backend emulator`: the
devstack's Trino emulator, whose SQL on DuckDB answers 600-1,300 req/s here and dominates every figure),
nginx (when installed; `scripts/install-nginx.sh`), bench/bare_proxy.py (a bare Python reverse proxy on uvloop
and httptools that checks nothing: what this runtime spends at the least per proxied request; `--no-bare`
leaves it out) and `python -m gateway` on loopback; this process is an aiohttp load generator.
Run: .venv/bin/python bench/gateway.py [--seconds 4] [--rounds 3] [--backend memory|emulator] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml

from xtrinode.models.routes import ROUTES_CONFIGMAP, ROUTES_KEY, RouteEntry, RouteTable

PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
HEADERS = {"X-Trino-User": "bench"}
LONG_SQL = "SELECT x FROM UNNEST(sequence(1, 20000)) AS t(x)"
"""100 pages of 200 rows: long enough that page GETs dominate, short enough that 32 concurrent queries on
the emulator's DuckDB engine stay cheap (1,000,000 rows each held ~3 GB and one core for minutes)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def children(pid: int) -> list[int]:
    found = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


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
            async with session.get(url, headers=HEADERS) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer 200 within {timeout}s")
        await asyncio.sleep(0.1)


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def add(self, other: Run) -> None:
        """Pool another round of the same hop and workload into this one."""
        self.latencies.extend(other.latencies)
        self.seconds += other.seconds
        self.cpu += other.cpu

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def vcpu_per_1000(self) -> float:
        """CPU seconds of the hop per 1,000 requests = vCPU per 1,000 requests/s."""
        return self.cpu / self.requests * 1000 if self.requests else float("nan")


async def timed(session: aiohttp.ClientSession, method: str, url: str, run: Run, data: str | None = None) -> dict[str, object]:
    started = time.perf_counter()
    async with session.request(method, url, data=data, headers=HEADERS) as response:
        page: dict[str, object] = await response.json()
    run.latencies.append(time.perf_counter() - started)
    return page


async def statement(session: aiohttp.ClientSession, base: str, run: Run, sql: str = "SELECT 1",
                    follow_ups_only: bool = False) -> None:
    """One statement through the protocol: the POST, then every nextUri (optionally timing GETs only)."""
    scratch = Run()
    page = await timed(session, "POST", f"{base}/v1/statement", scratch if follow_ups_only else run, sql)
    while isinstance(page.get("nextUri"), str):
        page = await timed(session, "GET", str(page["nextUri"]), run)
    if "error" in page:
        raise SystemExit(f"query failed through {base}: {page['error']}")


async def saturate(session: aiohttp.ClientSession, base: str, concurrency: int, seconds: float, pids: list[int],
                   sql: str = "SELECT 1", follow_ups_only: bool = False) -> Run:
    run = Run()
    stop = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < stop:
            await statement(session, base, run, sql, follow_ups_only)

    cpu0, started = cpu_seconds(pids), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    run.seconds, run.cpu = time.perf_counter() - started, cpu_seconds(pids) - cpu0
    return run


async def paced(session: aiohttp.ClientSession, base: str, rate: float, seconds: float, pids: list[int],
                per_statement: float) -> Run:
    """Statements start on a fixed schedule so that requests come at about `rate` per second."""
    run = Run()
    starts = rate / per_statement
    tasks: list[asyncio.Task[None]] = []
    cpu0, started = cpu_seconds(pids), time.perf_counter()
    for i in range(int(starts * seconds)):
        delay = started + i / starts - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(statement(session, base, run)))
    await asyncio.gather(*tasks)
    run.seconds, run.cpu = time.perf_counter() - started, cpu_seconds(pids) - cpu0
    return run


async def setup_routes(session: aiohttp.ClientSession, kube: str, namespace: str, backend: str) -> None:
    async with session.post(f"{kube}/api/v1/namespaces", json={"metadata": {"name": namespace}}) as response:
        assert response.status == 201, await response.text()
    entry = RouteEntry(namespace="bench", name="trino", backend=backend, state="RUNNING", routing_group="adhoc",
                       default=True, workflow_id="xtrinode/bench/trino")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ROUTES_CONFIGMAP},
            "data": {ROUTES_KEY: RouteTable(routes=[entry]).to_yaml()}}
    async with session.post(f"{kube}/api/v1/namespaces/{namespace}/configmaps", json=body) as response:
        assert response.status == 201, await response.text()


def nginx_config(tmp: Path, port: int, backend_port: int) -> Path:
    user = "user root;\n" if os.getuid() == 0 else ""
    config = tmp / "nginx.conf"
    config.write_text(f"""{user}worker_processes 1;
error_log {tmp}/nginx-error.log warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log {tmp}/nginx-access.log;
  client_body_temp_path {tmp}/nginx-body; proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fcgi; uwsgi_temp_path {tmp}/nginx-uwsgi; scgi_temp_path {tmp}/nginx-scgi;
  upstream trino {{ server 127.0.0.1:{backend_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://trino;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Port $server_port;
    }}
  }}
}}
""")
    return config


@dataclass
class Hop:
    name: str
    url: str
    pids: list[int]


def row(name: str, run: Run, direct: Run | None) -> str:
    added = ""
    if direct is not None:
        added = "  added p50 {:+.2f} p90 {:+.2f} p99 {:+.2f} ms".format(
            pct(run.latencies, 0.5) - pct(direct.latencies, 0.5), pct(run.latencies, 0.9) - pct(direct.latencies, 0.9),
            pct(run.latencies, 0.99) - pct(direct.latencies, 0.99))
    cpu = f"{run.vcpu_per_1000:6.3f}" if direct is not None else "     -"
    return (f"  {name:<8} {run.rps:8.0f} req/s  p50 {pct(run.latencies, 0.5):6.2f}  p90 {pct(run.latencies, 0.9):6.2f}  "
            f"p99 {pct(run.latencies, 0.99):6.2f} ms  vCPU/1k req/s {cpu}{added}")


def backend_argv(backend: str, port: int) -> list[str]:
    """The coordinator every hop fronts: bench/trino_backend.py (pages from memory: the hops' own cost shows)
    or the devstack's Trino emulator (SQL on DuckDB: 600-1,300 req/s here, so its queueing dominates)."""
    if backend == "memory":
        return [PY, str(Path(__file__).with_name("trino_backend.py")), "--port", str(port)]
    return [PY, "-m", "devstack.trino", "--port", str(port), "--process-forwarded", "--page-rows", "200",
            "--log-level", "WARNING"]


@dataclass
class Backends:
    """The kube API emulator (holding the gateway's route table) and the coordinator every hop fronts."""

    procs: list[subprocess.Popen[bytes]]
    """Their processes: the emulator, then the coordinator."""
    kube: str
    trino: str
    kubeconfig: Path

    @property
    def trino_port(self) -> int:
        return int(self.trino.rsplit(":", 1)[1])


def start_backends(tmp: Path, backend: str) -> Backends:
    """Start the kube API emulator and the coordinator (`backend_argv`); `route_backends` waits for them."""
    kport, tport = free_port(), free_port()
    kubeconfig = tmp / "kubeconfig"
    procs = [
        subprocess.Popen([PY, "-m", "devstack.kubeapi", "--port", str(kport), "--kubeconfig-out", str(kubeconfig)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(backend_argv(backend, tport), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    return Backends(procs, f"http://127.0.0.1:{kport}", f"http://127.0.0.1:{tport}", kubeconfig)


async def route_backends(session: aiohttp.ClientSession, backends: Backends, tmp: Path, gateway_port: int,
                         internal_port: int, **settings: object) -> Path:
    """Wait for both backends, route every statement to the coordinator, and write a gateway config file for
    these ports and `settings` (more gateway settings); its path."""
    await wait_http(session, f"{backends.kube}/version")
    await wait_http(session, f"{backends.trino}/v1/info")
    await setup_routes(session, backends.kube, "xtrinode-gateway", backends.trino)
    config = tmp / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": gateway_port}, "internal": {"host": "127.0.0.1", "port": internal_port},
        "kube": {"kubeconfig": str(backends.kubeconfig)}, **settings}))
    return config


async def bench(args: argparse.Namespace, tmp: Path) -> int:
    load_before = os.getloadavg()[0]
    gport, iport, nport = (free_port() for _ in range(3))
    backends = start_backends(tmp, args.backend)
    procs, trino, tport = list(backends.procs), backends.trino, backends.trino_port
    nginx_bin = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    try:
        connector = aiohttp.TCPConnector(limit=args.connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            config = await route_backends(session, backends, tmp, gport, iport, eventLoop=args.event_loop)
            with (tmp / "gateway.log").open("wb") as log:
                gateway = subprocess.Popen([PY, "-m", "gateway", "--config", str(config)],
                                           stdout=subprocess.DEVNULL, stderr=log)
            procs.append(gateway)
            hops = [Hop("direct", trino, [procs[1].pid]), Hop("gateway", f"http://127.0.0.1:{gport}", [gateway.pid])]
            if nginx_bin:
                nginx = subprocess.Popen([nginx_bin, "-p", str(tmp), "-c", str(nginx_config(tmp, nport, tport)),
                                          "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                procs.append(nginx)
                await wait_http(session, f"http://127.0.0.1:{nport}/v1/info")
                hops.insert(1, Hop("nginx", f"http://127.0.0.1:{nport}", children(nginx.pid)))
            if not args.no_bare:
                bport = free_port()
                bare = subprocess.Popen([PY, str(Path(__file__).with_name("bare_proxy.py")), str(bport), str(tport)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                procs.append(bare)
                await wait_http(session, f"http://127.0.0.1:{bport}/v1/info")
                hops.insert(-1, Hop("bare-py", f"http://127.0.0.1:{bport}", [bare.pid]))
            await wait_http(session, f"http://127.0.0.1:{gport}/readyz")
            seconds = args.seconds
            print(f"gateway bench: {args.rounds} x {seconds:.0f}s per hop and workload, {os.cpu_count()} CPUs, load average before {load_before:.2f}, "
                  f"event loop {args.event_loop}, {args.backend} backend, Python load generator"
                  f"{'' if nginx_bin else '; nginx not installed'}")
            for hop in hops:  # warm up pools and code paths
                await saturate(session, hop.url, 8, 1.0, hop.pids)

            # Each workload runs in rounds, the hops in turns within a round, and a hop's rounds are pooled:
            # a shared machine's slow spells then fall on every hop alike instead of on whichever ran then.
            workloads: list[tuple[str, str, Callable[[Hop], Awaitable[Run]]]] = [
                ("saturation", f"Trino protocol (SELECT 1: POST + nextUri GETs), saturation, {args.concurrency} clients",
                 lambda hop: saturate(session, hop.url, args.concurrency, seconds, hop.pids)),
                ("paced", f"Trino protocol, paced at {args.rate:.0f} requests/s",
                 lambda hop: paced(session, hop.url, args.rate, seconds, hop.pids, 3.0)),
                ("follow-ups", f"Follow-up pages (GETs of a long result), saturation, {args.concurrency} clients",
                 lambda hop: saturate(session, hop.url, args.concurrency, seconds, hop.pids, LONG_SQL,
                                      follow_ups_only=True)),
            ]
            results: dict[str, dict[str, Run]] = {}
            for name, title, measure in workloads:
                print(f"\n{title}, {args.rounds} round(s) of {seconds:.0f}s per hop, hops in turns:")
                pooled = results[name] = {hop.name: Run() for hop in hops}
                for _ in range(args.rounds):
                    for hop in hops:
                        pooled[hop.name].add(await measure(hop))
                for hop in hops:
                    print(row(hop.name, pooled[hop.name], None if hop.name == "direct" else pooled["direct"]))

            gw = {name: runs["gateway"] for name, runs in results.items()}
            print("\nGateway against its targets:")
            print(f"  vCPU per 1,000 req/s: saturation {gw['saturation'].vcpu_per_1000:.3f}, paced {gw['paced'].vcpu_per_1000:.3f} "
                  f"(target <= {args.max_vcpu:.2f})")
            per_core = 1000 / gw["follow-ups"].vcpu_per_1000 if gw["follow-ups"].vcpu_per_1000 else float("nan")
            print(f"  follow-up pages per gateway core: {per_core:,.0f} req/s (target >= 5,000)")
            paced_gw, paced_direct = gw["paced"], results["paced"]["direct"]
            print("  added latency at {:.0f} req/s: p50 {:+.2f} ms (<= 0.5), p90 {:+.2f} ms (<= 1), p99 {:+.2f} ms (<= 3)".format(
                args.rate, pct(paced_gw.latencies, 0.5) - pct(paced_direct.latencies, 0.5),
                pct(paced_gw.latencies, 0.9) - pct(paced_direct.latencies, 0.9),
                pct(paced_gw.latencies, 0.99) - pct(paced_direct.latencies, 0.99)))
            for baseline in ("nginx", "bare-py"):
                if baseline in results["saturation"]:
                    for name in ("saturation", "paced", "follow-ups"):
                        ratio = gw[name].vcpu_per_1000 / results[name][baseline].vcpu_per_1000
                        print(f"  {name}: the gateway spends {ratio:.1f}x {baseline}'s CPU per request")
            print(f"  RSS of the gateway: {rss_mb(gateway.pid):.1f} MB")
            worst = max(gw["saturation"].vcpu_per_1000, gw["paced"].vcpu_per_1000)
            if args.smoke:
                return 0
            if load_before >= args.quiet_load:
                print(f"\nnot judged: the machine was busy before the run (load {load_before:.2f} >= {args.quiet_load})")
                return 0
            if worst > args.max_vcpu:
                print(f"\nFAIL: {worst:.3f} vCPU per 1,000 req/s is above {args.max_vcpu:.2f}")
                return 1
            print("\nPASS")
            return 0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each measured run of one hop")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per workload (hops take turns; rounds are pooled)")
    parser.add_argument("--concurrency", type=int, default=32, help="clients of the saturation runs")
    parser.add_argument("--connections", type=int, default=128, help="connection pool of the load generator")
    parser.add_argument("--rate", type=float, default=500.0, help="requests/s of the paced runs")
    parser.add_argument("--max-vcpu", type=float, default=0.20, help="vCPU per 1,000 req/s the gateway may spend")
    parser.add_argument("--quiet-load", type=float, default=0.5, help="1-minute load below which the run is judged")
    parser.add_argument("--event-loop", choices=("auto", "uvloop", "asyncio"), default="auto")
    parser.add_argument("--backend", choices=("memory", "emulator"), default="memory",
                        help="memory: bench/trino_backend.py; emulator: the devstack's Trino emulator")
    parser.add_argument("--no-bare", action="store_true",
                        help="leave out bench/bare_proxy.py (a bare Python proxy: the floor of this runtime)")
    parser.add_argument("--smoke", action="store_true", help="short run, never fails on the targets (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.rounds = min(args.seconds, 1.0), 1
    with tempfile.TemporaryDirectory(prefix="xtrinode-bench-") as tmp:
        return asyncio.run(bench(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
