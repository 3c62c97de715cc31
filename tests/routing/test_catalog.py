"""ModelCatalog: resolution order, not-found hints, defaults, wildcard deployments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from plano.errors import ConfigError, InvalidRequest, ModelNotFound
from plano.routing.catalog import ModelCatalog


@dataclass
class Entry:
    model: str
    name: str | None = None
    access_key: str | None = "sk-test"
    default: bool | None = None
    base_url: str | None = None
    passthrough_auth: bool | None = None
    headers: Mapping[str, str] | None = field(default=None)
    provider_interface: str | None = None

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0]

    @property
    def model_id(self) -> str:
        return self.model.split("/", 1)[1]

    @property
    def is_wildcard(self) -> bool:
        return self.model_id == "*"


@dataclass
class Alias:
    target: str


def test_exact_provider_model() -> None:
    cat = ModelCatalog([Entry("openai/gpt-4o"), Entry("groq/gpt-4o")])
    d = cat.resolve("groq/gpt-4o")
    assert (d.name, d.provider, d.model_id) == ("groq/gpt-4o", "groq", "gpt-4o")
    assert d.base_url == "https://api.groq.com/openai"
    assert d.family == "openai"
    assert d.access_key == "sk-test"


def test_bare_model_id_picks_the_first_declared() -> None:
    cat = ModelCatalog([Entry("openai/gpt-4o"), Entry("groq/gpt-4o")])
    assert cat.resolve("gpt-4o").provider == "openai"


def test_name_resolves() -> None:
    cat = ModelCatalog([Entry("openai/gpt-4o", name="primary")])
    assert cat.resolve("primary").name == "openai/gpt-4o"


def test_alias_wins_over_everything() -> None:
    cat = ModelCatalog(
        [Entry("openai/gpt-4o"), Entry("anthropic/claude-sonnet-4-5")],
        {"openai/gpt-4o": Alias("anthropic/claude-sonnet-4-5"), "fast": Alias("gpt-4o")},
    )
    assert cat.resolve("openai/gpt-4o").provider == "anthropic"
    assert cat.resolve("fast").provider == "openai"  # an alias target may be a bare id


def test_exact_wins_over_name_and_name_over_bare() -> None:
    cat = ModelCatalog(
        [
            Entry("openai/gpt-4o-mini"),
            # This entry's name collides with the first entry's exact key: exact wins.
            Entry("groq/llama", name="openai/gpt-4o-mini"),
            # A name equal to another entry's bare model id: the name wins.
            Entry("mistral/mistral-large", name="llama"),
        ]
    )
    assert cat.resolve("openai/gpt-4o-mini").provider == "openai"
    assert cat.resolve("llama").provider == "mistral"


def test_bare_wins_over_wildcard_and_exact_over_wildcard() -> None:
    cat = ModelCatalog([Entry("openai/*", access_key="sk-wild"), Entry("openai/gpt-4o")])
    assert cat.resolve("openai/gpt-4o").access_key == "sk-test"
    wild = cat.resolve("openai/o3")
    assert (wild.name, wild.model_id, wild.access_key) == ("openai/o3", "o3", "sk-wild")


def test_wildcard_keeps_everything_but_the_model() -> None:
    cat = ModelCatalog(
        [Entry("openai/*", base_url="http://127.0.0.1:9/v1", headers={"x-team": "a"})]
    )
    d = cat.resolve("openai/gpt-5")
    assert d.base_url == "http://127.0.0.1:9/v1"
    assert d.headers == (("x-team", "a"),)
    assert cat.resolve("openai/gpt-5") is d  # cached
    with pytest.raises(ModelNotFound):
        cat.resolve("openai/")  # a wildcard needs a model id
    with pytest.raises(ModelNotFound):
        cat.resolve("anthropic/claude")  # no wildcard for that provider
    assert "openai/*" in cat.names()
    assert cat.deployments == []  # a wildcard is not a concrete deployment


@pytest.mark.parametrize("name", ["", "none"])
def test_default_for_empty_or_none(name: str) -> None:
    cat = ModelCatalog([Entry("openai/gpt-4o"), Entry("groq/llama", default=True)])
    assert cat.resolve(name).provider == "groq"


def test_first_default_wins() -> None:
    cat = ModelCatalog([Entry("openai/a", default=True), Entry("groq/b", default=True)])
    assert cat.default is not None and cat.default.provider == "openai"


def test_missing_model_without_default_is_invalid_request() -> None:
    cat = ModelCatalog([Entry("openai/gpt-4o")])
    with pytest.raises(InvalidRequest) as info:
        cat.resolve("")
    assert info.value.param == "model"
    assert info.value.status == 400
    assert not isinstance(info.value, ModelNotFound)


def test_not_found_lists_close_names() -> None:
    cat = ModelCatalog(
        [Entry("openai/gpt-4o-mini"), Entry("anthropic/claude-sonnet-4-5")],
        {"fast": Alias("openai/gpt-4o-mini")},
    )
    with pytest.raises(ModelNotFound) as info:
        cat.resolve("openai/gpt-4o-mimi")
    err = info.value
    assert err.status == 404
    assert err.code == "model_not_found" and err.param == "model"
    assert "'openai/gpt-4o-mimi'" in err.message
    assert "Did you mean: openai/gpt-4o-mini?" in err.message
    assert "claude" not in err.message


def test_not_found_without_close_names_has_no_hint() -> None:
    cat = ModelCatalog([Entry("openai/gpt-4o")])
    with pytest.raises(ModelNotFound) as info:
        cat.resolve("zzzzzzzz")
    assert "Did you mean" not in info.value.message


def test_names_lists_exact_names_aliases_and_wildcards() -> None:
    cat = ModelCatalog(
        [Entry("openai/gpt-4o", name="main"), Entry("groq/*")], {"fast": Alias("main")}
    )
    assert cat.names() == ["fast", "groq/*", "main", "openai/gpt-4o"]


def test_resolve_cache_is_bounded() -> None:
    cat = ModelCatalog([Entry("openai/*")])
    for i in range(10_050):
        cat.resolve(f"openai/m{i}")
    assert len(cat._cache) == 10_000
    assert cat.resolve("openai/m10049").model_id == "m10049"


def test_base_url_trailing_slash_is_removed() -> None:
    cat = ModelCatalog([Entry("vllm/llama", base_url="http://127.0.0.1:8000/v1/")])
    assert cat.resolve("vllm/llama").base_url == "http://127.0.0.1:8000/v1"


def test_empty_access_key_becomes_none_and_passthrough_is_kept() -> None:
    cat = ModelCatalog([Entry("openai/gpt-4o", access_key="", passthrough_auth=True)])
    d = cat.resolve("gpt-4o")
    assert d.access_key is None
    assert d.passthrough_auth is True


def test_unknown_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown provider 'nope'"):
        ModelCatalog([Entry("nope/model")])


def test_provider_that_needs_a_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="needs a base_url"):
        ModelCatalog([Entry("ollama/llama3")])


def test_custom_provider_by_interface() -> None:
    cat = ModelCatalog(
        [Entry("acme/model-1", provider_interface="openai", base_url="http://127.0.0.1:1")]
    )
    d = cat.resolve("acme/model-1")
    assert (d.provider, d.family, d.base_url) == ("acme", "openai", "http://127.0.0.1:1")


def test_deployment_repr_hides_the_key() -> None:
    d = ModelCatalog([Entry("openai/gpt-4o", access_key="sk-secret-123")]).resolve("gpt-4o")
    assert "sk-secret-123" not in repr(d)


def test_a_known_provider_name_wins_over_provider_interface() -> None:
    cat = ModelCatalog([Entry("groq/llama", provider_interface="anthropic")])
    d = cat.resolve("groq/llama")
    assert d.family == "openai"
    assert d.base_url == "https://api.groq.com/openai"


REAL_IDS = [
    "ft:gpt-4o-mini:my-org::9xYz1AbC",
    "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "meta-llama/Llama-3.3-70B-Instruct",
    "llama3.2:latest",
    "models/gemini-2.0-flash",
    "gpt-4.1-mini-2025-04-14",
    "accounts/fireworks/models/llama-v3p1-8b-instruct",
    "mistral-large@2407",
    "qwen2.5-coder:7b-instruct-q4_K_M",
    "a=b+c",
]


@pytest.mark.parametrize("model_id", REAL_IDS)
def test_real_model_ids_pass_under_a_wildcard(model_id: str) -> None:
    cat = ModelCatalog([Entry("openai/*")])
    assert cat.resolve(f"openai/{model_id}").model_id == model_id


BAD_NAMES = [
    "gemini//internal/admin?x=",
    "gemini/../../internal/admin",
    "gemini/a/../b",
    "gemini/./x",
    "gemini/..",
    "gemini/x?alt=json",
    "gemini/x#frag",
    "gemini/x%2F..%2Fadmin",
    "gemini/two words",
    "gemini/tab\there",
    "openai/evil\r\nX-Injected: 1",
    "openai/nul\x00",
    "openai/back\\slash",
    "openai/modèle",
    "openai/" + "a" * 250,
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_model_name_is_a_400_before_anything_uses_it(name: str) -> None:
    cat = ModelCatalog([Entry("gemini/*"), Entry("openai/*")])
    with pytest.raises(InvalidRequest) as info:
        cat.resolve(name)
    err = info.value
    assert (err.status, err.code, err.param) == (400, "invalid_model", "model")
    assert not isinstance(err, ModelNotFound)
    assert "\r" not in err.message and "\n" not in err.message and "\x00" not in err.message
    assert name not in cat._cache


def test_control_characters_are_rejected_without_a_wildcard_too() -> None:
    cat = ModelCatalog([Entry("openai/gpt-4o")])
    with pytest.raises(InvalidRequest) as info:
        cat.resolve("gpt-4o\r\nX-Injected: 1")
    assert info.value.code == "invalid_model"


def test_names_the_config_declares_resolve_whatever_their_characters() -> None:
    cat = ModelCatalog(
        [Entry("openai/gpt-4o", name="main model")], {"fast one": Alias("openai/gpt-4o")}
    )
    assert cat.resolve("main model").model_id == "gpt-4o"
    assert cat.resolve("fast one").model_id == "gpt-4o"


@pytest.mark.parametrize("model_id", ["", "../admin", "a//b", "/abs", "x?y", "x y", "a" * 257])
def test_with_model_rejects_ids_that_are_no_model_ids(model_id: str) -> None:
    wild = ModelCatalog([Entry("openai/*")]).all_deployments()[0]
    with pytest.raises(InvalidRequest):
        wild.with_model(model_id)


def test_a_long_unknown_name_is_cut_in_the_message_and_gets_no_hints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(
        "plano.routing.catalog.difflib.get_close_matches",
        lambda word, *a, **k: calls.append(word) or [],
    )
    cat = ModelCatalog([Entry("openai/gpt-4o")])
    name = "openai-gpt-4o" + "x" * 187  # 200 characters, all of them allowed
    with pytest.raises(ModelNotFound) as info:
        cat.resolve(name)
    message = info.value.message
    assert name not in message
    assert f"'{name[:100]}'…(200 characters)" in message
    assert len(message) < 250
    assert calls == []  # difflib is quadratic in the name's length: not run for long names
    with pytest.raises(ModelNotFound):
        cat.resolve("gpt-4x")
    assert calls == ["gpt-4x"]


def test_a_huge_name_costs_a_short_error() -> None:
    cat = ModelCatalog([Entry("openai/*")])
    with pytest.raises(InvalidRequest) as info:
        cat.resolve("openai/" + "m" * 9_000_000)
    assert len(info.value.message) < 300
    assert "9000007 characters" in info.value.message


def test_all_deployments_include_wildcards() -> None:
    cat = ModelCatalog([Entry("openai/gpt-4o"), Entry("groq/*")])
    assert [d.name for d in cat.all_deployments()] == ["openai/gpt-4o", "groq/*"]
