"""The default filter types: one per config filter model; chains built from a config, remote
filters sharing one client and an MCP entry one session across its roles."""

from __future__ import annotations

from plano.config import check_config
from plano.config.filters import FILTER_SPECS
from plano.filters import FilterClient, build_chain, filter_registry
from plano.filters.remote import RemoteInputFilter, RemoteOutputFilter
from plano.pipeline.filters import Filter


def test_every_config_filter_type_has_a_factory() -> None:
    assert set(filter_registry(FilterClient()).types) == set(FILTER_SPECS)


async def test_build_chain_from_a_config() -> None:
    data = {
        "version": "v0.4.0",
        "listeners": [
            {
                "type": "model",
                "name": "llm",
                "port": 12000,
                "input_filters": ["guard", "pii"],
                "output_filters": ["guard"],
            }
        ],
        "model_providers": [{"model": "openai/gpt-4o", "access_key": "k"}],
        "filters": [
            {"id": "guard", "url": "http://127.0.0.1:1/x"},
            {
                "id": "pii",
                "type": "regex_redact",
                "options": {"patterns": [{"name": "n", "regex": "\\d+"}], "restore": True},
            },
        ],
    }
    config, issues = check_config(data, {})
    assert config is not None, issues
    client = FilterClient()
    builtin = Filter()
    chain = build_chain(config, config.model_listener, builtins=[builtin], client=client)
    assert [f.name for f in chain.filters] == ["filter", "guard", "pii", "guard", "pii"]
    _, request_side, _, answer_side, _ = chain.filters
    assert isinstance(request_side, RemoteInputFilter)
    assert isinstance(answer_side, RemoteOutputFilter)
    assert request_side.remote is answer_side.remote  # one MCP session for the entry
    assert chain.filters_streams  # an output filter and a restore: streams are rendered
    await chain.start()
    await chain.close()
