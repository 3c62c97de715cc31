"""The filter registry: types keyed by spec class, chains in the documented order (builtins,
input filters, output filters, then the input filters' unwind parts in reverse), filters
named by their config id and failing open or closed by role."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from plano.config import PlanoConfig, check_config
from plano.config.filters import HttpFilterSpec, McpFilterSpec
from plano.core.model import ChatResponse
from plano.errors import ConfigError, PlanoError
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter
from plano.pipeline.registry import Built, ConfiguredFilter, FilterRegistry, FilterRole, FilterType


class Tagged(ConfiguredFilter):
    async def on_request(self, ctx: RequestContext) -> None:
        ctx.labels.setdefault("order", "")
        ctx.labels["order"] += f"{self.name}>"

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        ctx.labels["order"] += f"{self.name}<"


class Unwind(ConfiguredFilter):
    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        ctx.labels["order"] += f"~{self.name}<"


class Builtin(Filter):
    name: ClassVar[str] = "builtin"


def _http(spec: HttpFilterSpec, role: FilterRole) -> Built:
    return Built(Tagged(spec, role))


def _mcp(spec: McpFilterSpec, role: FilterRole) -> Built:
    unwind = Unwind(spec, role) if role == "input" else None
    return Built(Tagged(spec, role), unwind)


def _config(**listener: Any) -> PlanoConfig:
    data = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000, **listener}],
        "model_providers": [{"model": "openai/gpt-4o", "access_key": "k"}],
        "filters": [
            {"id": "a", "url": "http://127.0.0.1:1"},
            {"id": "b", "url": "http://127.0.0.1:2"},
            {"id": "c", "type": "http", "url": "http://127.0.0.1:3"},
        ],
    }
    config, issues = check_config(data, {})
    assert config is not None, issues
    return config


REGISTRY = FilterRegistry([FilterType(HttpFilterSpec, _http), FilterType(McpFilterSpec, _mcp)])


async def test_chain_order_builtins_inputs_outputs_then_unwind_in_reverse() -> None:
    config = _config(input_filters=["a", "b"], output_filters=["c"])
    builtin = Builtin()
    chain = REGISTRY.chain(config, config.model_listener, builtins=[builtin])
    assert [f.name for f in chain.filters] == ["builtin", "a", "b", "c", "b", "a"]
    assert chain.filters[0] is builtin
    ctx = RequestContext("req_1", "openai_chat", {})
    await chain.on_request(ctx)
    await chain.on_response(ctx, ChatResponse("r", "m", []))
    # Hooks run in chain order; the unwind parts come last, b's before a's (an onion).
    assert ctx.labels["order"] == "a>b>c>a<b<c<~b<~a<"


def test_configured_filters_fail_closed_on_requests_and_open_on_answers() -> None:
    config = _config(input_filters=["c"], output_filters=["c"])
    chain = REGISTRY.chain(config, config.model_listener)
    request_side, answer_side = chain.filters
    assert isinstance(request_side, ConfiguredFilter) and request_side.fail_closed
    assert isinstance(answer_side, ConfiguredFilter) and not answer_side.fail_closed
    assert request_side.key != answer_side.key  # one entry, two roles, two scratch keys
    spec = HttpFilterSpec.model_validate(
        {"id": "x", "type": "http", "url": "http://h", "on_error": "open"}
    )
    assert not Tagged(spec, "input").fail_closed


async def test_a_broken_fail_closed_filter_fails_the_request() -> None:
    class Broken(ConfiguredFilter):
        async def on_request(self, ctx: RequestContext) -> None:
            raise RuntimeError("bug")

    spec = HttpFilterSpec.model_validate({"id": "x", "type": "http", "url": "http://h"})
    registry = FilterRegistry([FilterType(HttpFilterSpec, lambda s, r: Built(Broken(s, r)))])
    config = _config(input_filters=["c"])
    chain = registry.chain(config, config.model_listener)
    with pytest.raises(PlanoError, match="filter 'c'"):
        await chain.on_request(RequestContext("req_1", "openai_chat", {}))
    assert chain.failures["c"] == 1
    assert Broken(spec, "output").name == "x"


def test_a_type_without_a_factory_or_registered_twice() -> None:
    config = _config(input_filters=["c"])
    with pytest.raises(ConfigError, match="no factory for HttpFilterSpec"):
        FilterRegistry([FilterType(McpFilterSpec, _mcp)]).chain(config, config.model_listener)
    with pytest.raises(ValueError, match="two filter types"):
        FilterRegistry([FilterType(HttpFilterSpec, _http), FilterType(HttpFilterSpec, _http)])


def test_an_undeclared_id_in_a_hand_built_config() -> None:
    config = _config()
    listener = config.model_listener.model_copy(update={"input_filters": ["zzz"]})
    with pytest.raises(ConfigError, match="unknown filter 'zzz'"):
        REGISTRY.chain(config, listener)
