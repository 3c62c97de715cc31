"""Redaction inside JSON: tool-call arguments keep their formatting and stay valid JSON; a
client's body is walked without touching ids, signatures, base64 data or thinking blocks,
and copied only where something changed."""

from __future__ import annotations

from typing import Any

import orjson

from plano.filters.redact_json import walk_json, walk_json_text


def upper_email(value: str) -> str:
    return value.replace("bob@example.com", "[email]").replace("4111111111111111", "[card]")


def test_arguments_keep_their_formatting() -> None:
    raw = '{\n  "to": "bob@example.com",\n  "n": 3\n}'
    assert walk_json_text(raw, upper_email) == '{\n  "to": "[email]",\n  "n": 3\n}'
    untouched = '{"a": 1}'
    assert walk_json_text(untouched, upper_email) is untouched


def test_long_integers_become_strings_when_changed() -> None:
    raw = '{"card": 4111111111111111, "small": 41111, "float": 4111111111111111.5, "neg": -5}'
    out = orjson.loads(walk_json_text(raw, upper_email))
    assert out == {"card": "[card]", "small": 41111, "float": 4111111111111111.5, "neg": -5}


def test_escapes_are_decoded_before_and_encoded_after() -> None:
    raw = '{"note": "line\\nbob@example.com \\"quoted\\" \\u00e9"}'
    out = walk_json_text(raw, upper_email)
    assert orjson.loads(out) == {"note": 'line\n[email] "quoted" é'}


def test_a_cut_off_string_goes_to_the_fallback() -> None:
    raw = '{"to": "bob@example.com'
    assert walk_json_text(raw, upper_email) == raw  # no fallback: left alone
    assert walk_json_text(raw, upper_email, upper_email) == '{"to": "[email]'


def test_a_body_skips_what_is_not_text() -> None:
    body: dict[str, Any] = {
        "messages": [
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "bob@example.com", "signature": "sig"},
                    {"type": "text", "text": "to bob@example.com"},
                    {
                        "type": "tool_use",
                        "id": "bob@example.com",
                        "name": "send",
                        "input": {"id": "bob@example.com", "type": "bob@example.com"},
                    },
                    {"type": "image", "source": {"type": "base64", "data": "bob@example.com"}},
                    {"type": "image_url", "image_url": {"url": "data:bob@example.com"}},
                ],
            },
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c", "function": {"name": "f", "arguments": '{"to": "bob@example.com"}'}}
                ],
            },
        ]
    }
    out = walk_json(body["messages"], upper_email, body=True)
    blocks = out[0]["content"]
    assert blocks[0] is body["messages"][0]["content"][0]  # thinking: untouched, not copied
    assert blocks[1]["text"] == "to [email]"
    # A tool call's input is the model's own JSON: nothing in it is skipped.
    assert blocks[2]["id"] == "bob@example.com"
    assert blocks[2]["input"] == {"id": "[email]", "type": "[email]"}
    assert blocks[3]["source"]["data"] == "bob@example.com"
    assert blocks[4]["image_url"]["url"] == "data:bob@example.com"
    assert out[1]["tool_calls"][0]["function"]["arguments"] == '{"to": "[email]"}'
    assert body["messages"][0]["content"][1]["text"] == "to bob@example.com"  # copy on write


def test_a_text_document_is_read() -> None:
    doc = {"type": "document", "source": {"type": "text", "data": "bob@example.com"}}
    assert walk_json(doc, upper_email, body=True)["source"]["data"] == "[email]"
    nothing = {"type": "text", "text": "hello"}
    assert walk_json(nothing, upper_email, body=True) is nothing
