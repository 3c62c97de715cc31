"""The phrase lists and error patterns the detectors use, as data (English only).

Phrases are matched by :class:`plano.signals.text.PhraseSet` (exact words, then fuzzy);
error patterns are regular expressions over tool results, one compiled alternation per leaf.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import product
from types import MappingProxyType

__all__ = [
    "CONFIRMING_STARTS",
    "ENVIRONMENT_ERRORS",
    "FUZZY",
    "POSITIVE_STARTS",
    "TOOL_ERRORS",
    "USER_PHRASES",
    "Rule",
]

#: A user message that starts so is agreeing, not repeating or shouting.
POSITIVE_STARTS = (
    "yes", "yeah", "yep", "yup", "sure", "ok", "okay", "great", "awesome", "perfect",
    "thanks", "thank", "wonderful", "excellent", "amazing", "nice", "good", "cool",
    "absolutely", "definitely", "please",
)  # fmt: skip

#: A user message that starts so confirms; it is no rephrase of the previous one.
CONFIRMING_STARTS = (
    "yes", "yeah", "yep", "yup", "correct", "right", "that's correct", "thats correct",
    "that's right", "thats right", "that is correct", "that is right",
)  # fmt: skip

_ASK = ("speak to", "talk to", "connect me to", "connect me with", "transfer me to", "get me",
        "chat with", "let me talk to", "i want to talk to", "i need to speak to")  # fmt: skip
_WHO = ("a human", "a person", "a real person", "an actual person", "a human agent",
        "a live agent", "a supervisor", "a manager", "customer service", "customer support",
        "tech support", "the help desk", "someone real")  # fmt: skip

#: ``<category>.<leaf>`` -> phrases, most specific first within a leaf.
USER_PHRASES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "misalignment.correction": (
            "no, i meant",
            "no i meant",
            "no, i said",
            "no i said",
            "no, i asked",
            "nope, i meant",
            "not what i said",
            "not what i asked",
            "not what i meant",
            "that's not what i said",
            "that's not what i asked",
            "that's not what i meant",
            "thats not what i meant",
            "that's not what you",
            "you misunderstood",
            "you're not quite right",
            "you're wrong about",
            "that's wrong",
            "that is wrong",
            "i just said",
            "i already said",
            "i already told you",
            "as i said",
        ),
        "misalignment.rephrase": (
            "let me rephrase",
            "to rephrase",
            "let me explain again",
            "let me try again",
            "what i'm trying to say",
            "what i'm saying is",
            "in other words",
            "put differently",
            "i'll say it differently",
        ),
        "misalignment.clarification": (
            "i don't understand",
            "don't understand",
            "not understanding",
            "can't understand",
            "don't get it",
            "don't follow",
            "i'm confused",
            "so confused",
            "makes no sense",
            "doesn't make sense",
            "not making sense",
            "what do you mean",
            "what does that mean",
            "what are you saying",
            "i'm lost",
            "totally lost",
            "you lost me",
            "no idea what you",
            "no clue what you",
            "say that again",
            "come again",
            "hard to follow",
            "can't follow",
        ),
        "disengagement.escalation": (
            *(" ".join(p) for p in product(_ASK, _WHO)),
            "escalate this",
            "escalate to a human",
            "human agent please",
            "real human please",
        ),
        "disengagement.quit": (
            "i give up",
            "i'm giving up",
            "im giving up",
            "i quit",
            "i'm done with this",
            "forget it",
            "forget this",
            "screw it",
            "screw this",
            "never mind, i'll",
            "don't bother",
            "why bother",
            "not worth it",
            "this is hopeless",
            "going elsewhere",
            "try somewhere else",
            "look elsewhere",
            "i'll do it myself",
        ),
        "disengagement.profanity": (
            "this is bullshit",
            "what bullshit",
            "total bullshit",
            "this is crap",
            "what crap",
            "this is shit",
            "what the hell is wrong with you",
            "what the fuck is wrong with you",
            "you're fucking useless",
            "fucking useless",
            "this bot is shit",
            "this bot is crap",
            "damn bot",
            "fucking bot",
            "are you fucking kidding",
            "wtf is wrong with you",
            "wtf is this",
            "ffs",
            "for fuck's sake",
            "what the f**k",
            "what the f*ck",
            "this is bs",
            "that's bs",
        ),
        "disengagement.complaint": (
            "this is useless",
            "you're useless",
            "not helpful",
            "isn't helpful",
            "not helpful at all",
            "doesn't help",
            "not helping",
            "you're not helping",
            "this doesn't work",
            "this isn't working",
            "it's not working",
            "it doesn't work",
            "isn't working",
            "still doesn't work",
            "still not working",
            "still isn't working",
            "still broken",
            "waste of time",
            "wasting my time",
            "this is ridiculous",
            "this is absurd",
            "this is stupid",
            "this sucks",
            "this is frustrating",
            "so frustrating",
            "not good enough",
            "why can't you",
            "same issue",
            "same problem again",
            "did that already",
            "tried that already",
            "already tried that",
            "i've tried that",
            "i'm disappointed",
            "useless bot",
            "stupid bot",
            "dumb bot",
        ),
        "satisfaction.gratitude": (
            "thank you",
            "thanks a lot",
            "many thanks",
            "thanks so much",
            "much appreciated",
            "thanks",
            "that's helpful",
            "that helps",
            "this helps",
            "very helpful",
            "appreciate it",
            "appreciate that",
            "that's perfect",
            "exactly what i needed",
            "just what i needed",
            "you're the best",
            "you rock",
            "you're awesome",
            "you're amazing",
            "you're great",
        ),
        "satisfaction.confirmation": (
            "that works",
            "this works",
            "works for me",
            "that's great",
            "this is great",
            "that's amazing",
            "that's awesome",
            "looks good",
            "love it",
            "love this",
            "love that",
            "sounds good",
        ),
        "satisfaction.success": (
            "it worked",
            "that worked",
            "this worked",
            "it works now",
            "it's working",
            "that's working",
            "this is working",
            "problem solved",
            "that fixed it",
            "that did it",
            "all good now",
        ),
    }
)


#: Lists of many variants whose fuzzy layers try only these canonical phrases (the fuzzy
#: layers cost per phrase; the exact one does not).
FUZZY: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "disengagement.escalation": frozenset(
            {
                "talk to a human", "speak to a human", "get me a human", "talk to a person",
                "speak to a real person", "talk to a manager", "speak to a supervisor",
                "talk to customer service", "talk to customer support", "escalate this",
                "human agent please", "real human please",
            }
        ),
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rule:
    """Regular expressions run only on text holding one of the keywords (substring checks
    cost far less than an alternation tried at every position of a long tool result)."""

    keywords: tuple[str, ...]
    pattern: re.Pattern[str]

    def search(self, lower: str) -> re.Match[str] | None:
        """The first match in ``lower`` (the text, lower-cased)."""
        if any(k in lower for k in self.keywords):
            return self.pattern.search(lower)
        return None


def _rule(keywords: tuple[str, ...], patterns: tuple[str, ...]) -> Rule:
    return Rule(keywords, re.compile("|".join(f"(?:{p})" for p in patterns)))


#: Tool results that show the agent used a tool wrongly, by leaf, checked in this order.
TOOL_ERRORS: Mapping[str, Rule] = MappingProxyType(
    {
        "invalid_args": _rule(
            (
                "invalid",
                "typeerror",
                "type error",
                "expected",
                "required",
                "missing",
                "validation",
                "must",
                "cannot",
                "valid",
                "range",
                "malformed",
            ),
            (
                r"invalid\s+(?:argument|parameter|type|value|format|date|json)",
                r"type\s*error",
                r"expected\s+\w+\s*,?\s*(?:but\s+)?got\s+\w+",
                r"required\s+(?:field|parameter|argument)",
                r"missing\s+(?:required|argument)",
                r"validation\s+(?:failed|error)",
                r"must\s+be\s+an?\s+\w+",
                r"cannot\s+be\s+(?:null|empty|none)",
                r"is\s+not\s+valid",
                r"out\s+of\s+range",
                r"malformed\s+request",
            ),
        ),
        "tool_not_found": _rule(
            ("unknown", "found", "such", "undefined", "invalid", "unrecognized", "supported"),
            (
                r"unknown\s+(?:function|tool)",
                r"(?:function|tool)\s+not\s+found",
                r"no\s+such\s+(?:function|tool)",
                r"undefined\s+function",
                r"invalid\s+(?:tool|function)",
                r"unrecognized\s+(?:function|tool)",
                r"action\s+not\s+supported",
            ),
        ),
        "auth_misuse": _rule(
            (
                "authori",
                "40",
                "permission",
                "denied",
                "authentication",
                "invalid",
                "token",
                "forbidden",
                "insufficient",
            ),
            (
                r"\bunauthori[sz]ed\b",
                r"(?:status|error|http|code)\s*:?\s*40[13]\b",
                r"\b40[13]\s+(?:unauthorized|forbidden)",
                r"permission\s+denied",
                r"access\s+denied",
                r"authentication\s+(?:required|failed)",
                r"invalid\s+(?:credentials|token|api\s+key)",
                r"token\s+expired",
                r"missing\s+authorization",
                r"\bforbidden\b",
                r"not\s+authori[sz]ed",
                r"insufficient\s+permissions?",
            ),
        ),
        "state_error": _rule(
            (
                "state",
                "must",
                "cannot",
                "already",
                "initiali",
                "started",
                "progress",
                "precondition",
                "409",
                "conflict",
            ),
            (
                r"(?:invalid|illegal)\s+state",
                r"must\s+call\s+\w+\s+first",
                r"(?:must|cannot)\s+\w+\s+before",
                r"already\s+(?:exists?|created|started|finished)",
                r"not\s+(?:initiali[sz]ed|started)",
                r"(?:already|operation)\s+in\s+progress",
                r"precondition\s+failed",
                r"(?:status|error|http)\s*:?\s*409\b",
                r"\bconflict\b",
            ),
        ),
        "bad_query": _rule(
            (
                "invalid",
                "syntax",
                "search",
                "malformed",
                "unknown",
                "query",
                "results",
                "matches",
                "records",
            ),
            (
                r"invalid\s+(?:query|field|filter|search|id|identifier|operator)",
                r"(?:query\s+syntax|search)\s+error",
                r"malformed\s+query",
                r"unknown\s+(?:field|id)",
                r"query\s+failed",
                r"unsupported\s+query",
                r"no\s+(?:results|matches|records)\s+found",
            ),
        ),
    }
)

#: Tool results that show the world failed the agent, by leaf, checked in this order.
ENVIRONMENT_ERRORS: Mapping[str, Rule] = MappingProxyType(
    {
        "rate_limit": _rule(
            ("rate", "429", "too many", "quota", "throttl", "retry"),
            (
                r"rate[\s_-]?limit",
                r"(?:status|error|http)\s*:?\s*429\b",
                r"\b429\s+(?:too\s+many|rate|limit)",
                r"too\s+many\s+requests?",
                r"quota\s+(?:exceeded|limit)",
                r"throttl(?:ed|ing)",
                r"retry\s+after",
            ),
        ),
        "api_error": _rule(
            (
                "500",
                "502",
                "503",
                "504",
                "internal",
                "unavailable",
                "backend",
                "upstream",
                "system",
                "maintenance",
                "later",
                "unhandled",
            ),
            (
                r"\b50[0234]\b\s*(?:internal|bad|service|gateway)",
                r"internal\s+server\s+error",
                r"service\s+(?:temporarily\s+)?unavailable",
                r"(?:backend|upstream|system)\s+error",
                r"under\s+maintenance",
                r"maintenance\s+mode",
                r"try\s+again\s+later",
                r"unhandled\s+exception",
            ),
        ),
        "timeout": _rule(
            ("time", "etimedout", "deadline", "too long"),
            (
                r"time[sd]?[\s_-]?out",
                r"etimedout",
                r"deadline\s+exceeded",
                r"took\s+too\s+long",
            ),
        ),
        "network": _rule(
            (
                "connect",
                "econn",
                "enotfound",
                "dns",
                "host",
                "network",
                "route",
                "ssl",
                "certificate",
            ),
            (
                r"connection\s+(?:refused|reset|failed)",
                r"econn(?:refused|reset)",
                r"enotfound",
                r"dns\s+(?:error|failure|lookup)",
                r"host\s+not\s+found",
                r"network\s+(?:error|failure|unreachable)",
                r"no\s+route\s+to\s+host",
                r"(?:unable\s+to|cannot|could\s+not)\s+connect",
                r"ssl\s+(?:error|handshake)",
                r"certificate\s+(?:error|invalid|expired)",
            ),
        ),
        "malformed_response": _rule(
            ("json", "token", "malformed", "unexpected", "pars", "response", "deseriali", "decode"),
            (
                r"json\s+(?:parse|decode)\s+error",
                r"unexpected\s+token",
                r"malformed\s+(?:response|json|data)",
                r"unexpected\s+end\s+of",
                r"pars(?:e|ing)\s+(?:error|failed)",
                r"(?:invalid|unexpected)\s+response",
                r"deseriali[sz]ation\s+error",
                r"failed\s+to\s+decode",
            ),
        ),
        "context_overflow": _rule(
            ("context", "token", "too", "limit"),
            (
                r"context\s+(?:length|limit|overflow|window)\s*(?:exceeded)?",
                r"token\s+(?:limit|overflow)",
                r"maximum\s+context",
                r"(?:input|prompt|message|content)\s+too\s+(?:long|large)",
                r"exceeds?\s+(?:the\s+)?(?:context|token|input)\s+limit",
            ),
        ),
    }
)
