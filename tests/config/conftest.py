"""Shared fixtures for the config tests: a minimal valid config to modify per test."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def base() -> dict[str, Any]:
    """A minimal config that loads with no issues at all."""
    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [{"model": "openai/gpt-4o", "access_key": "sk-test"}],
    }
