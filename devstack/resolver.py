"""`ServiceResolver`: in-cluster Service URLs to local addresses, from the devstack kubelet's services.json.

The lifecycle activities and the gateway take one as an ordinary setting; outside the devstack
they use none. The file is re-read whenever it changes; unknown addresses pass through unchanged,
except pod addresses of 192.0.2.0/24 (what a node agent reports to a real API server): nothing may
connect to one, so the resolver maps it to the pod's loopback address or refuses.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["API_POD_NETWORK", "ServiceResolver", "UnmappedPodAddress", "in_api_pod_network"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
API_POD_NETWORK = ipaddress.IPv4Network("192.0.2.0/24")
"""TEST-NET-1 (RFC 5737, documentation only): the podIPs the devstack kubelet reports to a real API
server (which refuses loopback Endpoints), each mapped to the pod's loopback address in services.json."""


def in_api_pod_network(host: str) -> bool:
    """Whether `host` is an address of 192.0.2.0/24 (never a host name)."""
    try:
        return ipaddress.ip_address(host) in API_POD_NETWORK
    except ValueError:
        return False


class UnmappedPodAddress(ValueError):
    """A 192.0.2.x pod address with no local pod behind it: it must never be connected to."""


class ServiceResolver:
    """Reads `<state-dir>/services.json` ({"svc.ns.svc.cluster.local:8080": ["127.16.4.1:8080"], ...}: each
    ready pod's own loopback podIP and port)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        self._map: dict[str, list[str]] = {}
        self._turn = itertools.count()

    def _reload(self) -> None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._map = None, {}
            return
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(
                f"service map {str(self.path)!r} is not valid JSON ({e}); it is written by the devstack kubelet, "
                "so restart the kubelet or point the resolver at its --state-dir/services.json"
            ) from e
        if not isinstance(loaded, dict):
            raise ValueError(f"service map {str(self.path)!r} must be a JSON object of address -> [addresses]")
        self._map = {str(k): [str(a) for a in v] for k, v in loaded.items() if isinstance(v, list)}
        self._stamp = stamp

    @property
    def mapping(self) -> Mapping[str, list[str]]:
        """The current map (re-read when the file changed)."""
        self._reload()
        return self._map

    def addresses(self, host: str, port: int) -> list[str] | None:
        """Ready local `host:port` addresses of an in-cluster address; None when it is not a known Service."""
        return self.mapping.get(f"{host.lower().rstrip('.')}:{port}")

    def resolve_url(self, url: str) -> str:
        """`http://trino-demo.ns.svc.cluster.local:8080/v1/info` -> `http://127.16.4.1:8080/v1/info`.

        Unchanged when the host is not a known Service or none of its pods is ready; several ready
        pods are used in turn. A 192.0.2.x pod address resolves to its pod's loopback address, and
        raises `UnmappedPodAddress` when no local pod has it: nothing connects to 192.0.2.x.
        """
        parts = urlsplit(url)
        if not parts.hostname:
            return url
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
        if port is None:
            return url
        found = [a for a in self.addresses(parts.hostname, port) or [] if not in_api_pod_network(a.rsplit(":", 1)[0])]
        if not found:
            if in_api_pod_network(parts.hostname):
                raise UnmappedPodAddress(
                    f"{parts.hostname}:{port} is a devstack pod address (192.0.2.0/24, documentation only) with no "
                    f"local pod behind it in {str(self.path)!r}; connect through the pod's Service instead")
            return url
        chosen = found[next(self._turn) % len(found)]
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{chosen}" if userinfo else chosen
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
