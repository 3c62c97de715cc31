"""SecretScrubber: configured secrets and key-shaped text out, ordinary text untouched (and
cheap), built from deployments or a catalog."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.routing.test_catalog import Entry

from plano.core import redact
from plano.core.redact import PLACEHOLDER, SecretScrubber
from plano.routing.catalog import ModelCatalog

R = PLACEHOLDER
KEY = "sk-plano-Conf1gured!key"  # a configured key with a character no shape allows

SHAPED = [
    # (text, scrubbed)
    (
        "Incorrect API key provided: sk-proj-Ab3dEfGh1jKlMnOpQrStUv.",
        f"Incorrect API key provided: {R}.",
    ),
    ("bad key sk-ant-api03-abcdefghijklmnop_qrstuv-0123", f"bad key {R}"),
    (
        "Incorrect API key provided: sk-proj-********************abcd",
        f"Incorrect API key provided: {R}",
    ),
    ("API key not valid: AIzaSyA-1234567890abcdefghijklmnopqrstu", f"API key not valid: {R}"),
    ("AKIAIOSFODNN7EXAMPLE / ASIAIOSFODNN7EXAMPLE", f"{R} / {R}"),
    ("token ghp_" + "a1B2" * 9, f"token {R}"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", R),
    ("hook xoxb-1234567890-abcdefABCDEF", f"hook {R}"),
    (
        "jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P",
        f"jwt={R}",
    ),
    ("Authorization: Bearer abc.DEF-123_xyz~+/=", f"Authorization: Bearer {R}"),
    ("authorization: bearer 0123456789abcdef", f"authorization: bearer {R}"),
    (
        "Incorrect API key provided: gsk_0123456789abcdefABCDEF.",
        f"Incorrect API key provided: {R}.",
    ),
    ("api_key='AbCdEf0123456789xyzAbCdEf'", f"api_key='{R}'"),
    ("secret = 0123456789abcdef0123456789abcdef", f"secret = {R}"),
    ("x-goog-api-key: ABCDEFGHIJKLMNOPQRSTUVWXYZ", f"x-goog-api-key: {R}"),
    ('{"token":"dGhpcyBpcyBhIHNlY3JldCB0b2tlbg=="}', f'{{"token":"{R}"}}'),
    ("PASSWORD: hunter2hunter2hunter2HUNTER", f"PASSWORD: {R}"),
    ("credentials: Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5", f"credentials: {R}"),
]

ORDINARY = [
    "The model `gpt-4o-mini-2024-07-18` does not exist or you do not have access to it.",
    "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit "
    "30000, Used 29000, Requested 2000. Please try again in 2s. Visit "
    "https://platform.openai.com/account/rate-limits to learn more.",
    "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
    "'max_completion_tokens' instead.",
    "This model's maximum context length is 128000 tokens. However, your messages resulted "
    "in 130000 tokens.",
    "The key 'response_format.json_schema' is invalid.",
    "Bearer authentication is required; send a Bearer token.",
    "task-abcdefghijklmnopqrstu0123 failed",  # no sk- key: "sk" is inside a word
    "request id req_8f3b2c9d1e0a4b7c6d5e, trace 0af7651916cd43dd8448eb211c80319c",
    "messages.0.content: Input should be a valid string",
    "models/gemini-2.0-flash is not found for API version v1beta",
    "anthropic.claude-3-5-sonnet-20241022-v2:0 is not available in this region",
    "",
]


@pytest.mark.parametrize(("text", "scrubbed"), SHAPED)
def test_key_shapes_are_replaced_and_labels_kept(text: str, scrubbed: str) -> None:
    assert SecretScrubber().scrub(text) == scrubbed


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_returned_as_is(text: str) -> None:
    s = SecretScrubber([KEY, "0123456789abcdef-unused"])
    assert s.scrub(text) is text


def test_configured_secrets_are_replaced_whole() -> None:
    s = SecretScrubber([KEY, "plain-lowercase-token"])
    assert s.scrub(f"key {KEY} seen") == f"key {R} seen"
    # In a Bearer header the whole key goes, not the part a token shape would match.
    assert s.scrub(f"Authorization: Bearer {KEY}.") == f"Authorization: Bearer {R}."
    assert s.scrub(f"{KEY}{KEY}") == R + R
    assert s.scrub("x plain-lowercase-token y") == f"x {R} y"


def test_longer_secret_wins_over_its_prefix() -> None:
    s = SecretScrubber(["Abcdef123", "Abcdef123456"])
    assert s.scrub("k=Abcdef123456!") == f"k={R}!"


def test_short_values_are_not_secrets() -> None:
    s = SecretScrubber(["abc", "none", ""])
    assert s.scrub("abc none") == "abc none"


def test_placeholder_is_configurable_and_repr_hides_secrets() -> None:
    s = SecretScrubber([KEY], placeholder="***")
    assert s.scrub(KEY) == "***"
    assert KEY not in repr(s)


@dataclass(frozen=True)
class Dep:
    access_key: str | None
    headers: tuple[tuple[str, str], ...] = ()
    base_url: str = "https://api.example.com"


def test_from_deployments_collects_keys_secret_headers_and_url_credentials() -> None:
    s = SecretScrubber.from_deployments(
        [
            Dep("deployment-key-one"),
            Dep(
                None,
                headers=(
                    ("Authorization", "Basic dXNlcjpwYXNzd29yZA"),
                    ("X-Custom-Token", "team-token-value"),
                    ("x-team", "platform-team-alpha"),
                ),
                base_url="https://user:url-password-1@proxy.example.com/v1?api_key=query-key-1",
            ),
        ]
    )
    text = (
        "deployment-key-one dXNlcjpwYXNzd29yZA team-token-value url-password-1 query-key-1 "
        "platform-team-alpha"
    )
    assert s.scrub(text) == f"{R} {R} {R} {R} {R} platform-team-alpha"


def test_from_catalog_includes_wildcard_deployments() -> None:
    catalog = ModelCatalog(
        [Entry("openai/gpt-4o", access_key="exact-key-123"), Entry("groq/*", access_key="wild-k")]
    )
    s = SecretScrubber.from_catalog(catalog)
    assert s.scrub("exact-key-123 / wild-k") == f"{R} / {R}"


def _reference(s: SecretScrubber, text: str) -> str:
    """The substitution without the detector in front (what scrub must always equal)."""
    if s._secrets is not None:
        text = s._secrets.sub(PLACEHOLDER, text)
    return redact._SHAPES_RE.sub(s._replace, text)


_FRAGMENTS = st.sampled_from(
    [
        "sk-",
        "sk-proj-",
        "AIza",
        "AKIA",
        "ASIA",
        "ghp_",
        "github_pat_",
        "xoxb-",
        "eyJ",
        ".",
        "Bearer ",
        "bearer\t",
        "key",
        "API key provided: ",
        "Token",
        "secret",
        "passWord",
        "credential",
        "=",
        ": ",
        "'",
        '"',
        " ",
        "\n",
        "-",
        "_",
        "a",
        "Z",
        "7",
        "0123456789",
        "abcdefghijklmnop",
        "ABCDEFGHIJKLMNOP",
        "task",
        KEY,
        KEY[:9],
        "Zq9-secret-x",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=30).map("".join))
def test_detector_never_misses_what_the_patterns_replace(text: str) -> None:
    s = SecretScrubber([KEY, "Zq9-secret-x"])
    assert s.scrub(text) == _reference(s, text)


@pytest.mark.parametrize(
    "text",
    [
        "keykey" * 50_000,  # took ~10 s with backtracking into an unbounded keyword tail
        "key: " * 50_000,
        "eyJ" * 100_000,
        "sk-" * 100_000,
        "Bearer " * 50_000,
        "token: " + "a" * 300_000,
        "bearer" + " " * 300_000 + "x",
    ],
)
def test_hostile_text_is_scrubbed_in_linear_time(text: str) -> None:
    start = time.perf_counter()
    SecretScrubber([KEY]).scrub(text)
    assert time.perf_counter() - start < 2.0


def test_every_branch_starts_with_a_literal_character() -> None:
    # What lets ``re`` skip text in C; a branch starting with a group or a lookbehind would
    # make every character a candidate (several times slower).
    for pattern in [*redact._DETECTORS, *redact._full_patterns()]:
        assert re.match(r"[A-Za-z_\-]", pattern), pattern
