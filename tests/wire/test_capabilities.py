"""The capability matrix as data, and the 400s it produces."""

from __future__ import annotations

from typing import Any

import pytest

from plano.errors import UnsupportedCapability
from plano.wire import anthropic_messages, openai_chat, openai_responses
from plano.wire.capabilities import (
    CAPABILITIES,
    EXPRESSED_BY,
    FAMILIES,
    LIMITS,
    check,
    features,
    matrix,
)


def _chat(**kw: Any) -> Any:
    return openai_chat.parse_request(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **kw}
    )


def test_matrix_covers_every_pair() -> None:
    m = matrix()
    assert len(m) == 3 * len(FAMILIES)
    for row in m.values():
        assert all(row[c] == "yes" for c in CAPABILITIES)
    assert m[("openai_chat", "anthropic")]["json_mode"].startswith("Anthropic")
    assert m[("anthropic_messages", "anthropic")]["json_mode"] == "n/a"
    assert m[("openai_responses", "openai_responses")]["json_mode"] == "yes"
    assert set(EXPRESSED_BY) == set(LIMITS)


@pytest.mark.parametrize(
    ("req", "family", "feature"),
    [
        (_chat(response_format={"type": "json_object"}), "anthropic", "json_mode"),
        (_chat(n=2), "gemini", "multiple_choices"),
        (_chat(logprobs=True), "openai_responses", "logprobs"),
        (_chat(stop=["x"]), "openai_responses", "stop_sequences"),
        (
            _chat(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                    }
                ]
            ),
            "gemini",
            "image_url",
        ),
    ],
)
def test_limits_are_400s(req: Any, family: str, feature: str) -> None:
    assert feature in features(req)
    with pytest.raises(UnsupportedCapability) as exc:
        check(req, "openai", family)
    assert exc.value.status == 400 and LIMITS[feature][family] in exc.value.message
    check(req, "openai", "openai")  # same family: forwarded untouched


def test_opaque_content_only_goes_to_its_own_family() -> None:
    req = anthropic_messages.parse_request(
        {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}
    )
    with pytest.raises(UnsupportedCapability, match="'document' content block"):
        check(req, "anthropic", "openai")
    check(req, "anthropic", "anthropic")
    hosted = openai_responses.parse_request({"input": "x", "tools": [{"type": "web_search"}]})
    with pytest.raises(UnsupportedCapability, match="hosted tool"):
        check(hosted, "openai_responses", "gemini")


def test_openai_chat_unknown_parts_are_opaque() -> None:
    req = _chat(
        messages=[
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]}
        ]
    )
    assert req.opaque == ["'input_audio' content part"]


def render_tables() -> str:
    """The two tables of docs/api-shapes.md, rendered from the matrix data."""
    m = matrix()
    head = ["client shape \\ upstream", *FAMILIES]
    rows = [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for shape in ("openai_chat", "anthropic_messages", "openai_responses"):
        cells = []
        for family in FAMILIES:
            row = m[(shape, family)]
            ok = all(row[c] == "yes" for c in CAPABILITIES)
            limited = sorted(f for f in LIMITS if row[f] not in ("yes", "n/a"))
            cells.append(
                ("all" if ok else "?") + (f"; not: {', '.join(limited)}" if limited else "")
            )
        rows.append(f"| `{shape}` | " + " | ".join(cells) + " |")
    rows += ["", "| feature | upstream family | why not | client shapes that can ask |"]
    rows.append("|---|---|---|---|")
    for feature, families in LIMITS.items():
        shapes = ", ".join(f"`{s}`" for s in EXPRESSED_BY[feature])
        for family, reason in families.items():
            rows.append(f"| `{feature}` | `{family}` | {reason} | {shapes} |")
    return "\n".join(rows)


def test_docs_show_the_matrix() -> None:
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "api-shapes.md"
    assert render_tables() in doc.read_text()
