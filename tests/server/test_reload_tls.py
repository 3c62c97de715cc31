"""Reload and TLS: whether a listener speaks TLS (or asks for client certificates) is fixed
until a restart; a reload that would change it is refused."""

from __future__ import annotations

from plano.server.listeners import ListenerSpec
from plano.server.reload import listener_changes


def test_turning_tls_on_or_off_needs_a_restart() -> None:
    plain = ListenerSpec("llm", "model", "127.0.0.1", 12000, "listeners[0]")
    tls = ListenerSpec("llm", "model", "127.0.0.1", 12000, "listeners[0]", tls=True)
    mutual = ListenerSpec("llm", "model", "127.0.0.1", 12000, "listeners[0]", tls=True, mutual=True)
    assert listener_changes([tls], [tls]) == []
    for before, after in ((plain, tls), (tls, mutual), (mutual, plain)):
        (line,) = listener_changes([before], [after])
        assert "TLS or client certificates" in line and "restart" in line
