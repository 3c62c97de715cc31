"""The auth filter's hooks on a request context: where the key is read from, what is refused
(and recorded as a decision), the principal it sets, deployments it refuses, and the Plano
key kept away from passthrough_auth providers."""

from __future__ import annotations

from typing import Any

import pytest
from tests.filters.test_keys import FakeStore

from plano.config import check_config
from plano.config.auth import StaticKey
from plano.core.model import ChatRequest, Message
from plano.errors import AuthenticationError, DeploymentRefused, PermissionDenied
from plano.filters.auth import AuthFilter, read_key
from plano.filters.keys import KeyCache, ModelAccess, StaticKeys
from plano.pipeline.context import ANONYMOUS, RequestContext
from plano.providers.codec import UpstreamRequest
from plano.routing.catalog import ModelCatalog
from plano.store.keys import new_key

STATIC = "static-key-0123456789abcdef"
CONFIG: dict[str, Any] = {
    "version": "v0.4.0",
    "listeners": [{"type": "model", "name": "llm", "port": 12000}],
    "model_providers": [
        {"model": "openai/gpt-4o-mini", "access_key": "k", "default": True},
        {"model": "openai/gpt-4o", "access_key": "k"},
        {"model": "anthropic/claude-sonnet-4", "passthrough_auth": True},
    ],
    "model_aliases": {"fast": {"target": "openai/gpt-4o-mini"}},
}


@pytest.mark.parametrize(
    ("headers", "found"),
    [
        ({}, None),
        ({"authorization": "Bearer abc"}, ("abc", "authorization")),
        ({"authorization": "bearer   abc  "}, ("abc", "authorization")),
        ({"x-api-key": "abc"}, ("abc", "x-api-key")),
        ({"x-plano-key": "p", "authorization": "Bearer sk-own"}, ("p", "x-plano-key")),
        ({"authorization": "Bearer a", "x-api-key": "b"}, ("a", "authorization")),
    ],
)
def test_where_the_key_is_read(headers: dict[str, str], found: tuple[str, str] | None) -> None:
    assert read_key(headers) == found


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer"},
        {"authorization": "Bearer "},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"authorization": "Bearer k\u00e9y"},
        {"authorization": "Bearer a\udcffb"},  # bytes that were not UTF-8
        {"authorization": "Bearer " + "k" * 10_000},
        {"x-api-key": "two words"},
        {"x-api-key": "tab\there"},
        {"x-api-key": ""},
    ],
)
def test_malformed_values_are_401s(headers: dict[str, str]) -> None:
    with pytest.raises(AuthenticationError) as caught:
        read_key(headers)
    assert caught.value.status == 401


class Fixture:
    def __init__(self) -> None:
        config, issues = check_config(CONFIG, {})
        assert config is not None, issues
        self.catalog = ModelCatalog(config.model_providers, config.model_aliases)
        self.store = FakeStore()
        self.key = new_key()
        self.store.add("dyn", self.key, models=("fast",), team="red")
        self.revoked = new_key()
        self.store.add("old", self.revoked, revoked_at=1.0)
        self.expired = new_key()
        self.store.add("gone", self.expired, expires_at=50.0)
        static = StaticKeys([StaticKey(id="st", key=STATIC, principal={"user": "ci"})])
        self.now = 100.0
        self.filter = AuthFilter(
            static, KeyCache(self.store), ModelAccess(config), clock=lambda: self.now
        )

    def ctx(self, model: str = "fast", **headers: str) -> RequestContext:
        ctx = RequestContext("req-1", "openai_chat", headers)
        ctx.request = ChatRequest(model=model, messages=[Message("user")])
        return ctx


@pytest.fixture
def fx() -> Fixture:
    return Fixture()


@pytest.mark.parametrize(
    ("headers", "rule", "code"),
    [
        ({}, "missing", "missing_api_key"),
        ({"authorization": "Bearer"}, "malformed", "invalid_api_key"),
        ({"authorization": "Bearer sk-not-ours"}, "unknown", "invalid_api_key"),
        ({"x-api-key": new_key()}, "unknown", "invalid_api_key"),
        ({"revoked": ""}, "revoked", "revoked_api_key"),
        ({"expired": ""}, "expired", "expired_api_key"),
    ],
)
async def test_refusals_are_401s_with_a_decision(
    fx: Fixture, headers: dict[str, str], rule: str, code: str
) -> None:
    if "revoked" in headers:
        headers = {"x-api-key": fx.revoked}
    elif "expired" in headers:
        headers = {"x-api-key": fx.expired}
    ctx = fx.ctx(**headers)
    with pytest.raises(AuthenticationError) as caught:
        await fx.filter.on_headers(ctx)
    assert caught.value.code == code
    (decision,) = ctx.decisions
    assert (decision.source, decision.action, decision.rule) == ("auth", "deny", rule)
    assert ctx.principal is ANONYMOUS
    for value in headers.values():
        assert not value or value not in str(caught.value.message) + str(decision)


async def test_a_stored_key_sets_the_principal_and_allows_its_models(fx: Fixture) -> None:
    ctx = fx.ctx(authorization=f"Bearer {fx.key}")
    await fx.filter.on_headers(ctx)
    assert ctx.principal.id == "dyn" and ctx.principal.team == "red"
    await fx.filter.on_request(ctx)
    assert [(d.source, d.action) for d in ctx.decisions] == [("auth", "allow")]
    denied = fx.ctx("openai/gpt-4o", authorization=f"Bearer {fx.key}")
    await fx.filter.on_headers(denied)
    with pytest.raises(PermissionDenied) as caught:
        await fx.filter.on_request(denied)
    assert caught.value.code == "model_not_allowed" and caught.value.status == 403
    assert denied.decisions[-1].rule == "model_not_allowed"


async def test_static_keys_never_reach_the_store(fx: Fixture) -> None:
    ctx = fx.ctx("openai/gpt-4o", **{"x-api-key": STATIC})
    await fx.filter.on_headers(ctx)
    await fx.filter.on_request(ctx)
    assert ctx.principal.id == "st" and ctx.principal.user == "ci" and fx.store.reads == 0
    odd = fx.ctx(**{"x-api-key": "pk-short-and-not-a-key"})
    with pytest.raises(AuthenticationError):
        await fx.filter.on_headers(odd)
    assert fx.store.reads == 0  # only key-shaped tokens are looked up


async def test_each_deployment_is_checked_and_the_plano_key_never_goes_upstream(
    fx: Fixture,
) -> None:
    ctx = fx.ctx(authorization=f"Bearer {fx.key}")
    await fx.filter.on_headers(ctx)
    mini = fx.catalog.resolve("fast")
    up = UpstreamRequest("http://x/v1", {"authorization": "Bearer sk-provider"}, b"")
    await fx.filter.on_upstream_request(ctx, mini, up)  # allowed; not passthrough: untouched
    assert up.headers == {"authorization": "Bearer sk-provider"}
    with pytest.raises(DeploymentRefused):
        await fx.filter.on_upstream_request(ctx, fx.catalog.resolve("openai/gpt-4o"), up)
    assert ctx.decisions[-1].rule == "deployment_not_allowed"

    claude = fx.catalog.resolve("anthropic/claude-sonnet-4")
    assert claude.passthrough_auth
    ctx = fx.ctx(**{"x-api-key": STATIC})
    await fx.filter.on_headers(ctx)
    up = UpstreamRequest("http://x/v1", {"x-api-key": STATIC, "a": "b"}, b"")
    await fx.filter.on_upstream_request(ctx, claude, up)
    assert up.headers == {"a": "b"}
    # With x-plano-key, Authorization / x-api-key are the client's own provider key.
    ctx = fx.ctx(**{"x-plano-key": STATIC, "x-api-key": "sk-ant-own"})
    await fx.filter.on_headers(ctx)
    up = UpstreamRequest("http://x/v1", {"x-api-key": "sk-ant-own"}, b"")
    await fx.filter.on_upstream_request(ctx, claude, up)
    assert up.headers == {"x-api-key": "sk-ant-own"}
