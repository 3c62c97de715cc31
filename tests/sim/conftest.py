"""Fixtures for the simulated providers: a server on 127.0.0.1:0 and an HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from plano.sim import SimOptions, SimServer

#: Headers that satisfy every wire shape's authentication.
AUTH = {
    "Authorization": "Bearer sk-test",
    "x-api-key": "sk-test",
    "anthropic-version": "2023-06-01",
    "x-goog-api-key": "g-test",
}


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SimOptions()) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session
