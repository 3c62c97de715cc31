"""What the injection model sees of a text: normalized words, word pairs and character n-grams.

The training script (``tools/train_injection.py``) hands :func:`features` to scikit-learn as
the vectorizer's analyzer, so the exported vocabulary means exactly what the runtime computes:
one tokenizer for both, nothing to drift. Pure: text in, a list of feature strings out.

Normalization undoes the cheap disguises: compatibility forms (NFKC folds fullwidth
letters and ligatures to ASCII), invisible characters (zero-width spaces, soft
hyphens, bidirectional controls) and case. Each word gives ``w:word``; each pair of adjacent
words ``b:one two``; each word, padded with a space at both ends, its 3- to 5-character
n-grams ``c:...`` (sklearn's ``char_wb``), which catch inflections and leetspeak
(``d1sregard``). Words longer than :data:`MAX_WORD` (hashes, base64, minified code) give one
``c:<long>`` instead of their n-grams: they carry no meaning and would cost the most.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import pairwise

__all__ = ["CHUNK", "MAX_WORD", "chunks", "features", "normalize"]

#: Longest word whose character n-grams are counted.
MAX_WORD = 24
#: Characters scored as one piece (see :func:`chunks`).
CHUNK = 320
_NGRAMS = (3, 4, 5)
_WORD = re.compile(r"\w+")

# Zero-width characters, soft hyphen, bidirectional controls, word joiner, BOM.
_INVISIBLE = dict.fromkeys(
    [
        0x00AD,
        0x180E,
        0xFEFF,
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2070),
    ],
    None,
)


def normalize(text: str) -> str:
    """``text`` as the model reads it: NFKC, without invisible characters, JSON's ``\\n``
    escapes as line breaks (tool results are often JSON), lower case."""
    if "\\" in text:
        text = text.replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"')
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    return text.lower()


@lru_cache(maxsize=16384)
def _grams(word: str) -> tuple[str, ...]:
    """A word's character n-grams (cached: most words of a prompt are common ones)."""
    if len(word) > MAX_WORD:
        return ("c:<long>",)
    padded = f" {word} "
    size = len(padded)
    return tuple(f"c:{padded[i : i + n]}" for n in _NGRAMS for i in range(size - n + 1))


def chunks(text: str, size: int = CHUNK) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, cut at a line break or a space in
    the second half of a piece when there is one. The model was trained on short prompts: an
    injected sentence weighs the same in a 300-character piece as in a whole prompt, while
    in a 20 KB tool result it would be diluted to nothing."""
    if len(text) <= size:
        return [text]
    out: list[str] = []
    start, end = 0, len(text)
    while end - start > size:
        stop = start + size
        cut = text.rfind("\n", start + size // 2, stop)
        if cut < 0:
            cut = text.rfind(" ", start + size // 2, stop)
        if cut < 0:
            cut = stop
        out.append(text[start:cut])
        start = cut
    out.append(text[start:])
    return out


def features(text: str) -> list[str]:
    """Every feature of ``text``, repeated as often as it occurs."""
    words = _WORD.findall(normalize(text))
    out = [f"w:{w}" for w in words]
    out += [f"b:{a} {b}" for a, b in pairwise(words)]
    for w in words:
        out += _grams(w)
    return out
