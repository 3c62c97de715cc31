"""A deployment: one callable model at one provider with one key, the unit routing picks and
every codec builds a request for; and what a model id may look like.

A model id a client chose reaches upstream URLs (a ``provider/*`` wildcard puts it there) and
every answer echoes it in a header, so it must look like a model id (:func:`check_model_id`)
before anything uses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from plano.errors import InvalidRequest
from plano.providers.table import ProviderSpec

__all__ = [
    "MAX_MODEL_NAME",
    "Deployment",
    "check_model_id",
    "invalid_model",
    "is_model_id",
    "is_model_name",
    "shown_name",
]

MAX_MODEL_NAME = 256
#: What real model ids use: OpenAI fine-tunes ``ft:gpt-4o-mini:org::id``, Bedrock
#: ``anthropic.claude-3-5-sonnet-20241022-v2:0``, ``meta-llama/Llama-3.3-70B-Instruct``, ollama
#: ``llama3.2:latest``, Gemini ``models/gemini-2.0-flash``. No ``?``, ``#``, ``%``, spaces or
#: control characters: they would steer an upstream URL or break a response header.
_MODEL_NAME = re.compile(rf"[A-Za-z0-9._:/@+=\-]{{1,{MAX_MODEL_NAME}}}")
_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")
_EMPTY_SEGMENT = re.compile(r"^/|//|/$")
#: How much of a client's model name an error message repeats.
_SHOWN = 100


@dataclass(frozen=True, slots=True)
class Deployment:
    """One callable model at one provider with one key: the unit routing picks."""

    name: str
    provider: str
    model_id: str
    spec: ProviderSpec
    base_url: str
    access_key: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = ()
    passthrough_auth: bool = False
    #: The entry's ``name`` when it has one. Two entries may share a model (two keys, two
    #: regions); routing state is kept per :attr:`key`, which tells them apart.
    label: str = ""
    #: For a deployment a ``provider/*`` wildcard made for a client-chosen model: the
    #: wildcard entry's key. Tables that must stay bounded (metric labels, routing state past
    #: a limit) use it instead of the client's name.
    group: str = ""

    @property
    def key(self) -> str:
        """Unique per ``model_providers`` entry: its ``name``, else its ``model``."""
        return self.label or self.name

    @property
    def metric_key(self) -> str:
        """The deployment as a metric label: fixed by the config (``openai/*`` for any model a
        wildcard serves), never a client's choice."""
        return self.group or self.key

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def price_provider(self) -> str:
        return self.provider

    @property
    def price_model(self) -> str:
        return self.model_id

    def with_model(self, model_id: str) -> Deployment:
        """This deployment for another model of its provider (a wildcard's client-chosen id)."""
        check_model_id(model_id)
        return Deployment(
            f"{self.provider}/{model_id}",
            self.provider,
            model_id,
            self.spec,
            self.base_url,
            self.access_key,
            self.headers,
            self.passthrough_auth,
            group=self.key,
        )


def is_model_name(name: str) -> bool:
    """Whether a client's model name uses only model-id characters, at most 256 of them,
    with no ``.`` or ``..`` path segment."""
    return _MODEL_NAME.fullmatch(name) is not None and _DOT_SEGMENT.search(name) is None


def is_model_id(model_id: str) -> bool:
    """Whether ``model_id`` may go into an upstream URL: a model name without empty path
    segments."""
    return is_model_name(model_id) and _EMPTY_SEGMENT.search(model_id) is None


def check_model_id(model_id: str) -> None:
    """Raise :class:`InvalidRequest` (400, ``invalid_model``) unless ``model_id`` looks like a
    model id: at most 256 of ``A-Z a-z 0-9 . _ - : / @ + =``, no ``.``, ``..`` or empty path
    segments."""
    if not is_model_id(model_id):
        raise invalid_model(model_id)


def shown_name(name: str) -> str:
    """``name`` as an error message or log line may repeat it: quoted, control characters
    escaped, and cut after 100 characters."""
    if len(name) <= _SHOWN:
        return repr(name)
    return f"{name[:_SHOWN]!r}…({len(name)} characters)"


def invalid_model(name: str) -> InvalidRequest:
    """The 400 for a model name that does not look like a model id."""
    return InvalidRequest(
        f"The model name {shown_name(name)} is not valid: model names use letters, digits and "
        f"'._-:/@+=' only, at most {MAX_MODEL_NAME} characters.",
        code="invalid_model",
        param="model",
    )
