"""`KubeApiServer`: the emulator on its own aiohttp runner, for tests and the devstack.

`async with KubeApiServer(port=0) as srv:` serves on a free loopback port; `srv.write_kubeconfig(p)`
writes a kubeconfig kubectl and the official client use as is. `ThreadedKubeApiServer` does the
same from synchronous code, running the server's event loop in a background thread.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from aiohttp import web

from .cluster import Cluster, WriteOptions
from .server import CLUSTER_KEY, KubeApiSettings, create_app

CONTEXT = "xtrinode-devstack"
TOKEN = "xtrinode-devstack-token"  # not a secret: the emulator accepts any request


def kubeconfig(url: str, namespace: str = "default") -> dict[str, Any]:
    """A kubeconfig with one cluster, one token user and one current context."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {"token": TOKEN}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}],
        "current-context": CONTEXT,
        "preferences": {},
    }


class KubeApiServer:
    """Start, use and stop the emulator in-process; state is saved to `state_file` on stop."""

    def __init__(
        self,
        port: int = 0,
        state_file: Path | str | None = None,
        *,
        host: str = "127.0.0.1",
        settings: KubeApiSettings | None = None,
    ) -> None:
        self.settings = settings or KubeApiSettings(
            host=host, port=port, state_file=Path(state_file) if state_file else None
        )
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None
        self.port = self.settings.port

    @property
    def url(self) -> str:
        """Where clients connect (loopback when listening on every interface)."""
        host = self.settings.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "[::1]"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def cluster(self) -> Cluster:
        if self._app is None:
            raise RuntimeError("KubeApiServer is not started; use `async with KubeApiServer() as srv:`")
        return self._app[CLUSTER_KEY]

    async def start(self) -> None:
        self._app = create_app(self.settings)
        self._runner = web.AppRunner(self._app, handle_signals=False, shutdown_timeout=5.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> KubeApiServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    def write_kubeconfig(self, path: Path | str, namespace: str = "default") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(kubeconfig(self.url, namespace), sort_keys=False))
        path.chmod(0o600)
        return path

    def seed_namespaces(self, *names: str) -> None:
        """Create namespaces that do not exist yet."""
        ns = self.cluster.registry.lookup("", "v1", "namespaces")
        assert ns is not None
        for name in names:
            if self.cluster.store.get(("", "namespaces"), "", name) is None:
                self.cluster.create(ns, "", {"metadata": {"name": name}}, WriteOptions(manager="xtrinode-devstack"))


class ThreadedKubeApiServer:
    """`with ThreadedKubeApiServer() as srv:` for synchronous callers: the loop runs in a thread."""

    def __init__(self, port: int = 0, state_file: Path | str | None = None, *, settings: KubeApiSettings | None = None) -> None:
        self.server = KubeApiServer(port, state_file, settings=settings)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def write_kubeconfig(self, path: Path | str, namespace: str = "default") -> Path:
        return self.server.write_kubeconfig(path, namespace)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as e:
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.stop()

    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="kubeapi", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"the kubeapi emulator did not start within {timeout}s")
        if self._error is not None:
            raise RuntimeError(f"the kubeapi emulator failed to start: {self._error}") from self._error

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None or self._loop is None or self._stop is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"the kubeapi emulator did not stop within {timeout}s")
        self._thread = None

    def __enter__(self) -> ThreadedKubeApiServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
