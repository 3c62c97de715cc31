"""Hostile or broken config files: binary bytes, huge files, deep nesting, alias bombs.

Each one must be a config error with a clear message, never a traceback, a hang or a memory
blow-up, through ``parse_yaml`` / ``check_config_file`` (``plano validate``) and ``load_config``
(``plano up``) alike.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from plano.config import check_config_file, load_config, parse_yaml
from plano.config.loader import MAX_ALIASES, MAX_DEPTH, MAX_FILE_BYTES
from plano.errors import ConfigError

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"

#: Nine levels of nine aliases: 9**9 (387 million) strings once expanded.
BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)
#: The same bomb through merge keys, which PyYAML flattens by copying the merged pairs.
MERGE_BOMB = "a: &a {x: 1, y: 2}\n" + "".join(
    f"{name}: &{name} {{<<: [{', '.join([f'*{prev}'] * 10)}]}}\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def _error(data: object, issues: list[object]) -> str:
    assert data is None
    assert len(issues) == 1
    return str(issues[0])


def _load_error(tmp_path: Path, raw: bytes) -> str:
    path = tmp_path / "config.yaml"
    path.write_bytes(raw)
    config, issues = check_config_file(path, {})
    assert config is None
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    message = str(info.value)
    assert message.startswith(f"invalid config {path} (1 error):\n  - ")
    assert message.endswith(str(issues[0]))
    return str(issues[0])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (PNG, "the config file is binary (it holds NUL bytes), not YAML"),
        (
            PNG[:8],
            "the config file is not UTF-8 text (byte 0x89 at offset 0); is it a binary file?",
        ),
        (
            b"version: v0.4.0\n\x00\x01\x02",
            "the config file is binary (it holds NUL bytes), not YAML",
        ),
        (b"a: caf\xe9\n", "the config file is not UTF-8 text (byte 0xe9 at offset 6)"),
        ("a: 1\n".encode("utf-16"), "the config file is UTF-16 text; save it as UTF-8"),
        (b"a: 1\nb: x\x07y\n", "line 2, column 5: character U+0007 is not allowed in YAML text"),
    ],
)
def test_binary_and_non_utf8_files_are_errors(tmp_path: Path, raw: bytes, expected: str) -> None:
    assert _load_error(tmp_path, raw).startswith(expected)


def test_utf8_with_a_byte_order_mark_is_text(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xef\xbb\xbfversion: v9\n")
    _, issues = check_config_file(path, {})
    assert [i.path for i in issues] == ["version"]  # parsed; only the version is wrong


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    raw = b"#" * (MAX_FILE_BYTES + 1)
    assert _load_error(tmp_path, raw) == "the config file is larger than 4 MiB"


def _nested_lists(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    "text",
    [
        _nested_lists(10_000),
        "{a: " * 10_000 + "1" + "}" * 10_000,
        "".join(" " * i + "k:\n" for i in range(200)),
        "- " * 1_000 + "x\n",
    ],
    ids=["flow-lists", "flow-mappings", "block-mappings", "block-lists"],
)
def test_deep_nesting_is_an_error_not_a_recursion_error(text: str) -> None:
    message = _error(*parse_yaml(text))
    assert message.endswith(f"the YAML nests deeper than {MAX_DEPTH} levels")
    assert message.startswith("line ")


def test_deep_nesting_through_aliases_is_counted_once_expanded() -> None:
    # Each anchor is shallow, but each wraps the previous one: 100 levels once expanded.
    text = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 100))
    assert _error(*parse_yaml(text)).endswith(f"nests deeper than {MAX_DEPTH} levels")


def test_nesting_up_to_the_limit_parses() -> None:
    data, issues = parse_yaml(_nested_lists(MAX_DEPTH) + "\n")
    assert issues == []
    for _ in range(MAX_DEPTH - 1):
        assert isinstance(data, list)
        data = data[0]
    assert data == []
    assert "deeper" in _error(*parse_yaml(_nested_lists(MAX_DEPTH + 1)))


@pytest.mark.parametrize("text", [BILLION_LAUGHS, MERGE_BOMB], ids=["lists", "merge-keys"])
def test_alias_bombs_fail_fast(text: str) -> None:
    start = time.perf_counter()
    message = _error(*parse_yaml(text))
    elapsed = time.perf_counter() - start
    assert "the YAML expands to more than 1,000,000 values through its aliases" in message
    assert elapsed < 1.0  # measured in milliseconds; unbounded it ran for minutes


def test_too_many_aliases_are_refused() -> None:
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n"
    assert _error(*parse_yaml(text)).endswith(f"uses more than {MAX_ALIASES:,} aliases")


def test_a_value_that_contains_itself_is_refused() -> None:
    # PyYAML builds a recursive list here, which expansion and validation would chase forever.
    message = _error(*parse_yaml("a: &a [1, *a]\n"))
    assert message == "line 1, column 4: an alias refers to the value that contains it"


def test_ordinary_anchors_and_merge_keys_still_load(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "version: v0.4.0\n"
        "listeners: [{type: model, name: llm, port: 12000}]\n"
        "model_providers:\n"
        "  - &first {model: openai/gpt-4o, access_key: $KEY, base_url: 'http://127.0.0.1:9/v1'}\n"
        "  - {<<: *first, model: openai/gpt-4o-mini}\n"
        "  - <<: *first\n"
        "    model: groq/llama-3.3-70b-versatile\n"
        "    access_key: other\n",
        encoding="utf-8",
    )
    config, issues = load_config(path, {"KEY": "sk-1"})
    assert issues == []
    assert [p.model for p in config.model_providers] == [
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
        "groq/llama-3.3-70b-versatile",
    ]
    assert [p.access_key for p in config.model_providers] == ["sk-1", "sk-1", "other"]
    assert {p.base_url for p in config.model_providers} == {"http://127.0.0.1:9/v1"}
