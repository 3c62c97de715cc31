"""The checks a candidate of :mod:`plano.guard.pii_patterns` must pass to count as PII.

A regular expression finds what is shaped like a value; these functions decide whether it is
one: Luhn and issuer prefixes and lengths for cards, the area/group/serial rules for US social
security numbers, the country length table and mod-97 for IBANs, the NANP rules and digit
counts for phone numbers, :mod:`ipaddress` for IP addresses, a list of real top-level domains
for emails. Each takes the text, the candidate's span and ``floor`` (where the previous
finding ended: a value never reaches back into it) and returns the value's span, which may
be narrower or reach back further than the candidate's, or ``None``. Pure functions.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

__all__ = [
    "CHECKS",
    "Check",
    "card",
    "email",
    "iban",
    "ipv4",
    "ipv6",
    "luhn",
    "phone_intl",
    "phone_national",
    "ssn",
]

#: ``(text, start, end, floor) -> (start, end)`` of the value, or ``None``.
Check = Callable[[str, int, int, int], "tuple[int, int] | None"]

# ------------------------------------------------------------------------------ cards

_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_SEPARATORS = re.compile(r"[ -]")


def luhn(digits: str) -> bool:
    """The Luhn checksum of a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        total += _DOUBLED[d] if i % 2 else d
    return total % 10 == 0


def _issuer_lengths(d: str) -> range | tuple[int, ...]:
    """The lengths the issuer that ``d``'s prefix belongs to uses (empty: no known issuer)."""
    p2, p3, p4, p6 = int(d[:2]), int(d[:3]), int(d[:4]), int(d[:6])
    if d[0] == "4":  # Visa
        return (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return (16,)
    if p2 in (34, 37):  # American Express
        return (15,)
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925:  # Discover
        return range(16, 20)
    if 3528 <= p4 <= 3589:  # JCB
        return range(16, 20)
    if 300 <= p3 <= 305 or p4 == 3095 or p2 in (36, 38, 39):  # Diners Club
        return range(14, 20)
    if p2 == 62 or 2200 <= p4 <= 2204:  # UnionPay, Mir
        return range(16, 20)
    if p2 in (50, 56, 57, 58) or p4 in (6304, 6759) or p6 in (676770, 676774):  # Maestro
        return range(13, 20)
    return ()


def _card_groups(groups: list[str]) -> bool:
    """How cards are written: 4-4-4-4(-3), 4-4-4-1..4, Amex 4-6-5, Diners 4-6-4."""
    sizes = [len(g) for g in groups]
    if len(sizes) == 1:
        return True
    if sizes in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(s == 4 for s in sizes[:-1]) and 1 <= sizes[-1] <= 4


def card(text: str, start: int, end: int, floor: int) -> tuple[int, int] | None:
    """13 to 19 digits, written as cards are, with an issuer's prefix and length and a valid
    Luhn checksum. A longer run (a card followed by a year) is cut back group by group."""
    value = text[start:end]
    seps = set(_SEPARATORS.findall(value))
    if len(seps) > 1:
        return None
    groups = value.split(seps.pop()) if seps else [value]
    for k in range(len(groups), 0, -1):
        kept = groups[:k]
        digits = "".join(kept)
        if len(digits) < 13:
            return None
        if (
            len(digits) <= 19
            and _card_groups(kept)
            and len(digits) in _issuer_lengths(digits)
            and luhn(digits)
        ):
            return start, start + len(digits) + k - 1
    return None


# ------------------------------------------------------------------------------ SSN


def ssn(text: str, start: int, end: int, floor: int) -> tuple[int, int] | None:
    """``AAA-GG-SSSS`` (or with spaces): area 001-899 but not 666, group and serial not zero,
    and not the number printed on a wallet insert (078-05-1120)."""
    value = text[start:end]
    if value[3] != value[6]:
        return None
    area, group, serial = value[:3], value[4:6], value[7:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return None
    if value[:3] + value[4:6] + value[7:] in ("078051120", "219099999"):
        return None
    return start, end


# ------------------------------------------------------------------------------ IBAN

#: Country -> IBAN length (the SWIFT registry).
IBAN_LENGTHS: dict[str, int] = {
    cc: int(n)
    for cc, n in (
        item.split(":")
        for item in (
            "AD:24 AE:23 AL:28 AT:20 AZ:28 BA:20 BE:16 BG:22 BH:22 BI:27 BR:29 BY:28 CH:21 "
            "CR:22 CY:28 CZ:24 DE:22 DJ:27 DK:18 DO:28 EE:20 EG:29 ES:24 FI:18 FK:18 FO:18 "
            "FR:27 GB:22 GE:22 GI:23 GL:18 GR:27 GT:28 HR:21 HU:28 IE:22 IL:23 IQ:23 IS:26 "
            "IT:27 JO:30 KW:30 KZ:20 LB:28 LC:32 LI:21 LT:20 LU:20 LV:21 LY:25 MC:27 MD:24 "
            "ME:22 MK:19 MN:20 MR:27 MT:31 MU:30 NI:28 NL:18 NO:15 OM:23 PK:24 PL:28 PS:29 "
            "PT:25 QA:29 RO:24 RS:22 RU:33 SA:24 SC:31 SD:18 SE:24 SI:19 SK:24 SM:27 SO:23 "
            "ST:25 SV:28 TL:23 TN:24 TR:26 UA:29 VA:22 VG:24 XK:20 YE:30"
        ).split()
    )
}


def _mod97(code: str) -> int:
    """The IBAN checksum: country and check digits moved to the end, letters as 10-35."""
    rearranged = code[4:] + code[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97


def iban(text: str, start: int, end: int, floor: int) -> tuple[int, int] | None:
    """The candidate starts at the check digits; the two letters before them are the country.
    Exactly that country's length of letters and digits, written whole or in groups of four
    with single spaces, not run on into a longer word, with a valid mod-97 checksum."""
    start -= 2
    length = IBAN_LENGTHS.get(text[start : start + 2])
    if length is None or start < floor:
        return None
    compact = text[start:end].replace(" ", "")[:length]
    if len(compact) < length:
        return None
    written = compact
    if text[start + 4 : start + 5] == " ":
        written = " ".join(compact[i : i + 4] for i in range(0, length, 4))
    stop = start + len(written)
    if not text.startswith(written, start) or (stop < len(text) and text[stop].isalnum()):
        return None
    return (start, stop) if _mod97(compact) == 1 else None


# ------------------------------------------------------------------------------ phones

_DIGIT = re.compile(r"[0-9]")


_GROUPS = re.compile(r"[ .\-()]+")


def phone_intl(text: str, start: int, end: int, floor: int) -> tuple[int, int] | None:
    """``+`` and 8 to 15 digits (E.164's maximum), a ``(0)`` trunk prefix not counted; the
    last group has two digits or more and dots come in twos or more (``+35236450.6`` is a
    signed decimal)."""
    value = text[start:end]
    digits = len(_DIGIT.findall(value)) - value.count("(0)")
    if not 8 <= digits <= 15 or value.count(".") == 1:
        return None
    return (start, end) if len(_GROUPS.split(value)[-1]) >= 2 else None


def phone_national(text: str, start: int, end: int, floor: int) -> tuple[int, int] | None:
    """National formats: one separator throughout (``415-555-2671``, ``415.555.2671``; a
    ``(415) 555-2671`` or ``1 (415) ...`` may mix a space with its own), 10 or 11 digits."""
    value = text[start:end]
    seps = {ch for ch in value if ch in "-. "}
    if len(seps) > 1 and "(" not in value:
        return None
    digits = sum(ch.isdigit() for ch in value)
    return (start, end) if 10 <= digits <= 11 else None


# ------------------------------------------------------------------------------ IP addresses

_VERSION_WORD = re.compile(r"(?:version|release|ver\.?|v)\s*$", re.IGNORECASE)


def ipv4(text: str, start: int, end: int, floor: int) -> tuple[int, int] | None:
    """Four octets of at most 255 without leading zeros, a unicast address (not 0.x, the
    loopback, multicast or reserved: netmasks start with 255), not after *version*."""
    octets = text[start:end].split(".")
    if any(len(o) > 1 and o[0] == "0" for o in octets):
        return None
    values = [int(o) for o in octets]
    if max(values) > 255 or not 1 <= values[0] <= 223 or values[0] == 127:
        return None
    if _VERSION_WORD.search(text, max(0, start - 12), start):
        return None
    return start, end


_HEX_OR_COLON = frozenset("0123456789abcdefABCDEF:")


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def ipv6(text: str, start: int, end: int, floor: int) -> tuple[int, int] | None:
    """The candidate starts at a colon; the address may begin up to 39 characters before it.
    A word character on either side (``std::vector``, ``Foo::Bar``) means code; a
    compressed address needs a group of three hex digits or more (so slices such as
    ``a[1::2]`` are not addresses); loopback and unspecified addresses are not PII."""
    lo = max(floor, start - 39)
    while start > lo and text[start - 1] in _HEX_OR_COLON:
        start -= 1
    while end > start and text[end - 1] in ".:" and text[end - 2 : end] != "::":
        end -= 1
    if (start > 0 and _word_char(text[start - 1])) or (end < len(text) and _word_char(text[end])):
        return None
    value = text[start:end]
    if value.count(":") < 2:
        return None
    try:
        addr = ipaddress.IPv6Address(value)
    except ValueError:
        return None
    if addr.is_loopback or addr.is_unspecified:
        return None
    if "::" in value and not any(len(g) >= 3 for g in re.split(r"[:.]", value)):
        return None
    return start, end


# ------------------------------------------------------------------------------ email

#: Generic top-level domains in common use; any country-code one (below) is accepted too.
_GENERIC_TLDS = frozenset(
    (
        "com net org edu gov mil int info biz name pro aero coop museum mobi asia tel travel "
        "jobs cat post app dev page cloud online site website tech store shop blog email "
        "mail digital agency solutions services company center network systems world today "
        "life live news media group global academy support consulting software studio "
        "design social team works zone xyz top club vip icu fun space link click one win "
        "art ltd llc inc gmbh law legal health care bank finance capital partners ventures "
        "foundation institute university school education energy solar consulting engineering "
        "london paris berlin nyc tokyo amsterdam wien swiss scot eus gal bzh"
    ).split()
)
_COUNTRY_TLDS = frozenset(
    (
        "ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn "
        "bo br bs bt bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj "
        "dk dm do dz ec ee eg er es et eu fi fj fk fm fo fr ga gd ge gf gg gh gi gl gm gn gp "
        "gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke "
        "kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mg mh mk "
        "ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om "
        "pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si "
        "sk sl sm sn so sr ss st sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz "
        "ua ug uk us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw"
    ).split()
)
_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")


def email(text: str, start: int, end: int, floor: int) -> tuple[int, int] | None:
    """The candidate is ``@domain``; the local part (up to 64 characters) is found going
    back. The top-level domain must be a real one (so ``icon@2x.png`` and ``x@self.weights``
    are not addresses), and ``git@github.com:org/repo`` (an SSH remote) is not one either."""
    at = start
    lo = max(floor, at - 64)
    while start > lo and text[start - 1] in _LOCAL:
        start -= 1
    while start < at and text[start] in ".-+":
        start += 1
    if start == at or text[at - 1] == ".":
        return None
    tld = text[text.rindex(".", at, end) + 1 : end].lower()
    if tld not in _GENERIC_TLDS and tld not in _COUNTRY_TLDS:
        return None
    if end + 1 < len(text) and text[end] == ":" and not text[end + 1].isspace():
        return None
    return start, end


#: Variant name -> its check. Secrets are checked in :mod:`plano.guard.pii_patterns`.
CHECKS: dict[str, Check] = {
    "email": email,
    "card": card,
    "ssn": ssn,
    "iban": iban,
    "ipv4": ipv4,
    "ipv6": ipv6,
    "phone_intl": phone_intl,
    "phone_paren": phone_national,
    "phone_nanp": phone_national,
    "phone_nanp1": phone_national,
    "phone_trunk": phone_national,
    "phone_fr": phone_national,
}
