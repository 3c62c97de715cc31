from __future__ import annotations

import orjson

from plano.agents.directory import StaticDirectory
from plano.agents.sessions import (
    SessionLimits,
    SessionStore,
    decode_messages,
    derive_session_id,
    encode_messages,
)
from plano.core.model import Message, TextPart
from plano.store.memory import MemoryKeyValue


def msg(role: str, text: str) -> Message:
    return Message(role, [TextPart(text)])  # type: ignore[arg-type]


def test_encode_drops_oldest_past_the_limits() -> None:
    many = [msg("user", f"m{i}") for i in range(10)] + [msg("system", "s")]
    data = encode_messages(many, SessionLimits(max_messages=3))
    assert [m["content"] for m in orjson.loads(data)] == ["m7", "m8", "m9"]
    big = [msg("user", "x" * 1000) for _ in range(50)]
    data = encode_messages(big, SessionLimits(max_bytes=5000))
    assert len(data) <= 5000 and len(orjson.loads(data)) >= 1
    huge = encode_messages([msg("user", "y" * 100_000)], SessionLimits(max_bytes=2000))
    assert len(huge) <= 2000


def test_decode_ignores_garbage() -> None:
    assert decode_messages(b"not json") == []
    assert decode_messages(b'[{"role": "tool", "content": "x"}, 3]') == []


def test_derived_id_is_stable_per_caller_and_first_message() -> None:
    a = derive_session_id("k1", [msg("user", "hello"), msg("assistant", "x")])
    assert a == derive_session_id("k1", [msg("user", "hello")])
    assert a != derive_session_id("k2", [msg("user", "hello")])
    assert derive_session_id("k1", [msg("system", "s")]) is None


async def test_store_round_trip_with_ttl_and_delete() -> None:
    kv = MemoryKeyValue()
    store = SessionStore(kv, SessionLimits(ttl=60))
    await store.save("s1", [msg("user", "q"), Message("assistant", [TextPart("a")], name="w")])
    got = await store.load("s1")
    assert [(m.role, m.name, m.text()) for m in got] == [
        ("user", None, "q"),
        ("assistant", "w", "a"),
    ]
    assert await store.raw("s1") == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "name": "w"},
    ]
    assert await store.delete("s1") is True
    assert await store.load("s1") == [] and await store.raw("s1") is None


def test_static_directory() -> None:
    d = StaticDirectory({"a": "http://h:1/x/"})
    assert d.endpoints("a") == ("http://h:1/x",) and d.state("a") == "external"
    assert d.endpoints("b") == () and d.state("b") == "down"
