"""Plano's ``plano`` (its router / orchestrator models) and ``chatgpt`` (a ChatGPT subscription
through the Codex backend) providers as deployments."""

from __future__ import annotations

from plano.config import check_config
from plano.core.model import ChatRequest, Message, TextPart
from plano.providers.registry import CODECS
from plano.routing.catalog import ModelCatalog


def catalog(*providers: dict[str, object]) -> ModelCatalog:
    raw = {"version": "v0.4.0", "model_providers": list(providers)}
    config, issues = check_config(raw, {})
    assert config is not None, [str(i) for i in issues]
    return ModelCatalog(config.model_providers, config.model_aliases)


def test_chatgpt_uses_the_codex_responses_endpoint_with_the_clients_token() -> None:
    dep = catalog({"model": "chatgpt/*"}).resolve("chatgpt/gpt-5.2")
    assert dep.family == "openai_responses" and dep.passthrough_auth
    req = ChatRequest(model="chatgpt/gpt-5.2", messages=[Message("user", [TextPart("hi")])])
    up = CODECS[dep.family].build(dep, req, {"authorization": "Bearer user-token"})
    assert up.url == "https://chatgpt.com/backend-api/codex/responses"
    assert up.headers["authorization"] == "Bearer user-token"
    assert up.headers["originator"] == "codex_cli_rs"


def test_chatgpt_with_a_key_sends_it_and_entry_headers_win() -> None:
    entry = {"model": "chatgpt/gpt-5.2", "access_key": "tok", "headers": {"originator": "me"}}
    dep = catalog(entry).resolve("chatgpt/gpt-5.2")
    assert not dep.passthrough_auth and dict(dep.headers)["originator"] == "me"


def test_plano_provider_is_openai_compatible_and_hosted_by_default() -> None:
    hosted = catalog({"model": "plano/Plano-Orchestrator"}).resolve("plano/Plano-Orchestrator")
    assert hosted.family == "openai" and hosted.base_url == "https://archfc.katanemo.dev"
    own = {"model": "plano/katanemo/Plano-Orchestrator-4B", "base_url": "http://127.0.0.1:8000"}
    dep = catalog(own).resolve("plano/katanemo/Plano-Orchestrator-4B")
    assert (
        dep.base_url == "http://127.0.0.1:8000" and dep.model_id == "katanemo/Plano-Orchestrator-4B"
    )
