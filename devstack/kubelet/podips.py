"""`PodAddressPool`: every pod of this kubelet gets its own loopback address as its podIP.

Linux routes all of 127.0.0.0/8 to the loopback interface, so each pod's Trino binds its own
`127.x.y.z` on its real container port (8080), as in a cluster. Addresses come from `POD_NETWORK`;
each kubelet starts in its own /24 block (a hash of node name and state directory), hands addresses
out in turn, and takes one only when a bind test says address and port are free, so kubelets on one
machine do not collide (or, in a start race, one pod fails to bind, restarts and moves on).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from devstack.resolver import API_POD_NETWORK

__all__ = [
    "API_POD_NETWORK", "ApiAddressPool", "HOST_IP", "NODE_API_IP", "POD_NETWORK", "PodAddress", "PodAddressPool",
    "bindable", "free_port", "pool_seed",
]

log = logging.getLogger("devstack.kubelet.podips")

POD_NETWORK = ipaddress.IPv4Network("127.16.0.0/12")
"""Pod addresses: 127.16.0.1 to 127.31.255.254 (host parts .0 and .255 are skipped); clear of 127.0.0.0/16,
which holds 127.0.0.1, 127.0.1.1 (Debian's hostname) and 127.0.0.53 (systemd-resolved)."""
HOST_IP = "127.0.0.1"
"""The node's own address: every pod's hostIP, the Service proxies, and the last resort for a pod when
no pod address can be bound (a system where only 127.0.0.1 exists, such as macOS)."""
_BLOCK = 256
_SCAN = 64
"""Unused candidate addresses tried for the real ports before settling for a free port."""


def bindable(ip: str, port: int) -> bool:
    """Whether a listener could bind `ip:port` now (SO_REUSEADDR, as the Trino emulator binds:
    TIME_WAIT leftovers do not count, a listener on the port or on 0.0.0.0 does)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def free_port(ip: str) -> int:
    """A port nothing listens on at `ip` now."""
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def pool_seed(node_name: str, state_dir: str) -> str:
    """What picks a kubelet's first block: two kubelets differ in node name or state directory."""
    return f"{node_name}\0{state_dir}"


@dataclass(frozen=True, slots=True)
class PodAddress:
    """A pod's podIP and, per container port, the port its process listens on there (the same
    number unless that port could not be had on any address)."""

    ip: str
    ports: Mapping[int, int]


class PodAddressPool:
    """Pod IPs of one kubelet, unique among its live pods; kept across process restarts, released when
    the pod is gone. Not thread-safe: the kubelet's event loop is its only user."""

    def __init__(
        self, seed: str, network: ipaddress.IPv4Network = POD_NETWORK, *,
        can_bind: Callable[[str, int], bool] = bindable, pick_port: Callable[[str], int] = free_port,
    ) -> None:
        if network.num_addresses < _BLOCK:
            raise ValueError(f"pod network {network} is smaller than a /24; use a /24 or larger, e.g. {POD_NETWORK}")
        self.network = network
        blocks = network.num_addresses // _BLOCK
        self.first_block = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % blocks
        self._cursor = self.first_block * _BLOCK
        self._can_bind = can_bind
        self._pick_port = pick_port
        self._assigned: dict[str, PodAddress] = {}
        self._owners: dict[str, str] = {}
        """Pod-network IP -> uid of the pod holding it."""
        self._warned = False

    def get(self, uid: str) -> PodAddress | None:
        return self._assigned.get(uid)

    def assign(self, uid: str, ports: Sequence[int], preferred: str | None = None) -> PodAddress:
        """The address a pod's (re)started process should listen on, checked bindable now.

        In order: the pod's own IP with the real ports, then with the ports it had; `preferred` (the
        podIP a previous kubelet reported) and unused addresses in turn with the real ports; the first
        bindable of those with free ports; 127.0.0.1 with free ports.
        """
        wanted = tuple(dict.fromkeys(ports))
        previous = self._assigned.get(uid)
        if previous is not None:
            if self._fits(previous.ip, wanted):
                return self._take(uid, previous.ip, {p: p for p in wanted})
            if set(previous.ports) == set(wanted) and self._fits(previous.ip, tuple(previous.ports.values())):
                return previous
        fallback = previous.ip if previous is not None and self._can_bind(previous.ip, 0) else None
        for ip in self._candidates(uid, preferred):
            if self._fits(ip, wanted):
                return self._take(uid, ip, {p: p for p in wanted})
            if fallback is None and self._can_bind(ip, 0):
                fallback = ip
        if fallback is None:
            if not self._warned:
                log.warning("no address of the pod network can be bound; pods share 127.0.0.1 on free ports",
                            extra={"network": str(self.network)})
                self._warned = True
            fallback = HOST_IP
        return self._take(uid, fallback, {p: self._pick_port(fallback) for p in wanted})

    def release(self, uid: str) -> None:
        address = self._assigned.pop(uid, None)
        if address is not None and self._owners.get(address.ip) == uid:
            del self._owners[address.ip]

    def _fits(self, ip: str, ports: Sequence[int]) -> bool:
        return all(self._can_bind(ip, port) for port in ports)

    def _usable(self, ip: str, uid: str) -> bool:
        address = ipaddress.IPv4Address(ip)
        host = int(address) % _BLOCK
        return address in self.network and 0 < host < _BLOCK - 1 and self._owners.get(ip, uid) == uid

    def _candidates(self, uid: str, preferred: str | None) -> Iterator[str]:
        """`preferred` when it is a usable pod-network address, then up to `_SCAN` unused addresses from the
        cursor on (wrapping around the network), moving the cursor past each one offered."""
        if preferred is not None:
            try:
                if self._usable(preferred, uid):
                    yield preferred
            except ValueError:
                pass
        base, size = int(self.network.network_address), self.network.num_addresses
        offered = 0
        for _ in range(size):
            if offered >= _SCAN:
                return
            ip = str(ipaddress.IPv4Address(base + self._cursor))
            self._cursor = (self._cursor + 1) % size
            if ip != preferred and self._usable(ip, uid):
                offered += 1
                yield ip

    def _take(self, uid: str, ip: str, ports: Mapping[int, int]) -> PodAddress:
        self.release(uid)
        address = PodAddress(ip, dict(ports))
        self._assigned[uid] = address
        if ipaddress.IPv4Address(ip) in self.network:
            self._owners[ip] = uid
        return address


# API_POD_NETWORK (devstack.resolver): TEST-NET-1, the podIPs a node agent reports to a real API server,
# which refuses loopback addresses in Endpoints and EndpointSlices. Nothing ever connects to one: each
# maps one to one to the pod's loopback address in the service map (`servicemap.py`).
NODE_API_IP = "192.0.2.1"
"""The node's InternalIP and every pod's hostIP on a real API server (192.0.2.2 is what kube-apiserver
bound to 127.0.0.1 publishes for the `kubernetes` Service)."""
_API_FIRST_HOST = 16


class ApiAddressPool:
    """The podIPs a node agent reports in the API: one address of `API_POD_NETWORK` per live pod, from .16
    up (the ones below are the node's and the apiserver's), handed out in turn from an offset picked by the
    seed; a pod keeps its address until released, and a restarted kubelet gives an adopted pod the one it
    reported before. Not thread-safe: the kubelet's event loop is its only user."""

    def __init__(self, seed: str, network: ipaddress.IPv4Network = API_POD_NETWORK) -> None:
        base = int(network.network_address)
        self._hosts = [str(ipaddress.IPv4Address(base + n)) for n in range(_API_FIRST_HOST, network.num_addresses - 1)]
        self.network = network
        self._cursor = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % len(self._hosts)
        self._assigned: dict[str, str] = {}
        self._owners: dict[str, str] = {}

    @property
    def capacity(self) -> int:
        """How many pods can have an address at once (the Node's `pods` capacity)."""
        return len(self._hosts)

    def get(self, uid: str) -> str | None:
        return self._assigned.get(uid)

    def assign(self, uid: str, preferred: str | None = None) -> str:
        """The pod's address: the one it has, else `preferred` when free, else the next free one."""
        current = self._assigned.get(uid)
        if current is not None:
            return current
        if preferred is not None and preferred in self._hosts and preferred not in self._owners:
            return self._take(uid, preferred)
        for _ in range(len(self._hosts)):
            ip = self._hosts[self._cursor]
            self._cursor = (self._cursor + 1) % len(self._hosts)
            if ip not in self._owners:
                return self._take(uid, ip)
        raise RuntimeError(
            f"all {len(self._hosts)} pod addresses of {self.network} are in use on this node; delete pods or "
            "run fewer runtimes on the real control plane (the emulator has no such limit)")

    def release(self, uid: str) -> None:
        ip = self._assigned.pop(uid, None)
        if ip is not None:
            self._owners.pop(ip, None)

    def _take(self, uid: str, ip: str) -> str:
        self._assigned[uid] = ip
        self._owners[ip] = uid
        return ip
