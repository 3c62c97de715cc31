"""Every client shape's parser on mutated bodies.

Each value of a valid recorded body is replaced by a value of every JSON type (a deeply nested
one included), or removed. The parser may accept the result or refuse it with a PlanoError (a
400); it must raise nothing else, since anything else is a 500. What it accepts must translate
to every upstream family without any other error either; re-encoding may only fail on depth
(orjson's limit), which the gateway answers with a 400 of its own.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from tests.wire.conftest import load

from plano.core.model import ChatRequest
from plano.errors import PlanoError
from plano.wire import anthropic_messages, capabilities, gemini, openai_chat, openai_responses

Path = tuple[str | int, ...]
_MISSING = object()


def _deep(depth: int, leaf: Any, wrap: Callable[[Any], Any]) -> Any:
    for _ in range(depth):
        leaf = wrap(leaf)
    return leaf


# orjson parses up to 1024 levels but encodes only 255: these survive the client's JSON and
# would break any re-encoding or recursive walk of them.
_DEEP_OBJECT = _deep(300, "x", lambda v: {"a": v})
_DEEP_ARRAY = _deep(300, "x", lambda v: [v])
_VALUES: list[Any] = [
    _MISSING,
    None,
    True,
    0,
    -1,
    1.5,
    "",
    "x",
    [],
    ["x"],
    [{}],
    [["user"]],
    {},
    {"type": "x"},
    {"type": ["x"]},
    _DEEP_OBJECT,
    _DEEP_ARRAY,
]

# Valid parameters and content the recorded bodies lack, added so that they are mutated too.
_CHAT_EXTRA: dict[str, Any] = {
    "metadata": {"team": "a"},
    "stream_options": {"include_usage": True},
    "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}},
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "n": 1,
    "modalities": ["text"],
    "reasoning_effort": "low",
    "stop": ["x"],
    "user": "u",
}
_CHAT_MESSAGES = [
    {
        "role": "user",
        "name": "n",
        "content": [
            {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}},
            {"type": "file", "file": {"file_id": "f"}},
        ],
    },
    {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
    {"role": "assistant", "refusal": "no", "reasoning_content": "hm"},
]
_ANTHROPIC_EXTRA: dict[str, Any] = {
    "top_k": 5,
    "output_config": {"effort": "low"},
    "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
}
_ANTHROPIC_MESSAGES = [
    {
        "role": "user",
        "content": [
            {"type": "document", "source": {"type": "text", "data": "x"}},
            {"type": "search_result", "source": "s", "title": "t", "content": []},
        ],
    },
    {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "d"}]},
]
_RESPONSES_EXTRA: dict[str, Any] = {
    "reasoning": {"effort": "low"},
    "include": ["reasoning.encrypted_content"],
    "truncation": "auto",
    "tool_choice": {"type": "function", "name": "get_weather"},
}
_RESPONSES_ITEMS = [
    {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "s"}],
        "encrypted_content": "e",
    },
    {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "a"}, {"type": "refusal", "refusal": "r"}],
    },
    {
        "type": "function_call_output",
        "call_id": "c",
        "output": [{"type": "input_text", "text": "t"}],
    },
    {"id": "msg_1"},
    {"role": "user", "content": [{"type": "input_file", "file_id": "f"}]},
]


def _body(fixture: tuple[str, str], extra: dict[str, Any], key: str, items: list[Any]) -> Any:
    body = {**load(*fixture), **extra}
    body[key] = [*body[key], *items]
    return body


_SHAPES: dict[str, tuple[Callable[[Any], ChatRequest], Any]] = {
    "openai_chat": (
        openai_chat.parse_request,
        _body(("openai", "chat_request.json"), _CHAT_EXTRA, "messages", _CHAT_MESSAGES),
    ),
    "anthropic_messages": (
        anthropic_messages.parse_request,
        _body(
            ("anthropic", "messages_request.json"),
            _ANTHROPIC_EXTRA,
            "messages",
            _ANTHROPIC_MESSAGES,
        ),
    ),
    "openai_responses": (
        openai_responses.parse_request,
        _body(("responses", "request.json"), _RESPONSES_EXTRA, "input", _RESPONSES_ITEMS),
    ),
}
_ENCODERS: list[Callable[[ChatRequest], dict[str, Any]]] = [
    lambda r: openai_chat.encode_request(r, "m", ask_usage=True),
    lambda r: anthropic_messages.encode_request(r, "m"),
    lambda r: gemini.encode_request(r, "m"),
    lambda r: openai_responses.encode_request(r, "m"),
]


def _paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _mutate(body: Any, path: Path, new: Any) -> Any:
    out = copy.deepcopy(body)
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    if new is _MISSING:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return out


def _translate(req: ChatRequest) -> None:
    capabilities.features(req)
    req.raw = None  # translate from the canonical request, as for another family
    for encode in _ENCODERS:
        try:
            body = encode(req)
        except PlanoError:
            continue
        try:
            orjson.dumps(body)
        except orjson.JSONEncodeError as exc:
            assert "recursion" in str(exc).lower(), exc


def _failures(shape: str) -> list[str]:
    parse, base = _SHAPES[shape]
    parse(copy.deepcopy(base))  # the unmutated body is valid
    failures = []
    for path in _paths(base):
        for new in _VALUES:
            body = _mutate(base, path, new)
            try:
                _translate(parse(body))
            except PlanoError:
                pass
            except Exception as exc:  # the point of the test: nothing else may escape
                shown = "missing" if new is _MISSING else repr(new)[:40]
                failures.append(f"{path} = {shown}: {type(exc).__name__}: {exc}"[:300])
    return failures


@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_malformed_values_are_a_400_never_a_crash(shape: str) -> None:
    failures = _failures(shape)
    assert not failures, f"{len(failures)} crashes:\n" + "\n".join(failures[:40])
