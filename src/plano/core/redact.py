"""Secrets out of text (pure: strings in, strings out).

A :class:`SecretScrubber` is built once at start-up from the configured credentials (every
deployment's ``access_key``, secret-looking header values, a password or key in a
``base_url``). :meth:`SecretScrubber.scrub` replaces each of them, and anything shaped like a
credential (provider key formats, JWTs, ``Bearer <token>``, a long token after a word such as
*key*, *token* or *secret*), with :data:`PLACEHOLDER`. Provider error messages pass through it
before they can reach a client; it knows nothing of HTTP, so logs can use it too.

Speed: ``re`` has no multi-pattern search; it can only skip, in C, the characters no branch
starts with, so every branch below starts with one literal character. Ordinary text costs one
search of a *detector* whose branches start with a character that is rare in prose (``-`` of
``sk-``, ``J`` of ``eyJ``, an uppercase letter or digit of a configured key) and match
wherever the full patterns would (the tests check that); only text it flags pays for the
substitution, whose branches start with common letters.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "MIN_SECRET_LENGTH",
    "PLACEHOLDER",
    "CatalogLike",
    "SecretHolder",
    "SecretScrubber",
    "header_secrets",
]

PLACEHOLDER = "[REDACTED]"
#: Shorter configured values are not treated as secrets: replacing every ``abc`` in a message
#: would mangle it, and a credential that short protects nothing anyway.
MIN_SECRET_LENGTH = 6

# Each shape as (full pattern, detector). A full pattern checks after its first character
# that the one before is no letter or digit (``task-...`` is no ``sk-`` key); a detector puts
# back the part before its rare first character with a fixed-width lookbehind.
_EDGE = r"(?<![A-Za-z0-9].)"
_SHAPES: tuple[tuple[str, str], ...] = (
    # OpenAI sk-..., sk-proj-..., Anthropic sk-ant-..., DeepSeek; ``*`` for keys providers
    # echo half-masked (``sk-proj-****abcd``).
    (rf"s{_EDGE}k-[A-Za-z0-9_*\-]{{16,}}", r"-(?<=sk-)[A-Za-z0-9_*\-]{16}"),
    (rf"A{_EDGE}Iza[A-Za-z0-9_\-]{{30,}}", r"AIza[A-Za-z0-9_\-]{30}"),  # Google
    (rf"A{_EDGE}(?:KIA|SIA)[A-Z0-9]{{16}}", r"A(?:KIA|SIA)[A-Z0-9]{16}"),  # AWS key ids
    (rf"g{_EDGE}h[pousr]_[A-Za-z0-9]{{30,}}", r"_(?<=gh[pousr]_)[A-Za-z0-9]{30}"),  # GitHub
    (rf"g{_EDGE}ithub_pat_[A-Za-z0-9_]{{22,}}", r"_pat_[A-Za-z0-9_]{22}"),
    (rf"x{_EDGE}ox[abposr]-[A-Za-z0-9\-]{{10,}}", r"-(?<=xox[abposr]-)[A-Za-z0-9\-]{10}"),
    (  # JWT: base64url JSON header, payload, signature
        rf"e{_EDGE}yJ[A-Za-z0-9_\-]{{8,512}}+\.[A-Za-z0-9_\-]{{8,}}(?:\.[A-Za-z0-9_\-]+)?",
        r"J(?<=eyJ)[A-Za-z0-9_\-]{8,512}+\.[A-Za-z0-9_\-]{8}",
    ),
)
# ``Bearer <token>`` and ``key: <token>`` keep their first part (see _KEPT). The token must
# hold a digit (after a keyword: or an uppercase letter) so ``Bearer authentication`` and
# ``key 'response_format.json_schema'`` stay readable; a keyword needs a separator (space,
# ``:``, ``=``, quote) before its token; a token's last character is no full stop. Repeats
# that can fail are bounded and possessive (``{m,n}+``, Python 3.11): backtracking into them
# made ``keykeykey...`` cost seconds.
_BEARER = r"(?i:earer)\s{1,8}"
_BEARER_TOKEN = r"(?=[A-Za-z._~+/=\-]{0,255}+[0-9])[A-Za-z0-9._~+/=\-]{7,}[A-Za-z0-9_~+/=\-]"
#: Each keyword with the index of its rarest letter, which its detector starts from.
_KEYWORDS = (("key", 0), ("token", 2), ("secret", 2), ("password", 4), ("credential", 0))
_KEYWORD_TAIL = r"[A-Za-z_\-]{0,24}+(?:\s{1,3}provided)?[\s:=\"']{1,6}+"
_KEYWORD_TOKEN = r"(?=[a-z_\-./+=]{0,255}+[A-Z0-9])[A-Za-z0-9_\-./+=]{19,}[A-Za-z0-9_\-+/=]"
#: The part of a match that stays: ``Bearer `` or ``api key provided: ``.
_KEPT = re.compile(
    rf"(?i:b){_BEARER}|(?i:{'|'.join(w for w, _ in _KEYWORDS)}){_KEYWORD_TAIL}", re.ASCII
)


def _full_patterns() -> list[str]:
    out = [full for full, _ in _SHAPES]
    for ch in "Bb":
        out.append(rf"{ch}(?<![A-Za-z0-9_].){_BEARER}{_BEARER_TOKEN}")
    for word, _ in _KEYWORDS:
        for ch in (word[0], word[0].upper()):
            out.append(f"{ch}(?i:{word[1:]}){_KEYWORD_TAIL}{_KEYWORD_TOKEN}")
    return out


def _detectors() -> list[str]:
    out = [detector for _, detector in _SHAPES]
    out += [f"{ch}{_BEARER}{_BEARER_TOKEN}" for ch in "Bb"]
    for word, i in _KEYWORDS:
        behind = f"(?<=(?i:{word[: i + 1]}))" if i else ""
        for ch in (word[i], word[i].upper()):
            out.append(f"{ch}{behind}(?i:{word[i + 1 :]}){_KEYWORD_TAIL}{_KEYWORD_TOKEN}")
    return out


_SHAPES_RE = re.compile("|".join(_full_patterns()), re.ASCII)
_DETECTORS = _detectors()
_SHAPE_DETECTOR = re.compile("|".join(_DETECTORS))
#: Characters that seldom occur in prose; a configured secret is detected from the first one.
_RARE = frozenset(string.ascii_uppercase + string.digits + string.punctuation)
#: Header names whose values are credentials (``authorization``, ``x-api-key``, ...).
_SECRET_NAME = re.compile(r"auth|key|token|secret|passw|cookie|credential|signature", re.I)


class SecretHolder(Protocol):
    """What :meth:`SecretScrubber.from_deployments` reads (a routing ``Deployment``)."""

    @property
    def access_key(self) -> str | None: ...
    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def base_url(self) -> str: ...


class CatalogLike(Protocol):
    def all_deployments(self) -> Iterable[SecretHolder]: ...


class SecretScrubber:
    """Replaces configured secrets and credential-shaped text with :data:`PLACEHOLDER`.

    Immutable once built; safe to share between requests. Its repr never shows a secret."""

    __slots__ = ("_detect", "_list", "_placeholder", "_secrets")

    def __init__(self, secrets: Iterable[str] = (), *, placeholder: str = PLACEHOLDER) -> None:
        # Longest first: where one secret starts another, the whole of the longer one goes.
        unique = sorted(
            {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=lambda s: (-len(s), s)
        )
        self._placeholder = placeholder
        self._list = tuple(unique)
        self._secrets = re.compile("|".join(map(re.escape, unique))) if unique else None
        # A secret in which a shape's detector already fires (``sk-proj-...``) needs no branch
        # of its own: every branch would start with the same ``-`` and slow the scan.
        own = [_secret_detector(s) for s in unique if not _SHAPE_DETECTOR.search(s)]
        self._detect = re.compile("|".join((*_DETECTORS, *own)))

    @classmethod
    def from_deployments(cls, deployments: Iterable[SecretHolder]) -> SecretScrubber:
        """A scrubber for the credentials of these deployments."""
        secrets: list[str] = []
        for dep in deployments:
            if dep.access_key:
                secrets.append(dep.access_key)
            for name, value in dep.headers:
                if _SECRET_NAME.search(name):
                    secrets.extend(_header_secrets(value))
            secrets.extend(_url_secrets(dep.base_url))
        return cls(secrets)

    @classmethod
    def from_catalog(cls, catalog: CatalogLike, also: Iterable[str] = ()) -> SecretScrubber:
        """A scrubber for every configured deployment, wildcard ones included, and ``also``
        (other configured secrets: agents' ``headers:`` values, :func:`header_secrets`)."""
        own = cls.from_deployments(catalog.all_deployments())
        extra = list(also)
        return cls((*own.secrets, *extra)) if extra else own

    @property
    def secrets(self) -> tuple[str, ...]:
        """The configured secrets (never shown by repr; for building a wider scrubber)."""
        return self._list

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced; the same object when there was none."""
        if self._detect.search(text) is None:
            return text
        # Configured secrets first, whole, so a shape cannot match half of one and leave
        # the rest behind.
        if self._secrets is not None:
            text = self._secrets.sub(self._placeholder, text)
        return _SHAPES_RE.sub(self._replace, text)

    def scrub_optional(self, text: str | None) -> str | None:
        return None if text is None else self.scrub(text)

    def _replace(self, match: re.Match[str]) -> str:
        kept = _KEPT.match(match.group())
        return (kept.group() if kept else "") + self._placeholder


def _secret_detector(secret: str) -> str:
    """The tail of ``secret`` from its first rare character (the whole of it if it has none
    worth anchoring on): a literal that matches wherever the secret does."""
    for i, ch in enumerate(secret[: len(secret) - 3]):
        if ch in _RARE:
            return re.escape(secret[i:])
    return re.escape(secret)


def header_secrets(headers: Iterable[tuple[str, str]]) -> list[str]:
    """Every value of headers Plano sends on another's behalf (an agent's ``headers:``, its
    own credentials whatever their names), with a ``Bearer`` token also on its own."""
    return [secret for _name, value in headers for secret in _header_secrets(value)]


def _header_secrets(value: str) -> list[str]:
    # ``Bearer abc``: the token may be echoed without its scheme.
    scheme, _, token = value.strip().partition(" ")
    return [value, token.strip()] if token and scheme.isalpha() else [value]


def _url_secrets(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [parts.password] if parts.password else []
    found += [v for k, v in parse_qsl(parts.query) if _SECRET_NAME.search(k)]
    return found
