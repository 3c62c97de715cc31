"""The ``filters:`` entries: Plano's remote filters (``type: mcp`` / ``http``) and our own.

Plano's keys (``id``, ``url``, ``type``, ``transport``, ``tool``) keep their meaning. Ours sit
beside them: ``on_error`` (fail open or closed), ``timeout`` and ``forward_auth`` on remote
filters, and filter types that run inside the gateway (``regex_redact``) with their typed
``options``. An entry is one of the models below, chosen by its ``type`` (Plano's default is
``mcp``), so a bad option is reported with its path (``filters[1].options.patterns[0].regex``)
and the JSON Schema documents every type. A new filter type is a model here, added to
:data:`FilterSpec`, plus a factory in the filter registry (``plano.filters``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, Union
from urllib.parse import urlsplit

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from plano.config.sections import ConfigModel
from plano.config.units import Duration

__all__ = [
    "FILTER_SPECS",
    "FILTER_TYPES",
    "FilterSpec",
    "FilterSpecBase",
    "HttpFilterSpec",
    "McpFilterSpec",
    "OnError",
    "RedactPattern",
    "RegexRedactOptions",
    "RegexRedactSpec",
    "RemoteFilterSpec",
]

OnError: TypeAlias = Literal["open", "closed"]
#: The remote filters' default time limit per call.
DEFAULT_FILTER_TIMEOUT = 10.0


class FilterSpecBase(ConfigModel):
    id: str = Field(
        min_length=1,
        description="Filter id, referenced by listeners' input_filters / output_filters; "
        "agents and filters share one id namespace.",
    )
    on_error: OnError | None = Field(
        default=None,
        description="When the filter fails (unreachable, too slow, a broken reply): 'closed' "
        "fails the request, 'open' lets it pass unfiltered. Default: closed as an input "
        "filter, open as an output filter. Plano-for-Python's extension.",
    )


class RemoteFilterSpec(FilterSpecBase):
    url: str = Field(description="URL of the filter server.")
    transport: Literal["streamable-http"] | None = Field(
        default=None, description="MCP transport (the only one is streamable-http)."
    )
    tool: str | None = Field(default=None, description="MCP tool to call (default: the id).")
    timeout: Duration = Field(
        default=DEFAULT_FILTER_TIMEOUT,
        gt=0,
        description="Longest wait for one call to the filter ('10s', '500ms'). "
        "Plano-for-Python's extension.",
    )
    forward_auth: bool = Field(
        default=False,
        description="Send the client's credentials (Authorization, x-api-key, cookies) to "
        "the filter; without it they are withheld. Plano-for-Python's extension.",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        if parts.query or parts.fragment:
            raise ValueError("the filter url may not have a query or a fragment")
        return value.rstrip("/")


class McpFilterSpec(RemoteFilterSpec):
    """Plano's default: a ``tools/call`` over MCP streamable HTTP at ``/mcp`` on the url's host."""

    type: Literal["mcp"] = Field(
        default="mcp", description="mcp: a tools/call of `tool`; http: POST of the body."
    )


class HttpFilterSpec(RemoteFilterSpec):
    """``POST {url}{api path}`` with the JSON body; the reply is the new body."""

    type: Literal["http"] = Field(
        description="mcp: a tools/call of `tool`; http: POST of the body."
    )


class RedactPattern(ConfigModel):
    name: str = Field(min_length=1, description="What the pattern finds; the placeholder's {name}.")
    regex: str = Field(description="Python regular expression of the text to redact.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if compiled.fullmatch(""):
            raise ValueError("the regular expression matches the empty string")
        return value


class RegexRedactOptions(ConfigModel):
    patterns: list[RedactPattern] = Field(
        min_length=1, description="What to redact, tried in order at each position."
    )
    placeholder: str = Field(
        default="[{name} {n}]",
        description="What replaces a match: {name} is the pattern's name, {n} numbers the "
        "distinct values of that name within one request.",
    )
    restore: bool = Field(
        default=False,
        description="As an input filter: put the original values back in the answer "
        "(streams included, across event boundaries).",
    )
    max_match: int = Field(
        default=128,
        ge=1,
        le=65536,
        description="Longest text a pattern matches: as an output filter on a stream, this "
        "much text is held back so a match cut between two events is still found.",
    )

    @model_validator(mode="after")
    def _placeholder_fits(self) -> RegexRedactOptions:
        try:
            sample = self.placeholder.format(name="x", n=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"placeholder {self.placeholder!r} may only use {{name}} and {{n}} ({exc})"
            ) from None
        if not sample or '"' in sample or "\\" in sample:
            # Placeholders are also written into tool-call arguments (JSON strings).
            raise ValueError("placeholder must be non-empty, without '\"' or '\\'")
        if self.restore and "{n}" not in self.placeholder:
            raise ValueError("with restore: true the placeholder needs {n} to tell values apart")
        names = [p.name for p in self.patterns]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"pattern names must be unique; repeated: {', '.join(doubled)}")
        return self


class RegexRedactSpec(FilterSpecBase):
    """Plano-for-Python's regex redaction, run inside the gateway."""

    type: Literal["regex_redact"] = Field(description="Redact text matching regular expressions.")
    options: RegexRedactOptions = Field(description="Patterns, placeholder, restore.")


#: The filter types a config may name, in the order ``plano validate`` lists them.
FILTER_TYPES: tuple[str, ...] = ("mcp", "http", "regex_redact")
#: Every filter entry model: the registry must have a factory for each.
FILTER_SPECS: tuple[type[FilterSpecBase], ...] = (McpFilterSpec, HttpFilterSpec, RegexRedactSpec)


def _filter_type(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("type", "mcp")  # Plano's default type
        return kind if isinstance(kind, str) else repr(kind)
    # A model already built; anything else fails as "expected a mapping" in the mcp model.
    return str(getattr(value, "type", "mcp"))


if TYPE_CHECKING:
    FilterSpec: TypeAlias = McpFilterSpec | HttpFilterSpec | RegexRedactSpec
else:
    FilterSpec = Annotated[
        Union[  # noqa: UP007 - Tag metadata needs the explicit Union
            Annotated[McpFilterSpec, Tag("mcp")],
            Annotated[HttpFilterSpec, Tag("http")],
            Annotated[RegexRedactSpec, Tag("regex_redact")],
        ],
        Discriminator(_filter_type),
    ]
