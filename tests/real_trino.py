"""A real Trino 476 server for the slow tiers: found (or downloaded once) by scripts/fetch-trino.sh, run with
`bin/launcher run` on a JDK 24+ from a throwaway etc directory, on a free loopback port.

`real_trino_server(...)` skips the test (saying why) when no suitable JDK is installed or the download
fails; it fails when the server starts but does not answer, with the tail of its log.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import trino
from devstack import ports

REPO = Path(__file__).resolve().parent.parent
MIN_JAVA = 24
TRINO_VERSION = "476"


def java_major(java_home: Path) -> int | None:
    java = java_home / "bin" / "java"
    if not java.is_file():
        return None
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    found = re.search(r'version "(\d+)', out)
    return int(found.group(1)) if found else None


def find_java(minimum: int = MIN_JAVA) -> Path | None:
    """A JDK of at least `minimum`: $XTRINODE_JAVA_HOME, $JAVA_HOME, then /usr/lib/jvm/* (newest first)."""
    candidates = [os.environ.get(name) for name in ("XTRINODE_JAVA_HOME", "JAVA_HOME")]
    paths = [Path(c) for c in candidates if c] + sorted(Path("/usr/lib/jvm").glob("*"), reverse=True)
    for path in paths:
        if (java_major(path) or 0) >= minimum:
            return path
    return None


def require_java(minimum: int = MIN_JAVA, javac: bool = False) -> Path:
    """`find_java`, or fail: the project provides its JDK (README), so a missing one is a broken setup, not a
    reason to pass a tier without running it."""
    home = find_java(minimum)
    if home is None or (javac and not (home / "bin" / "javac").is_file()):
        pytest.fail(f"no JDK {minimum}+{' with javac' if javac else ''} found in XTRINODE_JAVA_HOME, JAVA_HOME or "
                    "/usr/lib/jvm: install one (e.g. Debian's openjdk-25-jdk) or point XTRINODE_JAVA_HOME at it")
    return home


def trino_home() -> Path:
    result = subprocess.run(["bash", str(REPO / "scripts" / "fetch-trino.sh"), TRINO_VERSION], capture_output=True,
                            text=True, timeout=1200)
    if result.returncode != 0:
        pytest.fail(f"scripts/fetch-trino.sh could not provide Trino {TRINO_VERSION}: {result.stderr.strip()[-300:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def free_port() -> int:
    """Below the kernel's ephemeral range (devstack.ports): the process it is for binds it later."""
    return ports.free_port()


@dataclass(frozen=True, slots=True)
class RealTrino:
    """A running single-node Trino (the coordinator schedules work on itself)."""

    port: int
    environment: str
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _write_etc(etc: Path, port: int, environment: str, catalogs: Mapping[str, str], extra_config: str) -> None:
    (etc / "catalog").mkdir(parents=True)
    (etc / "config.properties").write_text(
        "coordinator=true\nnode-scheduler.include-coordinator=true\n"
        f"http-server.http.port={port}\ndiscovery.uri=http://127.0.0.1:{port}\n"
        "query.max-memory=1GB\nquery.max-memory-per-node=512MB\n" + extra_config
    )
    (etc / "node.properties").write_text(
        f"node.environment={environment}\nnode.id=contract-{port}\nnode.data-dir={etc.parent / 'data'}\n"
    )
    (etc / "jvm.config").write_text(
        "-server\n-Xmx1500M\n-XX:+UseG1GC\n-XX:+ExitOnOutOfMemoryError\n-Djdk.attach.allowAttachSelf=true\n"
        "-XX:TieredStopAtLevel=1\n"
    )
    (etc / "log.properties").write_text("io.trino=WARN\n")
    for name, body in catalogs.items():
        (etc / "catalog" / f"{name}.properties").write_text(body)


@contextlib.contextmanager
def real_trino_server(environment: str = "contract", catalogs: Mapping[str, str] | None = None,
                      extra_config: str = "", startup_timeout: float = 240.0) -> Iterator[RealTrino]:
    """Start Trino 476, wait until `/v1/info` says it is started, stop it (SIGTERM, then SIGKILL) at the end."""
    java = require_java()
    home = trino_home()
    catalogs = catalogs if catalogs is not None else {
        "tpch": "connector.name=tpch\n", "memory": "connector.name=memory\n",
        "blackhole": "connector.name=blackhole\n",
    }
    with tempfile.TemporaryDirectory(prefix="xtrinode-real-trino-") as root:
        port = free_port()
        etc = Path(root) / "etc"
        _write_etc(etc, port, environment, catalogs, extra_config)
        log_path = Path(root) / "server.log"
        env = {**os.environ, "JAVA_HOME": str(java), "PATH": f"{java / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
        with open(log_path, "wb") as log:
            process = subprocess.Popen([str(home / "bin" / "launcher"), "run", f"--etc-dir={etc}"], env=env,
                                       stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        try:
            server = RealTrino(port, environment, log_path)
            _wait_started(server, process, startup_timeout)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def _wait_started(server: RealTrino, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Trino exited with {process.returncode} while starting:\n{_tail(server.log_path)}")
        try:
            info = requests.get(server.url + "/v1/info", timeout=2).json()
            if info.get("starting") is False and _schedules(server):
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.5)
    pytest.fail(f"Trino did not start within {timeout:.0f}s:\n{_tail(server.log_path)}")


def _schedules(server: RealTrino) -> bool:
    """A started coordinator still answers NO_NODES_AVAILABLE until it sees itself as a worker (a few s)."""
    try:
        with trino.dbapi.connect(host="127.0.0.1", port=server.port, user="startup") as conn:
            cursor = conn.cursor()
            cursor.execute("SELECT count(*) FROM tpch.tiny.region")
            return bool(cursor.fetchall() == [[5]])
    except trino.exceptions.TrinoQueryError:
        return False


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
