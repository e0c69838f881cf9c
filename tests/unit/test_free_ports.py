"""The local stack picks the ports of the servers it starts itself; two of them must never get the same one."""
from __future__ import annotations

import socket

from devstack import services


def test_free_port_hands_out_each_port_once_and_never_a_reserved_one() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        reserved = held.getsockname()[1]
    services.reserve_port(reserved)
    # The kernel hands a just-released port to a later bind(0) often enough that a few hundred draws repeat one.
    handed = [services.free_port() for _ in range(500)]
    assert len(set(handed)) == len(handed)
    assert reserved not in handed
