"""``Identities.resolve``: a stored virtual key (through the given lookup) is ``key:<id>``;
the lookup is asked only for a token nothing else names."""

from __future__ import annotations

import asyncio

from plano.pubsub.identity import Identities


def test_a_stored_key_is_found_through_the_lookup_and_only_when_needed() -> None:
    asked: list[str] = []

    async def lookup(token: str) -> str | None:
        asked.append(token)
        return "k1" if token == "stored-token" else None

    ids = Identities(keys={"static-token": "ci"}, admin_key="admin-token", lookup=lookup)

    async def who(token: str | None) -> str:
        return await ids.resolve({"authorization": f"Bearer {token}"} if token else {})

    assert asyncio.run(who("stored-token")) == "key:k1"
    assert asyncio.run(who("static-token")) == "key:ci"
    assert asyncio.run(who("admin-token")) == "admin"
    assert asyncio.run(who("unknown")) == "anonymous"
    assert asyncio.run(who(None)) == "anonymous"
    assert asyncio.run(who("unknown")) == "anonymous"
    assert asked == ["stored-token", "unknown", "unknown"]
