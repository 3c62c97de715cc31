"""Durations and sizes as written in config files."""

from __future__ import annotations

import re

import pytest

from plano.config.units import DURATION_PATTERN, SIZE_PATTERN, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("300s", 300.0),
        ("5m", 300.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        ("1m30s", 90.0),
        ("1h30m", 5400.0),
        (" 30s ", 30.0),
        ("30", 30.0),
        (45, 45.0),
        (2.5, 2.5),
        (0, 0.0),
    ],
)
def test_parse_duration_accepts_units_and_numbers(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["5 sec", "s", "", "1d", "5m3", "-5s", -1, "inf", True, None, []])
def test_parse_duration_rejects_with_clear_message(bad: object) -> None:
    with pytest.raises(ValueError, match=r"expected a duration like '300s', '5m', '500ms'"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (1048576, 1048576),
        ("10MB", 10_000_000),
        ("10MiB", 10 * 1024 * 1024),
        ("512KiB", 512 * 1024),
        ("512kib", 512 * 1024),
        ("2GB", 2_000_000_000),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("100B", 100),
        ("100", 100),
        ("64 KB", 64_000),
    ],
)
def test_parse_size_accepts_decimal_and_binary_units(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["10XB", "10M", "ten", "", -1, True, None])
def test_parse_size_rejects_with_clear_message(bad: object) -> None:
    with pytest.raises(ValueError, match=r"expected a size like 10485760, '10MB' or '512KiB'"):
        parse_size(bad)


def test_parse_size_error_lists_units() -> None:
    with pytest.raises(ValueError, match=r"units: B, KB, MB, GB, KiB, MiB, GiB"):
        parse_size("10M")


@pytest.mark.parametrize("text", ["300s", "5m", "500ms", "1m30s", "1.5s", "30", " 30s "])
def test_duration_schema_pattern_accepts_what_the_parser_accepts(text: str) -> None:
    assert re.match(DURATION_PATTERN, text)


@pytest.mark.parametrize("text", ["5 sec", "1d", "5m3", "s"])
def test_duration_schema_pattern_rejects_what_the_parser_rejects(text: str) -> None:
    assert not re.match(DURATION_PATTERN, text)


@pytest.mark.parametrize("text", ["10MB", "10MiB", "512kib", "100", "64 KB", "100B"])
def test_size_schema_pattern_accepts_what_the_parser_accepts(text: str) -> None:
    assert re.match(SIZE_PATTERN, text)


@pytest.mark.parametrize("text", ["10XB", "10M", "10Mi", "ten"])
def test_size_schema_pattern_rejects_what_the_parser_rejects(text: str) -> None:
    assert not re.match(SIZE_PATTERN, text)
