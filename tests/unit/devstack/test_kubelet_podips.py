"""Pod IPs of the devstack kubelet: addresses in the pod network (never 127.0.0.1, host parts .0 and
.255 skipped), starting in a /24 block that depends on node name and state directory, unique among
live pods, kept by a pod across restarts, not handed out again at once after release; an address
whose real port is taken is skipped, a free port is the fallback when no address has it, and
127.0.0.1 the last resort; a pod moves when its own address is taken. A bind test on a real
loopback address closes the file.
"""

from __future__ import annotations

import ipaddress
import socket

from devstack.kubelet.podips import (
    HOST_IP,
    POD_NETWORK,
    PodAddress,
    PodAddressPool,
    bindable,
    pool_seed,
)


class FakeBinds:
    """Which ip:port pairs are taken (ip, 0 = the address itself cannot be bound), and free ports handed out."""

    def __init__(self) -> None:
        self.taken: set[tuple[str, int]] = set()
        self.taken_everywhere: set[int] = set()
        """Ports a listener on 0.0.0.0 holds."""
        self.only: str | None = None
        """The one address that exists (macOS has only 127.0.0.1)."""
        self.next_port = 41000

    def can_bind(self, ip: str, port: int) -> bool:
        if self.only is not None and ip != self.only:
            return False
        return (ip, port) not in self.taken and (ip, 0) not in self.taken and port not in self.taken_everywhere

    def pick_port(self, ip: str) -> int:
        self.next_port += 1
        return self.next_port


def _pool(seed: str = "node-a\0/state", binds: FakeBinds | None = None) -> tuple[PodAddressPool, FakeBinds]:
    binds = binds or FakeBinds()
    return PodAddressPool(seed, can_bind=binds.can_bind, pick_port=binds.pick_port), binds


def test_pods_get_distinct_addresses_of_the_kubelets_block_on_the_real_port() -> None:
    pool, _ = _pool()
    first, second = pool.assign("a", [8080]), pool.assign("b", [8080])
    assert first.ports == second.ports == {8080: 8080}
    assert first.ip != second.ip
    block = ipaddress.IPv4Network(f"{first.ip}/24", strict=False)
    assert ipaddress.IPv4Address(second.ip) in block and block.subnet_of(POD_NETWORK)
    assert int(ipaddress.IPv4Address(first.ip)) % 256 == 1, "host part .0 skipped"


def test_kubelets_with_other_names_or_state_dirs_start_in_other_blocks() -> None:
    blocks = {PodAddressPool(pool_seed(node, state)).first_block
              for node in ("node-a", "node-b") for state in ("/s1", "/s2")}
    assert len(blocks) == 4


def test_a_pod_keeps_its_address_across_restarts() -> None:
    pool, _ = _pool()
    address = pool.assign("a", [8080])
    pool.assign("b", [8080])
    assert pool.assign("a", [8080]) == address


def test_a_released_address_is_not_handed_out_again_at_once() -> None:
    pool, _ = _pool()
    address = pool.assign("a", [8080])
    pool.release("a")
    assert pool.get("a") is None
    assert pool.assign("b", [8080]).ip != address.ip


def test_an_address_whose_port_is_taken_is_skipped() -> None:
    pool, binds = _pool()
    first = pool.assign("a", [8080])
    pool.release("a")
    # Another kubelet (same block) holds the next two addresses' port 8080.
    following = [str(ipaddress.IPv4Address(first.ip) + n) for n in (1, 2)]
    binds.taken.update((ip, 8080) for ip in following)
    address = pool.assign("b", [8080])
    assert address.ip == str(ipaddress.IPv4Address(first.ip) + 3) and address.ports == {8080: 8080}


def test_a_pod_whose_address_was_taken_moves_to_another() -> None:
    pool, binds = _pool()
    address = pool.assign("a", [8080])
    binds.taken.add((address.ip, 8080))
    moved = pool.assign("a", [8080])
    assert moved.ip != address.ip and moved.ports == {8080: 8080}


def test_a_free_port_when_no_address_has_the_real_one_then_127_0_0_1() -> None:
    pool, binds = _pool()
    binds.taken_everywhere.add(8080)
    address = pool.assign("a", [8080])
    assert ipaddress.IPv4Address(address.ip) in POD_NETWORK and address.ports == {8080: 41001}
    assert pool.assign("a", [8080]) == address, "the pod keeps its address and port"

    binds.only = HOST_IP
    assert pool.assign("b", [8080]) == PodAddress(HOST_IP, {8080: 41002})


def test_the_reported_pod_ip_of_an_adopted_pod_is_preferred() -> None:
    pool, _ = _pool()
    assert pool.assign("a", [8080], preferred="127.20.3.4").ip == "127.20.3.4"
    assert pool.assign("b", [8080], preferred="127.20.3.4").ip != "127.20.3.4", "held by pod a"
    assert pool.assign("c", [8080], preferred="127.0.0.1").ip != "127.0.0.1", "outside the pod network"
    assert ipaddress.IPv4Address(pool.assign("d", [8080], preferred="not an ip").ip) in POD_NETWORK


def test_bind_test_on_a_pod_address_sees_a_listener() -> None:
    ip = "127.16.255.254"
    with socket.socket() as listener:
        listener.bind((ip, 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        assert not bindable(ip, port)
        assert bindable("127.16.255.253", port), "the same port on another pod address is free"
    assert bindable(ip, port)
