from __future__ import annotations

import socket

import pytest

from plano.netutil import bind_socket


def test_two_workers_can_share_a_port_with_reuse_port() -> None:
    a = bind_socket("127.0.0.1", 0, reuse_port=True)
    port = a.getsockname()[1]
    b = bind_socket("127.0.0.1", port, reuse_port=True)
    try:
        assert b.getsockname()[1] == port
        assert not a.getblocking() and not b.getblocking()
    finally:
        a.close()
        b.close()


def test_without_reuse_port_a_second_bind_fails() -> None:
    a = bind_socket("127.0.0.1", 0)
    try:
        with pytest.raises(OSError):
            bind_socket("127.0.0.1", a.getsockname()[1])
    finally:
        a.close()


def test_ipv6_host_gets_an_ipv6_socket() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        s = bind_socket("::1", 0)
    except OSError:
        pytest.skip("::1 not available")
    assert s.family == socket.AF_INET6
    s.close()
