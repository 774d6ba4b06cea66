"""devstack.ports: ports for processes started later come from below the kernel's ephemeral range, where
no other process's bind(0) can take them first."""

from __future__ import annotations

import socket

import pytest

from devstack.ports import NoFreePort, ephemeral_range, free_port


def test_a_free_port_is_below_the_ephemeral_range_bindable_and_not_taken() -> None:
    low = ephemeral_range()[0]
    first = free_port()
    second = free_port({first})
    assert first < low and second < low and second != first
    with socket.socket() as s:
        s.bind(("127.0.0.1", second))


def test_no_free_port_says_where_it_looked() -> None:
    low = ephemeral_range()[0]
    with pytest.raises(NoFreePort, match=f"below|between .* and {low - 1}"):
        free_port(set(range(1024, low)))
