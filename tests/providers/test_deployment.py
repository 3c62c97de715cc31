"""plano.providers.deployment: a deployment for another model, model-id syntax."""

from __future__ import annotations

import pytest

from plano.errors import InvalidRequest
from plano.providers.deployment import Deployment, check_model_id, is_model_id, is_model_name
from plano.providers.table import KNOWN_PROVIDERS


def test_deployment_with_model() -> None:
    d = Deployment(
        name="openai/*",
        provider="openai",
        model_id="*",
        spec=KNOWN_PROVIDERS["openai"],
        base_url="https://api.openai.com",
        access_key="sk-k",
        headers=(("x-a", "b"),),
        passthrough_auth=True,
    )
    w = d.with_model("gpt-5")
    assert w == Deployment(
        "openai/gpt-5",
        "openai",
        "gpt-5",
        KNOWN_PROVIDERS["openai"],
        "https://api.openai.com",
        "sk-k",
        (("x-a", "b"),),
        True,
        group="openai/*",  # bounded tables and metric labels use the wildcard's key
    )
    assert w.metric_key == "openai/*" and w.key == "openai/gpt-5"
    assert (w.price_provider, w.price_model) == ("openai", "gpt-5")
    assert d.model_id == "*"  # frozen original unchanged


@pytest.mark.parametrize("name", ["gpt-4o", "ft:gpt-4o-mini:org::id", "models/gemini-2.0-flash"])
def test_model_ids(name: str) -> None:
    assert is_model_name(name) and is_model_id(name)
    check_model_id(name)


@pytest.mark.parametrize("name", ["a//b", "/abs", "trailing/"])
def test_empty_segments_pass_as_a_name_but_not_as_an_id(name: str) -> None:
    assert is_model_name(name) and not is_model_id(name)
    with pytest.raises(InvalidRequest) as info:
        check_model_id(name)
    assert (info.value.code, info.value.param) == ("invalid_model", "model")
