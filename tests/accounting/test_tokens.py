"""TokenCounter: offline loading from the shipped encodings, counting, request estimates."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tiktoken.load
import tiktoken.registry

from plano.accounting.tokens import TokenCounter, encoding_for, prepare_cache
from plano.core.model import ChatRequest, ImagePart, Message, TextPart, Tool, ToolCall

_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    # tiktoken downloads through read_file only when the cache misses.
    monkeypatch.setattr(tiktoken.load, "read_file", refuse)


@pytest.fixture(scope="module")
def counter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenCounter]:
    with pytest.MonkeyPatch.context() as mp:
        cache = tmp_path_factory.mktemp("tiktoken")
        mp.setenv("TIKTOKEN_CACHE_DIR", str(cache))
        c = TokenCounter()
        c.load(cache)
        yield c


def test_prepare_cache_writes_files_under_the_sha1_of_their_url(tmp_path: Path) -> None:
    out = prepare_cache(tmp_path / "c")
    assert out == tmp_path / "c"
    for name in ("o200k_base", "cl100k_base"):
        f = out / hashlib.sha1(_URL.format(name).encode()).hexdigest()
        assert f.stat().st_size > 1_000_000
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    prepare_cache(out)  # idempotent: nothing is rewritten
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert not list(out.glob("*.tmp"))


def test_load_is_offline_and_uses_only_the_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})  # force a real load
    _no_network(monkeypatch)
    c = TokenCounter()
    assert not c.loaded
    c.load(tmp_path)
    assert c.loaded
    assert c.count("hello world", "gpt-4o") == 2
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path)


def test_load_respects_an_operators_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = tmp_path / "theirs"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(theirs))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    _no_network(monkeypatch)
    c = TokenCounter()
    c.load(tmp_path / "ours")
    assert c.loaded
    # Both locations were prepared; tiktoken read from the operator's.
    assert len(list(theirs.iterdir())) == 2
    assert len(list((tmp_path / "ours").iterdir())) == 2


def test_hello_world_is_two_tokens(counter: TokenCounter) -> None:
    assert counter.count("hello world") == 2
    assert counter.count("hello world", "openai/gpt-4o") == 2
    assert counter.count("") == 0


def test_encoding_choice() -> None:
    assert encoding_for("gpt-4o") == "o200k_base"
    assert encoding_for("openai/gpt-4o-mini") == "o200k_base"
    assert encoding_for("claude-sonnet-4-5") == "o200k_base"
    assert encoding_for("gpt-4") == "cl100k_base"
    assert encoding_for("openai/gpt-4-turbo") == "cl100k_base"
    assert encoding_for("gpt-3.5-turbo") == "cl100k_base"
    assert encoding_for("text-embedding-3-small") == "cl100k_base"


def test_cl100k_is_used_for_older_models(counter: TokenCounter) -> None:
    text = "The quick brown fox — jumps over 13 lazy dogs. 你好世界"
    o200k = counter._enc["o200k_base"].encode_ordinary(text)
    cl100k = counter._enc["cl100k_base"].encode_ordinary(text)
    assert len(o200k) != len(cl100k)  # the texts tell the encodings apart
    assert counter.count(text, "gpt-4") == len(cl100k)
    assert counter.count(text, "gpt-4o") == len(o200k)


def test_fallback_estimate_before_load() -> None:
    c = TokenCounter()
    assert not c.loaded
    assert c.count("a" * 40) == 10
    assert c.count("abc") == 1  # never zero for non-empty text
    assert c.count("") == 0


def _req(**kw: Any) -> ChatRequest:
    return ChatRequest(model="gpt-4o", messages=[Message("user", [TextPart("hello world")])], **kw)


def test_count_request_framing(counter: TokenCounter) -> None:
    # 3 for the reply priming + 3 per message + the text.
    assert counter.count_request(_req(), "gpt-4o") == 3 + 3 + 2


def test_count_request_includes_tool_schemas(counter: TokenCounter) -> None:
    tool = Tool(
        "get_weather",
        "Get the weather for a city.",
        {"type": "object", "properties": {"city": {"type": "string"}}},
    )
    base = counter.count_request(_req(), "gpt-4o")
    with_tool = counter.count_request(_req(tools=[tool]), "gpt-4o")
    expected = (
        counter.count("get_weather")
        + counter.count("Get the weather for a city.")
        + counter.count('{"type":"object","properties":{"city":{"type":"string"}}}')
        + 8
    )
    assert with_tool - base == expected
    assert expected > 20


def test_count_request_includes_tool_calls_and_images(counter: TokenCounter) -> None:
    msgs = [
        Message("user", [TextPart("hi"), ImagePart("https://x/y.png")]),
        Message("assistant", tool_calls=[ToolCall("c1", "lookup", '{"q":"x"}')]),
    ]
    n = counter.count_request(ChatRequest(model="m", messages=msgs), "gpt-4o")
    expected = 3 + 3 + counter.count("hi") + 85 + 3
    expected += counter.count("lookup") + counter.count('{"q":"x"}') + 3
    assert n == expected


def test_count_request_before_load_uses_the_estimate() -> None:
    c = TokenCounter()
    assert c.count_request(_req(), "gpt-4o") == 3 + 3 + len("hello world") // 4


def test_a_tool_schema_nested_past_any_limit_is_estimated_not_a_crash() -> None:
    from plano.core.model import ChatRequest, Message, TextPart, Tool

    deep: dict[str, object] = {"type": "string"}
    for _ in range(1500):
        deep = {"type": "object", "properties": {"a": deep}}
    req = ChatRequest("m", [Message("user", [TextPart("hi")])], tools=[Tool("t", None, deep)])
    assert TokenCounter().count_request(req, load=False) > 0


async def test_a_sampled_estimate_of_a_long_prompt_is_close_to_the_count(
    counter: TokenCounter,
) -> None:
    import orjson
    from bench.agent import agent_body

    from plano.wire.openai_chat import parse_request

    req = parse_request(orjson.loads(agent_body("gpt-4o-mini")))
    exact = counter.count_request(req, "gpt-4o-mini")
    estimate = await counter.sample_request_async(req, "gpt-4o-mini")
    assert abs(estimate - exact) / exact < 0.1  # well inside the router's 1.2x margin
