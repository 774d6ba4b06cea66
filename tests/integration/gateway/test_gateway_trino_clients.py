"""Trino's own clients, nobody here wrote them: the CLI 476 (executable jar) and a small program on the JDBC
driver 476 (JdbcProbe.java, compiled here), against a coordinator directly and through the gateway's default
route (the CLI and JDBC cannot send the gateway's custom headers). Slow tier: Java, jars from Maven Central
(scripts/fetch-trino-clients.sh, cached), and for the `trino` cases a real Trino 476.

Checks: a SELECT across pages (60175 lineitem rows, the sum of their keys), USE then an unqualified name,
SET SESSION then SHOW SESSION, a failing query's message and exit code (CLI), DatabaseMetaData.getTables,
getColumns, getSchemas, getCatalogs, a PreparedStatement with a parameter and its getMetaData() (DESCRIBE
OUTPUT), and Statement.cancel() ending a running query (JDBC). Without custom headers, the CLI and JDBC
choose their runtime through the gateway by client tag (`--client-tags`, `clientTags`) and the CLI by the
host it connects to, while the default route points elsewhere.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway_helpers import GatewayFactory, RoutesConfigMap, coordinator_settings, route
from tests.real_trino import REPO, real_trino_server, require_java
from devstack.trino import CatalogConfig, TrinoNode

pytestmark = pytest.mark.slow

ORDERKEY_SUM = 1802759573
"""sum(orderkey) over tpch.tiny.lineitem (Trino 476)."""
TPCH_TINY_TABLES = "customer,lineitem,nation,orders,part,partsupp,region,supplier"
ORDERS_COLUMNS = ("orderkey:bigint:-5,custkey:bigint:-5,orderstatus:varchar(1):12,totalprice:double:8,"
                  "orderdate:date:91,orderpriority:varchar(15):12,clerk:varchar(15):12,shippriority:integer:4,"
                  "comment:varchar(79):12")
CATALOGS = {"tpch": "connector.name=tpch\n", "blackhole": "connector.name=blackhole\n"}


@pytest.fixture(scope="session")
def java() -> Path:
    return require_java(17, javac=True)


@pytest.fixture(scope="session")
def client_jars() -> tuple[Path, Path]:
    result = subprocess.run(["bash", str(REPO / "scripts" / "fetch-trino-clients.sh")], capture_output=True,
                            text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"scripts/fetch-trino-clients.sh failed: {result.stderr.strip()[-300:]}")
    cli, jdbc = result.stdout.split()
    return Path(cli), Path(jdbc)


@pytest.fixture(scope="session")
def jdbc_probe(java: Path, client_jars: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The classpath that runs JdbcProbe (compiled once per session)."""
    classes = tmp_path_factory.mktemp("jdbc-probe")
    subprocess.run([str(java / "bin" / "javac"), "-d", str(classes), "-cp", str(client_jars[1]),
                    str(Path(__file__).with_name("JdbcProbe.java"))], check=True, capture_output=True, timeout=120)
    return f"{client_jars[1]}:{classes}"


@pytest.fixture(scope="module")
async def emulator() -> AsyncIterator[TrinoNode]:
    """A coordinator as the devstack runs one: pages sized by bytes, forwarded headers accepted."""
    catalogs = tuple(CatalogConfig(name=name, connector_name=name) for name in CATALOGS)
    async with TrinoNode(coordinator_settings(page_rows=None, catalogs=catalogs)) as node:
        yield node


@pytest.fixture(scope="module")
def real_trino() -> Iterator[str]:
    """Trino 476 that accepts the gateway's X-Forwarded-* headers (http-server.process-forwarded=true)."""
    with real_trino_server("clients", CATALOGS, "http-server.process-forwarded=true\n") as server:
        yield server.url


def _slow_query(backend: str, url: str) -> str:
    """Runs ~30 s without CPU: the emulator's sleep(), a blackhole table with a page delay on Trino."""
    if backend == "emulator":
        return "SELECT sleep(30)"
    subprocess.run(["curl", "-sf", "-o", "/dev/null", "-H", "X-Trino-User: setup", "--data",
                    "CREATE TABLE IF NOT EXISTS blackhole.default.slow (x boolean) WITH (split_count = 1, "
                    "pages_per_split = 1, rows_per_page = 1, page_processing_delay = '30s')",
                    f"{url}/v1/statement"], check=True, timeout=30)
    return "SELECT true FROM blackhole.default.slow"


TARGETS = [
    pytest.param("emulator", "direct", id="emulator-direct"),
    pytest.param("emulator", "gateway", id="emulator-gateway-default-route"),
    pytest.param("trino", "direct", id="trino-direct", marks=pytest.mark.real_trino),
    pytest.param("trino", "gateway", id="trino-gateway-default-route", marks=pytest.mark.real_trino),
]


@pytest.fixture
def server(request: pytest.FixtureRequest, emulator: TrinoNode) -> tuple[str, str]:
    """(backend kind, its URL) for the parametrised backend. The emulator is a direct dependency (its tasks
    start before the per-test task-leak check looks); real Trino starts only for the cases that use it."""
    backend: str = request.param
    if backend == "emulator":
        return backend, emulator.url
    url: str = request.getfixturevalue("real_trino")
    return backend, url


async def _run(argv: list[str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """A client process, off the event loop (the emulator and the gateway serve on it meanwhile)."""
    return await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(("server", "path"), TARGETS, indirect=["server"])
async def test_trino_cli_queries_pages_use_and_session(
    server: tuple[str, str], path: str, java: Path, client_jars: tuple[Path, Path],
    routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
) -> None:
    _, backend_url = server
    await routes_cm.write(route(routes_cm.namespace, "only", backend_url, default=True))
    async with start_gateway() as gw:
        url = gw.url if path == "gateway" else backend_url
        cli = [str(java / "bin" / "java"), "-jar", str(client_jars[0]), "--server", url, "--user", "cli-user",
               "--output-format", "TSV"]
        done = await _run(cli + ["--execute",
                                 "SELECT sum(orderkey), count(*) FROM (SELECT orderkey FROM tpch.tiny.lineitem); "
                                 "SELECT orderkey FROM tpch.tiny.orders ORDER BY orderkey; USE tpch.tiny; "
                                 "SELECT name FROM nation WHERE nationkey = 7; "
                                 "SET SESSION query_max_run_time = '10m'; "
                                 "SHOW SESSION LIKE 'query_max_run_time'"])
        assert done.returncode == 0, done.stderr[-2000:]
        lines = done.stdout.splitlines()
        assert lines[0] == f"{ORDERKEY_SUM}\t60175"
        assert len(lines[1:15001]) == 15000 and lines[1] == "1"
        assert lines[15001] == "GERMANY", "USE reached the next statement"
        assert lines[15002].startswith("query_max_run_time\t10m\t100.00d\tvarchar"), "SET SESSION reached SHOW"
        assert "true" not in lines, "USE and SET SESSION print no rows"
        failed = await _run(cli + ["--execute", "SELECT 1/(x-x) FROM (VALUES 1) t(x)"])
        assert failed.returncode == 1 and "failed: Division by zero" in failed.stderr


@pytest.mark.parametrize(("server", "path"), TARGETS, indirect=["server"])
async def test_trino_jdbc_pages_metadata_use_session_and_cancel(
    server: tuple[str, str], path: str, java: Path, jdbc_probe: str,
    routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
) -> None:
    backend, backend_url = server
    slow = await asyncio.to_thread(_slow_query, backend, backend_url)
    await routes_cm.write(route(routes_cm.namespace, "only", backend_url, default=True))
    async with start_gateway() as gw:
        url = gw.url if path == "gateway" else backend_url
        host_port = url.removeprefix("http://")
        done = await _run([str(java / "bin" / "java"), "-cp", jdbc_probe, "JdbcProbe", f"jdbc:trino://{host_port}",
                           slow])
    assert done.returncode == 0, done.stderr[-3000:]
    found = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert (found["rows"], found["orderkey_sum"], found["column_type"]) == ("60175", str(ORDERKEY_SUM), "integer")
    assert found["tables"] == ",".join(f"{t}:TABLE" for t in TPCH_TINY_TABLES.split(","))
    assert found["orders_columns"] == ORDERS_COLUMNS
    assert found["tpch_schemas"] == "10"
    assert found["catalogs"] == "blackhole,system,tpch"
    assert (found["catalog_after_use"], found["unqualified"]) == ("tpch.tiny", "GERMANY")
    assert found["session_value"] == "10m"
    assert found["prepared"] == "GERMANY:3"
    assert found["prepared_columns"] == "name:varchar(25),regionkey:bigint", "PreparedStatement.getMetaData()"
    assert found["cancel"].startswith("failed:") and int(found["cancel_seconds"]) < 10, found


async def test_the_cli_and_jdbc_choose_a_runtime_by_client_tag_and_by_host(
    emulator: TrinoNode, java: Path, client_jars: tuple[Path, Path], jdbc_probe: str,
    routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
) -> None:
    ns = routes_cm.namespace
    await routes_cm.write(route(ns, "chosen", emulator.url, hostname="localhost"),
                          route(ns, "decoy", "http://127.0.0.1:9", default=True))  # the default route answers nothing
    async with start_gateway(resume={"enabled": False}) as gw:
        cli = [str(java / "bin" / "java"), "-jar", str(client_jars[0]), "--user", "cli-user", "--output-format", "TSV"]
        tagged = await _run(cli + ["--server", gw.url, "--client-tags", f"nightly,xtrinode={ns}/chosen",
                                   "--execute", "SELECT count(*) FROM tpch.tiny.nation"])
        assert tagged.returncode == 0 and tagged.stdout.strip() == "25", tagged.stderr[-1500:]
        by_host = await _run(cli + ["--server", f"http://localhost:{gw.port}",
                                    "--execute", "SELECT count(*) FROM tpch.tiny.region"])
        assert by_host.returncode == 0 and by_host.stdout.strip() == "5", by_host.stderr[-1500:]
        untagged = await _run(cli + ["--server", gw.url, "--execute", "SELECT 1"])
        assert untagged.returncode != 0, "without a tag the default route (nothing there) is used"
        slow = await asyncio.to_thread(_slow_query, "emulator", emulator.url)
        jdbc = await _run([str(java / "bin" / "java"), "-cp", jdbc_probe, "JdbcProbe",
                           f"jdbc:trino://127.0.0.1:{gw.port}?clientTags=xtrinode={ns}/chosen", slow])
    assert jdbc.returncode == 0, jdbc.stderr[-3000:]
    found = dict(line.split("=", 1) for line in jdbc.stdout.splitlines() if "=" in line)
    assert found["rows"] == "60175" and found["unqualified"] == "GERMANY"
