"""Durations and byte sizes as they are written in config files.

Plano writes timeouts as strings (``"300s"``); people also write bare numbers. Both become
``float`` seconds here so nothing downstream parses units again. Sizes accept plain byte counts
or a number with a unit; decimal (``MB``) and binary (``MiB``) units keep their usual meaning
because a silent 5 % difference in a body limit is a bug nobody finds.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, TypeAlias

from pydantic import BeforeValidator, WithJsonSchema

__all__ = [
    "DURATION_PATTERN",
    "SIZE_PATTERN",
    "ByteSize",
    "Duration",
    "parse_duration",
    "parse_size",
]

_DURATION_UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# One or more number+unit pairs, as Go and Envoy write them ("1m30s", "1.5s", "500ms").
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
# A bare number, or number+unit pairs; every repeated group ends in a unit, so editors'
# regex engines cannot backtrack catastrophically on it.
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?|(\d+(\.\d+)?(ms|s|m|h))+)\s*$"

_SIZE_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
SIZE_PATTERN = r"^\s*\d+(\.\d+)?\s*([bB]|[kKmMgG][bB]|[kKmMgG][iI][bB])?\s*$"


def _describe(value: object) -> str:
    return "null" if value is None else repr(value)


def parse_duration(value: object) -> float:
    """Seconds from ``300``, ``1.5``, ``"300s"``, ``"5m"``, ``"500ms"``, ``"1h30m"`` or ``"30"``.

    Raises ``ValueError`` with a message fit for a config error.
    """
    expected = "expected a duration like '300s', '5m', '500ms' or a number of seconds"
    # bool is an int subclass; "timeout: true" is a mistake, not one second.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{expected}, got {_describe(value)}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            seconds = _parse_duration_text(text, expected)
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError(f"{expected}, got {_describe(value)}")
    return seconds


def _parse_duration_text(text: str, expected: str) -> float:
    total = 0.0
    pos = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"{expected}, got {text!r}")
    return total


def parse_size(value: object) -> int:
    """Bytes from ``1048576``, ``"10MB"`` (10**7), ``"512KiB"`` (512 * 1024) or ``"1.5GiB"``.

    Raises ``ValueError`` with a message fit for a config error.
    """
    expected = "expected a size like 10485760, '10MB' or '512KiB'"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{expected}, got {_describe(value)}")
    if isinstance(value, int | float):
        if value < 0 or math.isnan(value) or math.isinf(value):
            raise ValueError(f"{expected}, got {value!r}")
        return int(value)
    match = _SIZE.match(value)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZE_UNITS:
        units = ", ".join(u.upper().replace("I", "i") for u in _SIZE_UNITS if u)
        raise ValueError(f"{expected} (units: {units}), got {value!r}")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


#: Seconds as ``float``; accepts a number or a duration string.
Duration: TypeAlias = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": DURATION_PATTERN},
            ]
        }
    ),
]

#: Bytes as ``int``; accepts a number or a size string.
ByteSize: TypeAlias = Annotated[
    int,
    BeforeValidator(parse_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": SIZE_PATTERN},
            ]
        }
    ),
]
