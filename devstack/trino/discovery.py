"""Announce-based discovery (Trino 477+): workers POST their URI, the coordinator polls `/v1/info`.

`Announcer` runs on workers; `NodeRegistry` on the coordinator keeps announcements (expiring),
each node's polled state (ACTIVE, SHUTTING_DOWN, GONE, INVALID...) and counts active workers.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from xtrinode.trino_protocol import NodeState, Path

from .notifier import Notifier
from .settings import NodeSettings

__all__ = ["Announcer", "NodeRegistry", "RemoteNode"]

log = logging.getLogger("devstack.trino.discovery")


@dataclass(slots=True)
class RemoteNode:
    """One announced node as the coordinator sees it, with failure-detector style counters."""

    uri: str
    last_announce: float
    first_seen_wall: float = field(default_factory=time.time)
    node_id: str | None = None
    state: NodeState = NodeState.INACTIVE
    coordinator: bool = False
    version: str | None = None
    requests: int = 0
    failures: int = 0
    last_request_wall: float | None = None
    last_response_wall: float | None = None


class NodeRegistry:
    """Coordinator side: who announced, what each node says about itself, who counts as active."""

    def __init__(self, settings: NodeSettings, session: Callable[[], aiohttp.ClientSession]) -> None:
        self.settings = settings
        self._session = session
        self.nodes: dict[str, RemoteNode] = {}
        self._wakeup = Notifier()
        self._changed = Notifier()

    def announce(self, uri: str) -> None:
        uri = uri.strip().rstrip("/")
        node = self.nodes.get(uri)
        if node is None:
            self.nodes[uri] = RemoteNode(uri, time.monotonic())
            log.info("node announced", extra={"uri": uri})
            self._wakeup.notify()
        else:
            node.last_announce = time.monotonic()

    def active_workers(self) -> list[RemoteNode]:
        return [n for n in self.nodes.values() if n.state == NodeState.ACTIVE and not n.coordinator]

    def active_node_count(self) -> int:
        """Active nodes including this coordinator (`ActiveNodeCount`)."""
        return len(self.active_workers()) + 1

    def schedulable_count(self) -> int:
        """What `ClusterSizeMonitor` compares to required workers."""
        return len(self.active_workers()) + (1 if self.settings.include_coordinator else 0)

    def count_in(self, state: NodeState) -> int:
        return sum(1 for node in self.nodes.values() if node.state == state and not node.coordinator)

    async def wait_changed(self, timeout: float) -> None:
        await self._changed.wait(timeout)

    def _notify(self) -> None:
        self._changed.notify()

    async def run(self) -> None:
        """Expire old announcements and poll every node; a new announcement triggers a poll at once."""
        interval = self.settings.node_poll_interval.total_seconds()
        while True:
            expiry = time.monotonic() - self.settings.announce_expiry.total_seconds()
            for uri in [uri for uri, node in self.nodes.items() if node.last_announce < expiry]:
                log.info("node announcement expired", extra={"uri": uri})
                del self.nodes[uri]
                self._notify()
            announced = len(self.nodes)
            if self.nodes:
                await asyncio.gather(*(self._poll(node) for node in list(self.nodes.values())))
            if len(self.nodes) == announced:
                await self._wakeup.wait(interval)

    async def _get_json(self, url: str, timeout: aiohttp.ClientTimeout) -> Any:
        async with self._session().get(url, timeout=timeout) as response:
            response.raise_for_status()
            return await response.json(content_type=None)

    async def _poll(self, node: RemoteNode) -> None:
        before = (node.state, node.node_id)
        node.requests += 1
        node.last_request_wall = time.time()
        timeout = aiohttp.ClientTimeout(total=max(1.0, min(5.0, self.settings.node_poll_interval.total_seconds())))
        try:
            # Trino 476's /v1/info has no state or node id: the state is /v1/info/state, the id /v1/status.
            info = await self._get_json(node.uri + Path.INFO, timeout)
            state = await self._get_json(node.uri + Path.INFO_STATE, timeout)
            if node.node_id is None:
                node.node_id = str((await self._get_json(node.uri + Path.STATUS, timeout)).get("nodeId") or node.uri)
            node.last_response_wall = time.time()
            node.coordinator = bool(info.get("coordinator"))
            node.version = str(info.get("nodeVersion", {}).get("version"))
            if info.get("environment") != self.settings.environment or node.version != self.settings.version:
                node.state = NodeState.INVALID
            elif info.get("starting"):
                node.state = NodeState.INACTIVE
            else:
                node.state = NodeState(str(state))
        except aiohttp.ClientConnectorError as e:
            node.failures += 1
            refused = e.os_error is not None and e.os_error.errno == errno.ECONNREFUSED
            node.state = NodeState.GONE if refused else NodeState.INACTIVE
        except (aiohttp.ClientError, TimeoutError, ValueError):
            node.failures += 1
            node.state = NodeState.INACTIVE
        if (node.state, node.node_id) != before:
            log.info("node state", extra={"uri": node.uri, "state": str(node.state), "node_id": node.node_id})
            self._notify()


class Announcer:
    """Worker side: `POST {discovery.uri}/v1/announce` with our URI, every announce interval."""

    def __init__(self, settings: NodeSettings, session: Callable[[], aiohttp.ClientSession], self_uri: str) -> None:
        self.settings = settings
        self._session = session
        self.self_uri = self_uri
        self.announced = asyncio.Event()

    async def run(self) -> None:
        assert self.settings.discovery_uri is not None
        url = self.settings.discovery_uri + Path.ANNOUNCE
        interval = self.settings.announce_interval.total_seconds()
        failing = False
        while True:
            try:
                async with self._session().post(
                    url, data=self.self_uri, headers={"Content-Type": "text/plain"},
                    timeout=aiohttp.ClientTimeout(total=max(1.0, interval)),
                ) as response:
                    response.raise_for_status()
                if failing:
                    log.info("announcing again", extra={"discovery_uri": self.settings.discovery_uri})
                failing = False
                self.announced.set()
            except (aiohttp.ClientError, TimeoutError) as e:
                if not failing:
                    log.warning("announce failed", extra={"discovery_uri": self.settings.discovery_uri,
                                                          "error": f"{type(e).__name__}: {e}"[:200]})
                failing = True
            await asyncio.sleep(interval)
