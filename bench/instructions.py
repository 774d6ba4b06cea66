"""Instructions per proxied request (issue #19): the gateway against bench/bare_proxy.py, counted by callgrind.

bench/gateway.py measures CPU time, which on a shared 2-core machine moves 10-20% from run to run; a change
worth 2-5% cannot be seen there. This counts the user-space instructions each hop process executes per
request instead (valgrind's callgrind, instrumenting only the measured requests), which repeats within
about 0.2%. It does not see the kernel's share (the send and receive syscalls, the same for both hops) nor
cache misses, so it tracks the gateway's own work per request, not its whole CPU cost: judge a change here,
then confirm it with bench/gateway.py.

Workload, after a warm-up of the same shape: --statements sequential `SELECT 1` statements (a POST and its
nextUri GETs each) and one long result's 100 page GETs, by one client; each hop fronts bench/trino_backend.py
(pages from memory). Prints thousands of instructions per request for each hop and the gateway's ratio to the
bare proxy (what this runtime spends at the least per proxied request).
Needs valgrind (`apt-get install valgrind`). Run: .venv/bin/python bench/instructions.py [--statements 60]
[--keep DIR] (DIR gets the callgrind files, for callgrind_annotate).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("bench_gateway", _HERE / "gateway.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_gateway"] = bench
_spec.loader.exec_module(bench)

PY = sys.executable
STARTUP_TIMEOUT = 600.0
"""Seconds a hop may take to answer under valgrind (the gateway imports its whole stack at ~20x slower)."""


async def workload(session: aiohttp.ClientSession, base: str, statements: int) -> int:
    """The requests of `statements` SELECT 1 statements and one long result, one at a time; their count."""
    run = bench.Run()
    for _ in range(statements):
        await bench.statement(session, base, run)
    await bench.statement(session, base, run, bench.LONG_SQL)
    return int(run.requests)


def callgrind_total(out: Path) -> int:
    """The instructions a callgrind output file counted (its `totals:` line, or `summary:` in older ones)."""
    total = 0
    for line in out.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            total = max(total, int(line.split()[1]))
    if not total:
        raise SystemExit(f"{out} has no totals line; is it a callgrind output?")
    return total


async def measure(session: aiohttp.ClientSession, name: str, argv: list[str], ready: str, base: str,
                  statements: int, tmp: Path, keep: Path | None) -> float:
    """Instructions per request of one hop process started with `argv` under callgrind."""
    out = tmp / f"callgrind.{name}.out"
    log = (tmp / f"{name}.log").open("wb")
    process = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                                *argv], stdout=subprocess.DEVNULL, stderr=log)
    try:
        await bench.wait_http(session, ready, STARTUP_TIMEOUT)
        await workload(session, base, 30)  # warm-up: connections, memos, caches
        subprocess.run(["callgrind_control", "--instr=on", str(process.pid)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        requests = await workload(session, base, statements)
        subprocess.run(["callgrind_control", "--instr=off", str(process.pid)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    finally:
        process.terminate()
        process.wait(120)
        log.close()
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, keep / out.name)
    per_request = callgrind_total(out) / requests
    print(f"  {name:<8} {requests} requests  {per_request / 1000:8.1f}k instructions per request", flush=True)
    return per_request


async def run(args: argparse.Namespace, tmp: Path) -> int:
    gport, iport, bport = (bench.free_port() for _ in range(3))
    backends = bench.start_backends(tmp, "memory")
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session:
            config = await bench.route_backends(session, backends, tmp, gport, iport)
            print(f"instructions per proxied request (callgrind; {args.statements} SELECT 1 statements and one "
                  f"100-page result, one client, memory backend):", flush=True)
            bare = await measure(session, "bare-py", [PY, str(_HERE / "bare_proxy.py"), str(bport), str(backends.trino_port)],
                                 f"http://127.0.0.1:{bport}/v1/info", f"http://127.0.0.1:{bport}", args.statements,
                                 tmp, args.keep)
            gateway = await measure(session, "gateway", [PY, "-m", "gateway", "--config", str(config)],
                                    f"http://127.0.0.1:{gport}/readyz", f"http://127.0.0.1:{gport}", args.statements,
                                    tmp, args.keep)
            print(f"  the gateway executes {gateway / bare:.2f}x the bare proxy's instructions per request "
                  f"({(gateway - bare) / 1000:.1f}k more)")
    finally:
        for p in backends.procs:
            p.terminate()
        for p in backends.procs:
            p.wait(10)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=60, help="SELECT 1 statements measured (plus one long result)")
    parser.add_argument("--keep", type=Path, help="copy the callgrind output files here (for callgrind_annotate)")
    args = parser.parse_args()
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        print(f"bench/instructions.py needs {' and '.join(missing)}: apt-get install valgrind", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
