"""The upstream families Plano speaks: :data:`CODECS`, keyed by family, built here from one
list of codec instances. Importing a codec module registers nothing; a new family is a
:class:`~plano.providers.codec.Codec` added to :data:`FAMILY_CODECS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from plano.providers.anthropic import AnthropicCodec
from plano.providers.codec import Codec
from plano.providers.gemini import GeminiCodec
from plano.providers.openai_compat import OpenAICodec
from plano.providers.responses import ResponsesCodec

__all__ = ["CODECS", "FAMILY_CODECS", "codec_table"]

#: One codec per upstream family (see ``Family`` in :mod:`plano.providers.table`).
FAMILY_CODECS: Final[tuple[Codec, ...]] = (
    OpenAICodec(),
    AnthropicCodec(),
    GeminiCodec(),
    ResponsesCodec(),
)


def codec_table(codecs: Iterable[Codec]) -> Mapping[str, Codec]:
    """``codecs`` keyed by family, read-only; two codecs for one family are a bug."""
    table: dict[str, Codec] = {}
    for codec in codecs:
        if codec.family in table:
            raise ValueError(f"two codecs for the family {codec.family!r}")
        table[codec.family] = codec
    return MappingProxyType(table)


CODECS: Final[Mapping[str, Codec]] = codec_table(FAMILY_CODECS)
