"""The checks that confirm a candidate: checksums, issuer tables, number rules, addresses."""

from __future__ import annotations

import pytest

from plano.guard import pii_checks as checks


def whole(check: checks.Check, text: str) -> tuple[int, int] | None:
    return check(text, 0, len(text), 0)


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("4111111111111111", True),
        ("4111111111111112", False),
        ("79927398713", True),  # the textbook example
        ("0", True),
        ("378282246310005", True),
    ],
)
def test_luhn(digits: str, ok: bool) -> None:
    assert checks.luhn(digits) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("4111111111111111", True),  # Visa 16
        ("4222222222222", True),  # Visa 13
        ("5555555555554444", True),  # Mastercard
        ("2223003122003222", True),  # Mastercard 2-series
        ("378282246310005", True),  # Amex 15
        ("3782 822463 10005", True),  # Amex 4-6-5
        ("30569309025904", True),  # Diners 14
        ("6011111111111117", True),  # Discover
        ("3530111333300000", True),  # JCB
        ("6200000000000005", True),  # UnionPay
        ("4111-1111-1111-1111", True),
        ("4111 1111-1111 1111", False),  # mixed separators
        ("41 11 11 11 11 11 11 11", False),  # not how cards are grouped
        ("3782822463 10005", False),  # not how Amex is grouped
        ("7111111111111111", False),  # no issuer starts with 7
        ("5555555555554444000", False),  # Mastercard is 16 digits
        ("4111111111111", False),  # Visa 13 with a wrong checksum
    ],
)
def test_card(text: str, ok: bool) -> None:
    assert (whole(checks.card, text) is not None) is ok


def test_card_cut_back_to_its_length() -> None:
    text = "4111 1111 1111 1111 2027"
    assert whole(checks.card, text) == (0, 19)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("536-22-1234", True),
        ("536 22 1234", True),
        ("536-22 1234", False),
        ("000-12-3456", False),
        ("666-12-3456", False),
        ("912-12-3456", False),
        ("123-00-4567", False),
        ("123-45-0000", False),
        ("078-05-1120", False),
    ],
)
def test_ssn(text: str, ok: bool) -> None:
    assert (whole(checks.ssn, text) is not None) is ok


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("DE89370400440532013000", (0, 22)),
        ("DE89 3704 0044 0532 0130 00", (0, 27)),
        ("DE89370400440532013000 AND MORE", (0, 22)),
        ("DE89370400440532013001", None),  # checksum
        ("DE8937040044053201300", None),  # too short for Germany
        ("DE893704004405320130001", None),  # run on
        ("DE89 3704 0044 053 20130 00", None),  # groups of four only
        ("ZZ89370400440532013000", None),  # no such country
        ("NO9386011117947", (0, 15)),
    ],
)
def test_iban(text: str, span: tuple[int, int] | None) -> None:
    # The pattern's candidate starts at the check digits.
    assert checks.iban(text, 2, len(text), 0) == span


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("+14155552671", True),
        ("+1 415 555 2671", True),
        ("+44 (0)20 7946 0958", True),
        ("+1.415.555.2671", True),
        ("+1234567", False),  # too few digits
        ("+1234567890123456", False),  # more than E.164 allows
        ("+35236450.6", False),  # a signed decimal
        ("+3523645 6", False),  # one-digit last group
    ],
)
def test_phone_intl(text: str, ok: bool) -> None:
    assert (whole(checks.phone_intl, text) is not None) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("415-555-2671", True),
        ("415.555.2671", True),
        ("(415) 555-2671", True),
        ("1 (415) 555-2671", True),
        ("415-555.2671", False),
        ("01 23 45 67 89", True),
        ("020 7946 0958", True),
        ("020 794 095", False),  # 9 digits
    ],
)
def test_phone_national(text: str, ok: bool) -> None:
    assert (whole(checks.phone_national, text) is not None) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("192.168.1.20", True),
        ("8.8.8.8", True),
        ("256.1.1.1", False),
        ("01.2.3.4", False),
        ("0.1.2.3", False),
        ("127.0.0.1", False),
        ("255.255.255.0", False),
        ("224.0.0.1", False),
    ],
)
def test_ipv4(text: str, ok: bool) -> None:
    assert (whole(checks.ipv4, text) is not None) is ok


def test_ipv4_after_a_version_word() -> None:
    text = "version 10.0.0.1"
    assert checks.ipv4(text, 8, len(text), 0) is None
    text = "host 10.0.0.1"
    assert checks.ipv4(text, 5, len(text), 0) == (5, len(text))


@pytest.mark.parametrize(
    ("text", "colon", "value"),
    [
        ("at 2001:db8::1 now", 7, "2001:db8::1"),
        ("at fe80::1ff:fe23:4567:890a.", 7, "fe80::1ff:fe23:4567:890a"),
        ("at ::ffff:192.0.2.128", 3, "::ffff:192.0.2.128"),
        ("std::vector", 3, None),
        ("Foo::Bar", 3, None),
        ("a[1::2]", 3, None),
        ("::1", 0, None),
        ("12:30:45", 2, None),
        ("00:1A:2B:3C:4D:5E", 2, None),
    ],
)
def test_ipv6(text: str, colon: int, value: str | None) -> None:
    end = colon
    while end < len(text) and text[end] in "0123456789abcdefABCDEF:.":
        end += 1
    span = checks.ipv6(text, colon, end, 0)
    assert (text[span[0] : span[1]] if span else None) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("mail bob@example.com", "bob@example.com"),
        ("mail .bob@example.com", "bob@example.com"),
        ("x@self.weights", None),
        ("icon@2x.png", None),
        ("a.@example.com", None),
        ("git@github.com:org/repo", None),
        ("team@studio.photography", None),
        ("jo@example.co.uk", "jo@example.co.uk"),
    ],
)
def test_email(text: str, value: str | None) -> None:
    at = text.index("@")
    end = len(text.split(":")[0]) if ":" in text else len(text)
    span = checks.email(text, at, end, 0)
    assert (text[span[0] : span[1]] if span else None) == value


def test_a_value_never_reaches_back_past_the_floor() -> None:
    text = "bob@example.com"
    assert checks.email(text, 3, len(text), 2) == (2, len(text))  # "b@example.com"
