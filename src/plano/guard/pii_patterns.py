"""The shapes of PII as regular expressions, and the one combined expression that finds them.

Speed: ``re`` has no multi-pattern search, but it skips in C the characters that cannot start
a match when the pattern begins with one character set. So every shape starts with a
*trigger*, a character rare in prose (``@``, ``+``, ``(``, ``:``, ``-``, ``_``, ``A``,
``J``, a digit), and the combined pattern is ``[triggers](?:(?<=t1)(?P<v1>...)|...)``: ordinary
words cost one failed set test per character. Shapes that begin before their trigger (an
email's local part, an IPv6 address's first groups, ``sk-`` keys) are extended backwards by
their check (:mod:`plano.guard.pii_checks`). The provider key shapes are
:mod:`plano.core.redact`'s, so the secret scrubber and the PII detector agree on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from plano.core.redact import _SHAPES  # the key shapes (full pattern, detector), shared

__all__ = ["SECRET_FULL", "VARIANTS", "Variant", "combined", "single"]


@dataclass(frozen=True, slots=True)
class Variant:
    """One way a kind of PII is written: the name of its group, the kind it reports, its
    trigger (a character set, consumed first) and the rest of the pattern after it."""

    name: str
    kind: str
    trigger: str
    body: str
    #: Variants of one group share a look-back (:data:`_GATES`) tried once for all of them.
    group: str = ""
    #: A refused candidate is skipped whole (no value starts inside it): a run of colons
    #: would otherwise be tried at every colon.
    skip: bool = False


# After a digit trigger: the character before it is no letter, digit, ``_`` or ``.`` (so a
# value never starts inside a word, a number or a version), nor ``+``/``-`` for the shapes
# that a sign would make part of something else.
_NUM_START = r"(?<![\w.][0-9])"
_SIGNED = r"(?<![+\-][0-9])"
# ... and after the value: no word character, ``-`` or a decimal part.
_NUM_END = r"(?![\w\-]|\.[0-9])"

_EMAIL = (
    r"(?<=[A-Za-z0-9._%+\-]@)"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}"
    r"(?![A-Za-z0-9\-]|\.[A-Za-z0-9])"
)
_PEM = (
    r"----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----[\s\S]{16,16384}?"
    r"-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----"
)

_VARIANTS: list[Variant] = [
    Variant("email", "email", "@", _EMAIL),
    Variant("secret_pem", "secret", r"\-", _PEM, "key"),
]
# The provider key shapes, each from its detector (whose first character is rare).
for _i, (_full, _detector) in enumerate(_SHAPES):
    _VARIANTS.append(
        Variant(f"secret_{_i}", "secret", re.escape(_detector[0]), _detector[1:], "key")
    )
_VARIANTS += [
    # Plus, a country code, 8 to 15 digits in all (checked) with single separators and an
    # optional group in parentheses (a ``(0)`` trunk prefix, an area code).
    Variant(
        "phone_intl",
        "phone",
        r"\+",
        r"(?<![\w+)\]]\+)[1-9](?:[ .\-]?(?:\([0-9]{1,4}\)[ .\-]?)?[0-9]){6,15}+"
        r"(?![\w]|[.\-][0-9])",
    ),
    Variant(
        "phone_paren",
        "phone",
        r"\(",
        rf"(?<!\w\()[2-9][0-9]{{2}}\) ?[2-9][0-9]{{2}}[\-. ][0-9]{{4}}{_NUM_END}",
    ),
    # Two capital letters, then the check digits the trigger starts (the check finds the
    # country's length).
    Variant(
        "iban",
        "iban",
        "[0-9]",
        r"(?<=(?<![A-Za-z0-9])[A-Z]{2}[0-9])[0-9](?: ?[A-Z0-9]){11,30}",
    ),
    # The shapes that start a number (behind one look-back for all: most digits are inside
    # a number or a word, and fail there once).
    Variant(
        "ssn",
        "ssn",
        "[0-8]",
        rf"{_SIGNED}[0-9]{{2}}[\- ][0-9]{{2}}[\- ][0-9]{{4}}{_NUM_END}",
        "number",
    ),
    Variant("ipv4", "ip", "[1-9]", r"[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![\w]|\.[0-9])", "number"),
    Variant(
        "phone_nanp1",
        "phone",
        "1",
        rf"{_SIGNED}[\-. ](?:\([2-9][0-9]{{2}}\)|[2-9][0-9]{{2}})[\-. ]"
        rf"[2-9][0-9]{{2}}[\-. ][0-9]{{4}}{_NUM_END}",
        "number",
    ),
    Variant(
        "phone_nanp",
        "phone",
        "[2-9]",
        rf"{_SIGNED}[0-9]{{2}}[\-. ][2-9][0-9]{{2}}[\-. ][0-9]{{4}}{_NUM_END}",
        "number",
    ),
    # A trunk 0 (UK, Germany, ...): 020 7946 0958, 07700 900123; France: 01 23 45 67 89.
    Variant(
        "phone_trunk",
        "phone",
        "0",
        rf"{_SIGNED}[1-9][0-9]{{1,3}}[\- ][0-9]{{3,4}}[\- ]?[0-9]{{3,4}}{_NUM_END}",
        "number",
    ),
    Variant(
        "phone_fr",
        "phone",
        "0",
        rf"{_SIGNED}[1-9](?:[ .][0-9]{{2}}){{4}}{_NUM_END}",
        "number",
    ),
    # 13 to 19 digits in all, the first an issuer's (2 to 6), single spaces or dashes.
    Variant("card", "card", "[2-6]", rf"{_SIGNED}(?:[ \-]?[0-9]){{12,18}}(?![\w])", "number"),
    # A colon, then hex digits, colons and dots (an IPv4 tail); the check extends it back.
    Variant("ipv6", "ip", ":", r"(?=[0-9A-Fa-f:])[0-9A-Fa-f:.]{1,45}", skip=True),
]
VARIANTS: tuple[Variant, ...] = tuple(_VARIANTS)

#: The full key shapes: where a key's detector fired, the key itself.
SECRET_FULL = re.compile("|".join(full for full, _ in _SHAPES), re.ASCII)


#: A group's shared look-back, after its trigger.
_GATES = {"number": _NUM_START}


def _trigger_set(triggers: list[str]) -> str:
    return "[" + "".join(t[1:-1] if t.startswith("[") else t for t in triggers) + "]"


def _grouped(variants: list[Variant]) -> list[list[Variant]]:
    groups: list[list[Variant]] = []
    for v in variants:
        if groups and v.group and groups[-1][0].group == v.group:
            groups[-1].append(v)
        else:
            groups.append([v])
    return groups


def combined(variants: list[Variant]) -> re.Pattern[str]:
    """One pattern for ``variants``: their triggers as one leading set, then each group of
    variants behind a look-back at its triggers and its gate, then each variant behind a
    look-back at its own trigger, in order (the first that matches wins)."""
    branches = []
    for group in _grouped(variants):
        gate = _GATES.get(group[0].group, "")
        if len(group) == 1:
            v = group[0]
            branches.append(f"(?<={v.trigger}){gate}(?P<{v.name}>{v.body})")
            continue
        inner = "|".join(f"(?<={v.trigger})(?P<{v.name}>{v.body})" for v in group)
        branches.append(f"(?<={_trigger_set([v.trigger for v in group])}){gate}(?:{inner})")
    return re.compile(f"{_trigger_set([v.trigger for v in variants])}(?:{'|'.join(branches)})")


def single(variant: Variant) -> re.Pattern[str]:
    """``variant`` alone (tried where the combined pattern's choice failed its check)."""
    return re.compile(f"{variant.trigger}{_GATES.get(variant.group, '')}(?:{variant.body})")
