"""The ``filters:`` entries: Plano's remote filters (``type: mcp`` / ``http``) and our own.

Plano's keys (``id``, ``url``, ``type``, ``transport``, ``tool``) keep their meaning. Ours sit
beside them: ``on_error`` (fail open or closed), ``timeout`` and ``forward_auth`` on remote
filters, and filter types that run inside the gateway (``regex_redact``, ``pii``,
``injection_guard``) with their typed ``options``. An entry is one of the models below, chosen
by its ``type`` (Plano's default is ``mcp``), so a bad option is reported with its path
(``filters[1].options.patterns[0].regex``) and the JSON Schema documents every type. A new
filter type is a model here, added to :data:`FilterSpec`, plus a factory in the filter
registry (``plano.filters``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeAlias, Union
from urllib.parse import urlsplit

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from plano.config.sections import ConfigModel
from plano.config.units import Duration
from plano.guard.pii import BUILTIN_KINDS, PiiKind

__all__ = [
    "FILTER_SPECS",
    "FILTER_TYPES",
    "FilterSpec",
    "FilterSpecBase",
    "HttpFilterSpec",
    "InjectionGuardOptions",
    "InjectionGuardSpec",
    "InjectionScope",
    "McpFilterSpec",
    "OnError",
    "PiiOptions",
    "PiiSpec",
    "PresidioOptions",
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

    #: Where the type can run: a request-only type named in output_filters is a config error.
    roles: ClassVar[tuple[str, ...]] = ("input", "output")


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


def _check_placeholder(placeholder: str, field: str, restore: bool) -> None:
    """A placeholder format may use ``{field}`` and ``{n}``; it is written into tool-call
    arguments (JSON strings) too, so it has no quote or backslash."""
    try:
        sample = placeholder.format(**{field: "x"}, n=1)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"placeholder {placeholder!r} may only use {{{field}}} and {{n}} ({exc})"
        ) from None
    if not sample or '"' in sample or "\\" in sample:
        raise ValueError("placeholder must be non-empty, without '\"' or '\\'")
    if restore and "{n}" not in placeholder:
        raise ValueError("with restore: true the placeholder needs {n} to tell values apart")


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
        _check_placeholder(self.placeholder, "name", self.restore)
        names = [p.name for p in self.patterns]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"pattern names must be unique; repeated: {', '.join(doubled)}")
        return self


class RegexRedactSpec(FilterSpecBase):
    """Plano-for-Python's regex redaction, run inside the gateway."""

    type: Literal["regex_redact"] = Field(description="Redact text matching regular expressions.")
    options: RegexRedactOptions = Field(description="Patterns, placeholder, restore.")


class PresidioOptions(ConfigModel):
    model: str = Field(
        default="en_core_web_sm",
        min_length=1,
        description="The spaCy model Presidio's recognizers use (installed separately: "
        "`python -m spacy download en_core_web_sm`).",
    )
    language: str = Field(default="en", min_length=2, description="The text's language code.")
    min_score: float = Field(
        default=0.6, ge=0, le=1, description="Presidio findings scored lower are ignored."
    )


class PiiOptions(ConfigModel):
    kinds: list[PiiKind] | None = Field(
        default=None,
        min_length=1,
        description="What to find (default: every kind the engine finds): email, card, ssn, "
        "phone, iban, ip, secret; with engine: presidio also person and location.",
    )
    action: Literal["redact", "block", "flag"] = Field(
        default="redact",
        description="redact: replace values with placeholders; block: refuse (400) naming "
        "the kinds found, never the values; flag: let it pass, record the kinds.",
    )
    restore: bool = Field(
        default=False,
        description="With action: redact, put the request's values back in the answer "
        "(streams included, across event boundaries).",
    )
    apply_to: list[Literal["request", "response"]] = Field(
        default=["request"],
        min_length=1,
        description="What the entry checks when it is listed in input_filters: the prompt "
        "(messages, system, tool results, tool-call arguments) and/or the answer. As an "
        "output filter it checks answers.",
    )
    placeholder: str = Field(
        default="[{kind} {n}]",
        description="What replaces a value: {kind} is its kind, {n} numbers the distinct "
        "values of that kind within one request.",
    )
    max_match: int = Field(
        default=256,
        ge=16,
        le=65536,
        description="On streamed answers, this much text is held back so a value cut "
        "between two events is still found (longer values, such as private key blocks, "
        "need more).",
    )
    engine: Literal["builtin", "presidio"] = Field(
        default="builtin",
        description="builtin: regular expressions with checksums; presidio: also names and "
        "addresses from Presidio (`pip install plano[presidio]`; prompts only, slower).",
    )
    presidio: PresidioOptions | None = Field(
        default=None, description="Presidio's settings (with engine: presidio)."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_on(cls, data: Any) -> Any:
        # YAML 1.1 reads an unquoted `on:` key as true: name the key we take instead.
        if isinstance(data, dict) and (True in data or "on" in data):
            raise ValueError(
                "say apply_to: [request, response] (YAML reads an unquoted on as true)"
            )
        return data

    @model_validator(mode="after")
    def _consistent(self) -> PiiOptions:
        _check_placeholder(self.placeholder, "kind", self.restore)
        if self.restore and (self.action != "redact" or "request" not in self.apply_to):
            raise ValueError("restore applies to action: redact on the request")
        lists: dict[str, list[str]] = {
            "kinds": list(self.kinds or ()),
            "apply_to": [*self.apply_to],
        }
        for name, values in lists.items():
            doubled = sorted({v for v in values if values.count(v) > 1})
            if doubled:
                raise ValueError(f"{name} must be unique; repeated: {', '.join(doubled)}")
        if self.engine == "builtin":
            beyond = [k for k in self.kinds or () if k not in BUILTIN_KINDS]
            if beyond:
                raise ValueError(f"kinds {', '.join(beyond)} need engine: presidio")
            if self.presidio is not None:
                raise ValueError("presidio settings need engine: presidio")
        return self


class PiiSpec(FilterSpecBase):
    """Plano-for-Python's PII detector, run inside the gateway."""

    type: Literal["pii"] = Field(description="Find PII: redact, block or flag it.")
    options: PiiOptions = Field(
        default_factory=PiiOptions, description="Kinds, action, restore, what to check."
    )


#: Which texts of a request the injection guard scores.
InjectionScope: TypeAlias = Literal["last_user", "user", "tool_results"]


class InjectionGuardOptions(ConfigModel):
    action: Literal["block", "flag", "log"] = Field(
        default="block",
        description="block: refuse the request (400 in the client's API; the message never "
        "quotes the prompt); flag: let it pass with an x-plano-injection header and an audit "
        "label; log: let it pass and log the request id and score (never the text).",
    )
    threshold: float = Field(
        default=0.85,
        gt=0,
        le=1,
        description="Score from which a request counts as an injection (a rule match scores "
        "1.0). Lower catches more and flags more benign prompts: see docs/injection-guard.md.",
    )
    scope: list[InjectionScope] = Field(
        default=["last_user"],
        min_length=1,
        description="What is scored: last_user (the last user message), user (every user "
        "message), tool_results (the tool results since the model's last turn: where "
        "indirect injection arrives).",
    )
    rules_only: bool = Field(
        default=False,
        description="Only the rules (high-precision patterns), not the model: fewer false "
        "positives, far fewer catches.",
    )

    @model_validator(mode="after")
    def _unique_scope(self) -> InjectionGuardOptions:
        doubled = sorted({s for s in self.scope if self.scope.count(s) > 1})
        if doubled:
            raise ValueError(f"scope must be unique; repeated: {', '.join(doubled)}")
        return self


class InjectionGuardSpec(FilterSpecBase):
    """Plano-for-Python's prompt-injection and jailbreak guard, run inside the gateway."""

    roles: ClassVar[tuple[str, ...]] = ("input",)

    type: Literal["injection_guard"] = Field(
        description="Score requests for prompt injection: block, flag or log."
    )
    options: InjectionGuardOptions = Field(
        default_factory=InjectionGuardOptions, description="Action, threshold, scope."
    )


#: The filter types a config may name, in the order ``plano validate`` lists them.
FILTER_TYPES: tuple[str, ...] = ("mcp", "http", "regex_redact", "pii", "injection_guard")
#: Every filter entry model: the registry must have a factory for each.
FILTER_SPECS: tuple[type[FilterSpecBase], ...] = (
    McpFilterSpec,
    HttpFilterSpec,
    RegexRedactSpec,
    PiiSpec,
    InjectionGuardSpec,
)


def _filter_type(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("type", "mcp")  # Plano's default type
        return kind if isinstance(kind, str) else repr(kind)
    # A model already built; anything else fails as "expected a mapping" in the mcp model.
    return str(getattr(value, "type", "mcp"))


if TYPE_CHECKING:
    FilterSpec: TypeAlias = (
        McpFilterSpec | HttpFilterSpec | RegexRedactSpec | PiiSpec | InjectionGuardSpec
    )
else:
    FilterSpec = Annotated[
        Union[  # noqa: UP007 - Tag metadata needs the explicit Union
            Annotated[McpFilterSpec, Tag("mcp")],
            Annotated[HttpFilterSpec, Tag("http")],
            Annotated[RegexRedactSpec, Tag("regex_redact")],
            Annotated[PiiSpec, Tag("pii")],
            Annotated[InjectionGuardSpec, Tag("injection_guard")],
        ],
        Discriminator(_filter_type),
    ]
