"""`KubeApiServer`: the emulator on its own aiohttp runner, for tests and the devstack.

`async with KubeApiServer(port=0) as srv:` serves on a free loopback port; `srv.write_kubeconfig(p)`
writes a kubeconfig kubectl and the official client use as is.
"""

from __future__ import annotations

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
        return f"http://{self.settings.host}:{self.port}"

    @property
    def cluster(self) -> Cluster:
        if self._app is None:
            raise RuntimeError("KubeApiServer is not started; use `async with KubeApiServer() as srv:`")
        return self._app[CLUSTER_KEY]

    async def start(self) -> None:
        self._app = create_app(self.settings)
        self._runner = web.AppRunner(self._app, handle_signals=False, shutdown_timeout=5.0)
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
