"""Span values and span attribute keys (the one place they are spelled).

A :class:`Span` is a plain value built after the answer from a request's context and marks
(``tracing_build.py``); the exporter turns batches of them into OTLP protobuf and the recent
trace store into rows. Times are Unix nanoseconds. Attribute values are str, bool, int or
float (OTLP's scalar kinds). Keys follow Plano's names (``llm.*``, ``routing.*``,
``plano.*``) and the OpenTelemetry GenAI semantic conventions (``gen_ai.*``), both emitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

__all__ = [
    "KIND_CLIENT",
    "KIND_INTERNAL",
    "KIND_SERVER",
    "STATUS_ERROR",
    "STATUS_OK",
    "STATUS_UNSET",
    "AttrValue",
    "Attrs",
    "Service",
    "Span",
    "SpanEvent",
]

AttrValue: TypeAlias = str | bool | int | float
Attrs: TypeAlias = dict[str, AttrValue]

# OTLP's SpanKind and Status.code numbers.
KIND_INTERNAL: Final = 1
KIND_SERVER: Final = 2
KIND_CLIENT: Final = 3
STATUS_UNSET: Final = 0
STATUS_OK: Final = 1
STATUS_ERROR: Final = 2


class Service:
    """Plano's service names (each span's ``service.name``)."""

    INBOUND: Final = "plano(inbound)"
    OUTBOUND: Final = "plano(outbound)"
    ORCHESTRATOR: Final = "plano(orchestrator)"
    ROUTING: Final = "plano(routing)"
    FILTER: Final = "plano(filter)"
    AGENT: Final = "plano(agent)"
    LLM: Final = "plano(llm)"
    HANDOFF: Final = "plano(handoff)"
    TOOL: Final = "plano(tool)"


# ---------------------------------------------------------------- attribute keys
SERVICE_OVERRIDE: Final = "service.name.override"
HTTP_METHOD: Final = "http.request.method"
HTTP_STATUS: Final = "http.response.status_code"
URL_PATH: Final = "url.path"
SERVER_ADDRESS: Final = "server.address"
ERROR_TYPE: Final = "error.type"
ERROR_MESSAGE: Final = "error.message"

REQUEST_ID: Final = "plano.request_id"
LISTENER: Final = "plano.listener"
HOP: Final = "plano.hop"
PRINCIPAL: Final = "plano.principal"
PRINCIPAL_KIND: Final = "plano.principal.kind"
USER: Final = "plano.user"
TEAM: Final = "plano.team"
TENANT: Final = "plano.tenant"
SESSION: Final = "plano.session_id"
ROUTE: Final = "plano.route.name"
AGENT_ID: Final = "agent_id"
DEPLOYMENT: Final = "plano.deployment"
ATTEMPT: Final = "plano.attempt"
ATTEMPTS: Final = "plano.attempts"
FALLBACK: Final = "plano.fallback"
OVERHEAD_MS: Final = "plano.overhead_ms"
FILTER_NAME: Final = "plano.filter.id"
FILTER_HOOK: Final = "plano.filter.hook"
DECISION: Final = "plano.decision"

ROUTING_ROUTE: Final = "routing.route"
ROUTING_SELECTED: Final = "routing.selected_model"
ROUTING_PROVIDER: Final = "routing.selected_provider"
ROUTING_CANDIDATES: Final = "routing.attempted"

LLM_MODEL: Final = "llm.model"
LLM_PROVIDER: Final = "llm.provider"
LLM_STREAMING: Final = "llm.is_streaming"
LLM_DURATION: Final = "llm.duration_ms"
LLM_TTFT: Final = "llm.time_to_first_token"
LLM_TEMPERATURE: Final = "llm.temperature"
LLM_TOOLS: Final = "llm.tools"
LLM_PREVIEW: Final = "llm.user_message_preview"
LLM_PROMPT_TOKENS: Final = "llm.usage.prompt_tokens"
LLM_COMPLETION_TOKENS: Final = "llm.usage.completion_tokens"
LLM_TOTAL_TOKENS: Final = "llm.usage.total_tokens"
LLM_CACHED_TOKENS: Final = "llm.usage.cached_input_tokens"
LLM_CACHE_CREATION_TOKENS: Final = "llm.usage.cache_creation_tokens"
LLM_REASONING_TOKENS: Final = "llm.usage.reasoning_tokens"
LLM_COST: Final = "llm.usage.total_cost_usd"

GEN_AI_OPERATION: Final = "gen_ai.operation.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"
GEN_AI_PROVIDER: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_STREAMING: Final = "gen_ai.request.streaming"
GEN_AI_TTFT: Final = "gen_ai.response.time_to_first_token"
GEN_AI_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_CACHE_READ: Final = "gen_ai.usage.cache_read_input_tokens"
GEN_AI_CACHE_WRITE: Final = "gen_ai.usage.cache_creation_input_tokens"
GEN_AI_REASONING: Final = "gen_ai.usage.reasoning_tokens"
GEN_AI_COST: Final = "gen_ai.usage.cost"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"


@dataclass(slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: Attrs = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "time_ns": self.time_ns, "attributes": self.attributes}


@dataclass(slots=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    kind: int
    start_ns: int
    end_ns: int
    status: int = STATUS_UNSET
    status_message: str | None = None
    attributes: Attrs = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)

    @property
    def is_error(self) -> bool:
        return self.status == STATUS_ERROR

    def to_json(self) -> dict[str, Any]:
        """The shape ``GET /plano/v1/traces/{id}`` answers with."""
        return {
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "name": self.name,
            "service": self.service,
            "kind": _KIND_NAMES.get(self.kind, "internal"),
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "status": _STATUS_NAMES.get(self.status, "unset"),
            "status_message": self.status_message,
            "attributes": self.attributes,
            "events": [e.to_json() for e in self.events],
        }


_KIND_NAMES: Final = {KIND_INTERNAL: "internal", KIND_SERVER: "server", KIND_CLIENT: "client"}
_STATUS_NAMES: Final = {STATUS_UNSET: "unset", STATUS_OK: "ok", STATUS_ERROR: "error"}
KIND_BY_NAME: Final = {v: k for k, v in _KIND_NAMES.items()}
STATUS_BY_NAME: Final = {v: k for k, v in _STATUS_NAMES.items()}
