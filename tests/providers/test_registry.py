"""plano.providers.registry: one codec per family, built from a list, nothing by import."""

from __future__ import annotations

import subprocess
import sys
from typing import get_args

import pytest

from plano.providers import openai_compat
from plano.providers.registry import CODECS, FAMILY_CODECS, codec_table
from plano.providers.table import Family


def test_openai_codec_is_registered() -> None:
    assert isinstance(CODECS["openai"], openai_compat.OpenAICodec)


def test_every_family_has_exactly_its_codec() -> None:
    assert set(CODECS) == set(get_args(Family))
    assert all(CODECS[c.family] is c for c in FAMILY_CODECS)


def test_the_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        CODECS["openai"] = CODECS["gemini"]  # type: ignore[index]


def test_two_codecs_for_one_family_are_refused() -> None:
    with pytest.raises(ValueError, match="'openai'"):
        codec_table([openai_compat.OpenAICodec(), openai_compat.OpenAICodec()])


def test_importing_a_codec_module_registers_nothing() -> None:
    code = (
        "import sys; import plano.providers.openai_compat, plano.providers.anthropic; "
        "print('plano.providers.registry' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
