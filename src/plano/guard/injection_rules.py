"""The injection guard's rules: high-precision patterns for the phrasings attacks share.

Each rule is a few regular expressions (its parts) over the normalized text
(:func:`normalize`: NFKC, no invisible characters, lower case), named so a verdict can say
which one fired. They aim at precision: a match is close to certain (the model handles the
paraphrases), so each is anchored on wording benign traffic rarely uses (``ignore all
previous instructions``, not ``ignore``; ``reveal your system prompt``, not ``system
prompt``), and a user correcting themselves (``ignore my previous message``) matches none.
What they cannot tell apart is a quotation from a use beyond the plainest case: a match with
a quote mark right before and after it is taken for a mention and ignored; any other
discussion of an attack matches.

``base64_payload`` decodes base64 runs (the first few, bounded) and runs the other rules on
what they say. Pure: text in, rule names out.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass

from plano.guard.injection_features import normalize

__all__ = ["RULES", "Part", "Rule", "match_rules", "presence"]

#: Base64 runs decoded per text, and the longest decoded.
MAX_BLOBS = 4
MAX_BLOB = 4096

_ARTICLES = r"(?:(?:all|any|every|each|the|your|these|those|of|everything|that|what)\s+){0,3}"
_EARLIER = r"(?:previous|prior|above|earlier|preceding|foregoing|initial|original|old|former)"
_ORDERS = (
    r"(?:instructions?|prompts?|rules|directives?|directions|guidelines|commands|context|"
    r"programming|guidance|constraints|policies|restrictions)"
)
_LIMITS = (
    r"(?:restrictions|limits|limitations|filters|rules|guidelines|censorship|ethics|morals|"
    r"safeguards|content polic(?:y|ies)|"
    r"(?:safety|security) (?:guidelines|rules|filters|measures|checks|settings|features))"
)
_SECRET = r"(?:hidden|secret|confidential|initial|original|internal)"
_PERSONA = (
    r"(?:you are|you're|act as|acting as|pretend (?:to be|you are|you're)|role-?play as|"
    r"play the role of|from now on,? you(?: are|'re| will be)?|you will now be|become)"
)


@dataclass(frozen=True, slots=True)
class Part:
    """One regular expression of a rule, and the words every match of it contains: one of
    each group. ``in`` finds them in C at memory speed, so a text that lacks a group skips
    the expression (most texts, most parts): the rules cost little on ordinary traffic."""

    pattern: re.Pattern[str]
    needles: tuple[tuple[str, ...], ...]

    def used(self, text: str, has: Mapping[str, bool] | None = None) -> bool:
        """Whether it matches ``text`` other than as a quotation: a match with a quote mark
        right before and right after it (``what is an 'ignore previous instructions'
        attack?``) is a mention, not an attack. ``has``: whether ``text`` contains a needle
        (:func:`presence`, shared by every part, so each needle is looked for once)."""
        if has is None:
            has = presence(text)
        for group in self.needles:  # plain loops: generators cost more than the lookups
            for n in group:
                if has[n]:
                    break
            else:
                return False
        for m in self.pattern.finditer(text):
            start, end = m.span()
            before = text[start - 1] if start else ""
            after = text[end] if end < len(text) else ""
            if not (before and before in _QUOTES and after in _QUOTES):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    #: What it catches, for the docs and the tests.
    about: str
    parts: tuple[Part, ...]

    def matches(self, text: str, has: Mapping[str, bool] | None = None) -> bool:
        """Whether any part matches normalized ``text``."""
        if has is None:
            has = presence(text)
        return any(p.used(text, has) for p in self.parts)


class _Lazy(dict[str, bool]):
    """Whether the text contains a needle, looked for on first use (the parts of a rule
    share most of their needles, and a part stops at its first missing group)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def __missing__(self, needle: str) -> bool:
        found = needle in self.text
        self[needle] = found
        return found


def presence(text: str) -> Mapping[str, bool]:
    """Whether ``text`` contains each rule needle: all looked for at once in a short text
    (one comprehension costs less than a lookup at a time), on demand in a longer one."""
    if len(text) <= _EAGER:
        return {n: n in text for n in _NEEDLES}
    return _Lazy(text)


def _part(needles: str, pattern: str) -> Part:
    """``needles``: groups separated by `` & ``, each a ``|``-separated list of substrings
    (spaces in them count: ``" mode"`` is not ``"model"``)."""
    groups = tuple(tuple(g.split("|")) for g in needles.split(" & "))
    return Part(re.compile(pattern, re.MULTILINE), groups)


_VERBS_IGNORE = "ignor|disregard|forget|overrid|bypass|discard|abandon"
_LIMIT_WORDS = (
    "restrict|limit|filter|rule|guideline|censor|ethic|moral|safeguard|polic|safety|security"
)
_SHOW = "reveal|show|print|repeat|output|display|dump|leak|disclose|share|tell|give|expose|"
_SHOW += "recite|write|spell"
_PERSONA_WORDS = "you|act|pretend|role|play|become"
_AI = "ai|llm|language model|assistant|chatbot|gpt|claude|copilot"
_SHOW_RE = (
    r"\b(?:reveal|show|print|repeat|output|display|dump|leak|disclose|share|tell|give|"
    r"expose|recite|write out|spell out)\s+(?:me\s+|us\s+)?"
    r"(?:(?:all|the|full|entire|complete|exact|whole|verbatim)\s+)*"
    r"(?:(?:text|contents?|wording|words)\s+(?:of|in)\s+)?"
)

RULES: tuple[Rule, ...] = (
    Rule(
        "instruction_override",
        "ignore all previous instructions; disregard your rules; override the safety filters; "
        "disregard the question you were asked",
        (
            _part(
                f"{_VERBS_IGNORE} & previous|prior|above|earlier|preceding|foregoing|initial|"
                "original|old|former|system & instruction|prompt|rule|directive|direction|"
                "guideline|command|context|programming|guidance|constraint|polic|restriction",
                rf"\b(?:ignore|disregard|forget|override|bypass|discard|abandon)\s+{_ARTICLES}"
                rf"(?:{_EARLIER}|system)\s+{_ORDERS}\b",
            ),
            _part(
                "ignor|disregard|forget & above|before|prior",
                r"\b(?:ignore|disregard|forget)\s+(?:everything|all)\s+(?:above|before|prior)\b",
            ),
            _part(
                f"overrid|disregard|ignor|bypass & {_LIMIT_WORDS}",
                rf"\b(?:override|disregard|ignore|bypass)\s+(?:your|all|the)\s+(?:\w+\s+)?"
                rf"{_LIMITS}",
            ),
            _part(
                "ignor|disregard|overrid & user",
                r"\b(?:ignore|disregard|override)\s+(?:the\s+)?user'?s\s+(?:instructions|request)",
            ),
            _part(
                "ignor|disregard|forget & question|task|request & given|asked",
                r"\b(?:ignore|disregard|forget)\s+(?:the|this|that|your)\s+(?:\w+\s+)?"
                r"(?:question|task|request)\s+you\s+(?:were|have been|are being)\s+"
                r"(?:given|asked)",
            ),
        ),
    ),
    Rule(
        "new_instructions",
        "'New instructions:'; 'your real task is'; 'the previous instructions are outdated'",
        (
            _part(
                "new|updated & instruction",
                r"(?:^|[.!?:\]>\-]\s*|\\n)(?:new|updated)\s+(?:system\s+)?instructions?\s*"
                r"(?::|follow\b)",
            ),
            _part(
                "your & real|actual|true",
                r"\byour\s+(?:real|actual|true)\s+(?:instructions?|task|purpose|goal|orders)\s+"
                r"(?:is|are)\b",
            ),
            _part(
                "instruction & outdated|obsolete|void|cancel|revoked|no longer valid",
                rf"\b(?:the|all|your)\s+{_EARLIER}\s+instructions\s+(?:are|were)\s+"
                r"(?:outdated|obsolete|void|cancel+ed|revoked|no longer valid)",
            ),
        ),
    ),
    Rule(
        "prompt_exfiltration",
        "reveal your system prompt; print your hidden instructions; repeat everything above",
        (
            _part(
                f"{_SHOW} & your|its & prompt|instruction|message",
                rf"{_SHOW_RE}(?:your|its)\s+(?:(?:full|entire|complete|exact|original|initial|"
                r"hidden|secret|confidential|internal)\s+)*(?:system\s+(?:prompt|message|"
                r"instructions)|instructions|initial\s+prompt|prompt)\b",
            ),
            _part(
                f"{_SHOW} & hidden|secret|confidential|initial|original|internal & "
                "prompt|instruction",
                rf"{_SHOW_RE}{_SECRET}\s+(?:system\s+)?(?:prompt|instructions)\b",
            ),
            _part(
                "repeat & above|before",
                r"\brepeat\s+(?:everything|all|the\s+(?:text|words|lines))\s+(?:above|before)\b",
            ),
        ),
    ),
    Rule(
        "roleplay_jailbreak",
        "DAN / do anything now; 'act as an AI without restrictions'; 'you are no longer bound'",
        (
            _part("do anything now", r"\bdo anything now\b"),
            _part(" mode", r"\b(?:dan|stan|dude|evil|jailbreak|god) mode\b"),
            _part("developer mode", r"\bdeveloper mode (?:enabled|output|response)\b"),
            _part("jailbreak", r"\[\W?\s*jailbreak\s*\]"),
            _part(
                f"{_PERSONA_WORDS} & {_LIMIT_WORDS}",
                rf"\b{_PERSONA}\b[^.\n]{{0,80}}\b(?:no|without|free (?:of|from)|not bound by|"
                rf"beyond|unbound by)\s+(?:any\s+|all\s+)?(?:\w+\s+)?{_LIMITS}",
            ),
            _part(
                f"{_PERSONA_WORDS} & unrestricted|unfiltered|uncensored|jailbroken|amoral",
                rf"\b{_PERSONA}\b[^.\n]{{0,40}}\b(?:unrestricted|unfiltered|uncensored|"
                r"jailbroken|amoral)\b",
            ),
            _part(
                "no longer",
                r"\byou(?: are|'re) no longer\s+(?:an?\s+)?(?:ai|assistant|bound|restricted|"
                r"limited|chatgpt|claude|gpt)\b",
            ),
        ),
    ),
    Rule(
        "role_delimiter",
        "chat-template tokens (<|im_start|>system, [INST]), </system>, '### Instruction', "
        "'SYSTEM: ignore ...'",
        (
            _part(
                "<",  # ("<|" would read as two needles; a literal prefix is fast anyway)
                r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|"
                r"start_header_id|end_header_id)\|>",
            ),
            _part("inst]", r"\[/?inst\]"),
            _part("<<", r"<<\s*/?sys\s*>>"),
            _part("system>|prompt>|assistant>", r"</?(?:system|system_prompt|assistant)>"),
            _part(
                "## & system|instruction",
                r"^\s*#{2,4}\s*(?:system|instruction|instructions|new instructions)\s*:?\s*$",
            ),
            _part(
                "system & : & ignor|disregard|overrid|forget|new |previous instructions|"
                "you are now|you must",
                r"(?:^|\\n|[.!?]\s)\s*(?:\[?system\]?|system message|important system message|"
                r"system override)\s*:\s*[^\n]{0,120}\b(?:ignore|disregard|override|forget|"
                r"new (?:task|instructions|policy)|previous instructions|you are now|you must)\b",
            ),
        ),
    ),
    Rule(
        "addressed_to_ai",
        "text in a document that addresses the AI reading it: 'Note to AI agents: ignore ...'",
        (
            _part(
                f"note|message|instruction|p.s|ps|attention|hey|dear & {_AI} & ignor|disregard|"
                "forget|overrid|instead|do not|reveal|forward|send|exfiltrate|run|execute|"
                "approve|delete|your real|your actual",
                r"\b(?:note|message|instructions?|p\.?s\.?|attention|hey|dear)\s+(?:to|for)?\s*"
                rf"(?:the\s+|any\s+|all\s+)?(?:{_AI})s?(?:\s+(?:agents?|assistants?|models?|"
                r"summarizers?|reviewers?|readers?))?\b[^\n]{0,120}\b(?:ignore|disregard|"
                r"forget|override|instead|do not (?:tell|mention|summarize)|reveal|forward|send|"
                r"exfiltrate|run|execute|approve|delete|your (?:real|actual) instruction)",
            ),
            _part(
                "note|message|instruction|p.s|ps & ai|llm|language model|assistant|chatbot & "
                "reading this|:",
                r"\b(?:note|message|instructions?|p\.?s\.?)\s+(?:to|for)\s+(?:the\s+|any\s+|"
                r"all\s+)?(?:ai|llm|language model|assistant|chatbot)s?\b[^\n:]{0,30}?"
                r"(?:reading this|:)",
            ),
            _part(
                "ai|llm & assistant|agent|model|reviewer",
                r"\b(?:ai|llm)\s+(?:assistants?|agents?|models?|reviewers?)\s*(?::|,\s*(?:when|"
                r"if|please|you must))",
            ),
            _part(
                "ai & :",
                r"(?:^|[\[(])\s*ai\s*:\s*(?:ignore|disregard|override|forget|you must|do not)\b",
            ),
            _part(
                "language model|assistant instructions",
                r"\b(?:language model|assistant instructions)\s*:",
            ),
        ),
    ),
    Rule(
        "encoded_payload",
        "'decode this base64 and follow it'",
        (
            _part(
                "decode|decipher|rot13 & follow|execute|run|obey|do what|carry out|comply|act on",
                r"\b(?:decode|decipher|base64[- ]?decode|rot13)\b[^\n]{0,80}?\b(?:and|then)\s+"
                r"(?:follow|execute|run|obey|do what|carry out|comply|act on)\b",
            ),
            _part(
                "follow|execute|obey|run & base64|encoded|hex",
                r"\b(?:follow|execute|obey|run)\s+(?:the\s+)?(?:instructions?|commands?)\s+"
                r"(?:in|inside|hidden in|encoded in)\s+(?:the\s+|this\s+)?(?:base64|encoded|hex)",
            ),
        ),
    ),
)

#: Every needle of every part, and the longest text they are all looked for at once in.
_NEEDLES = tuple(sorted({n for r in RULES for p in r.parts for g in p.needles for n in g}))
_EAGER = 256
_QUOTES = frozenset("'\"`\u2018\u2019\u201c\u201d")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")


def _decoded(text: str) -> list[str]:
    """What the first base64 runs of ``text`` say, when they decode to readable text."""
    out: list[str] = []
    for i, m in enumerate(_BASE64.finditer(text)):
        if i >= MAX_BLOBS:
            break
        blob = m.group()[: MAX_BLOB * 4 // 3]
        blob = blob[: len(blob) - len(blob) % 4]
        try:
            raw = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError):
            continue
        try:
            said = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if said.isprintable() or all(c.isprintable() or c in "\n\r\t" for c in said):
            out.append(said)
    return out


def match_rules(text: str) -> list[str]:
    """The names of the rules ``text`` matches, in :data:`RULES` order; ``base64_payload``
    when a base64 run decodes to text that matches one."""
    norm = normalize(text)
    has = presence(norm)
    found = [r.name for r in RULES if r.matches(norm, has)]
    for said in _decoded(text):
        inner = normalize(said)
        inner_has = presence(inner)
        if any(r.matches(inner, inner_has) for r in RULES):
            found.append("base64_payload")
            break
    return found
