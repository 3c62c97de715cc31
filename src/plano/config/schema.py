"""The Plano ``config.yaml`` format (as of Plano 0.4.36) plus our own ``gateway:`` section.

These models describe and validate the file; they hold no sockets, clients or state. Validation
also normalises the older spellings Plano still accepts, so the runtime reads one shape only:

* the legacy ``listeners: {ingress_traffic, egress_traffic}`` mapping becomes the list form;
* ``llm_providers`` entries are appended to ``model_providers`` (``llm_providers`` is then empty);
* a model listener on port 12000 (300 s timeout) is added when none is declared;
* ``overrides.upstream_connect_timeout`` fills ``gateway.connect_timeout`` when that is unset;
* ``provider_interface: claude`` (an older Plano spelling) becomes ``anthropic``.

Every duration is stored as ``float`` seconds and every size as ``int`` bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, Union

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from plano.config.agent_run import PubSubSettings
from plano.config.agents import Orchestration
from plano.config.auth import AuthSettings
from plano.config.filters import FilterSpec
from plano.config.limits import Budget, RateLimitRule
from plano.config.metrics import MetricsSettings
from plano.config.policies import LoadedPolicy, PolicyEntry, ToolRule
from plano.config.routing import (
    Fallback,
    ModelCapability,
    ModelPool,
    PreferenceRouter,
    RoutingRule,
)
from plano.config.sections import (
    Agent,
    ConfigModel,
    Endpoint,
    MetricsSource,
    Overrides,
    PromptCaching,
    PromptTarget,
    RateLimit,
    Routing,
    RoutingPreference,
    State,
    StateStorage,
)
from plano.config.tls import ListenerTLS, TLSMaterial, UpstreamTLS
from plano.config.tracing import Tracing
from plano.config.units import ByteSize, Duration

__all__ = [
    "DEFAULT_LISTENER_TIMEOUT",
    "DEFAULT_MODEL_PORT",
    "LISTENER_FORM_TAGS",
    "VERSIONS",
    "GatewaySettings",
    "InlineRoutingPreference",
    "LegacyListener",
    "LegacyListeners",
    "Listener",
    "ListenerAgent",
    "LogLevel",
    "ModelAlias",
    "ModelProvider",
    "PlanoConfig",
    "Version",
]

Version: TypeAlias = Literal["v0.1", "v0.1.0", "0.1-beta", "0.2.0", "v0.3.0", "v0.4.0"]
VERSIONS: tuple[str, ...] = ("v0.1", "v0.1.0", "0.1-beta", "0.2.0", "v0.3.0", "v0.4.0")
LogLevel: TypeAlias = Literal["debug", "info", "warning", "error"]

DEFAULT_MODEL_PORT = 12000
DEFAULT_LISTENER_TIMEOUT = 300.0
# Plano's legacy mapping form fills in these values (its convert_legacy_listeners).
_LEGACY_DEFAULTS: dict[str, tuple[Literal["model", "prompt"], int]] = {
    "egress_traffic": ("model", 12000),
    "ingress_traffic": ("prompt", 10000),
}
_LEGACY_TIMEOUT = 30.0
_INTERFACE_ALIASES = {"claude": "anthropic"}


class ListenerAgent(ConfigModel):
    id: str = Field(description="Id of an entry in the top-level `agents` list.")
    description: str = Field(description="What the agent does; the orchestrator reads it.")
    default: bool = Field(default=False, description="Answers when no agent matches.")
    input_filters: list[str] = Field(
        default_factory=list, description="Filter ids run on requests before this agent."
    )
    timeout: Duration | None = Field(
        default=None, description="Time limit of a call to this agent (ours)."
    )

    filter_chain: list[str] | None = Field(
        default=None, description="Plano's earlier name for input_filters (deprecated)."
    )

    @model_validator(mode="after")
    def _old_filter_chain(self) -> ListenerAgent:
        # Plano now rejects the old name; we accept it (plano validate warns).
        if self.filter_chain and not self.input_filters:
            self.input_filters = list(self.filter_chain)
        return self


class Listener(ConfigModel):
    """One port Plano listens on. Only ``type: model`` listeners are served so far."""

    type: Literal["model", "agent", "prompt"] = Field(
        description="model: OpenAI/Anthropic-compatible model API; agent: agent orchestration; "
        "prompt: prompt targets."
    )
    name: str = Field(description="Listener name, used in logs and metrics.")
    port: int = Field(ge=1, le=65535, description="TCP port to listen on.")
    address: str = Field(
        default="127.0.0.1",
        description="Address to bind. Plano-for-Python defaults to loopback (127.0.0.1); "
        "write 0.0.0.0 to serve other machines.",
    )
    timeout: Duration = Field(
        default=DEFAULT_LISTENER_TIMEOUT,
        description="Request timeout: '300s', '5m', '500ms' or a number of seconds.",
    )
    max_retries: int | None = Field(
        default=None, ge=0, description="Retries of a failed upstream call."
    )
    router: Literal["plano_orchestrator_v1"] | None = Field(
        default=None, description="Router that picks agents on agent listeners."
    )
    input_filters: list[str] = Field(
        default_factory=list,
        description="Ids of `filters` run on each request, in order (each gets the previous "
        "one's output).",
    )
    output_filters: list[str] = Field(
        default_factory=list,
        description="Ids of `filters` run on each answer (the body, or each stream event), "
        "in order.",
    )
    agents: list[ListenerAgent] = Field(
        default_factory=list, description="Agents reachable through an agent listener."
    )
    tls: ListenerTLS | None = Field(
        default=None,
        description="Serve HTTPS: certificate, key and, for mutual TLS, a client CA "
        "(Plano-for-Python's key; docs/deploy.md).",
    )
    orchestration: Orchestration | None = Field(
        default=None,
        description="Agent listeners: chooser, parallel runs, time limits, sessions (ours).",
    )

    _source: str = PrivateAttr(default="")
    _implicit: bool = PrivateAttr(default=False)

    @property
    def source_path(self) -> str:
        """Where the listener was declared (``listeners[0]``, ``listeners.egress_traffic``)."""
        return self._source

    @property
    def implicit(self) -> bool:
        """True for the model listener added because the config declared none."""
        return self._implicit


class LegacyListener(ConfigModel):
    address: str | None = Field(default=None, description="Address to bind (127.0.0.1).")
    port: int | None = Field(default=None, ge=1, le=65535, description="TCP port to listen on.")
    message_format: Literal["openai"] | None = Field(
        default=None, description="Wire format; only openai exists."
    )
    timeout: Duration | None = Field(default=None, description="Request timeout (30s).")


class LegacyListeners(ConfigModel):
    """Plano's older listeners mapping; normalised into the list form."""

    ingress_traffic: LegacyListener | None = Field(
        default=None, description="Prompt listener (default port 10000)."
    )
    egress_traffic: LegacyListener | None = Field(
        default=None, description="Model listener (default port 12000)."
    )


def _from_legacy(name: str, entry: LegacyListener | None) -> Listener:
    kind, port = _LEGACY_DEFAULTS[name]
    given = entry or LegacyListener()
    listener = Listener(
        type=kind,
        name=name,
        port=given.port if given.port is not None else port,
        address=given.address or "127.0.0.1",
        timeout=given.timeout if given.timeout is not None else _LEGACY_TIMEOUT,
    )
    listener._source = f"listeners.{name}"
    listener._implicit = entry is None
    return listener


def _legacy_to_list(legacy: LegacyListeners) -> list[Listener]:
    # Plano always derives a model listener from the legacy form, even without egress_traffic.
    listeners = [_from_legacy("egress_traffic", legacy.egress_traffic)]
    if legacy.ingress_traffic is not None:
        listeners.append(_from_legacy("ingress_traffic", legacy.ingress_traffic))
    return listeners


#: Union tags of the two ``listeners`` forms; they appear in pydantic error locations.
LISTENER_FORM_TAGS = frozenset({"list", "legacy"})


def _listener_form(value: Any) -> str:
    return "legacy" if isinstance(value, dict) else "list"


if TYPE_CHECKING:
    ListenerList: TypeAlias = list[Listener]
else:
    # Validated as either form, always stored as list[Listener].
    ListenerList = Annotated[
        Union[  # noqa: UP007 - Tag metadata needs the explicit Union
            Annotated[list[Listener], Tag("list")],
            Annotated[LegacyListeners, AfterValidator(_legacy_to_list), Tag("legacy")],
        ],
        Discriminator(_listener_form),
    ]


class InlineRoutingPreference(ConfigModel):
    name: str = Field(description="Route name.")
    description: str = Field(description="What conversations this route is for.")


class ModelProvider(ConfigModel):
    """One upstream model (or, with ``provider/*``, every model of a provider)."""

    model: str = Field(
        description="'provider/model_id', e.g. 'openai/gpt-4o'; 'provider/*' is a wildcard."
    )
    name: str | None = Field(default=None, description="Name clients may use instead of model.")
    access_key: str | None = Field(
        default=None, description="API key sent upstream; usually '$ENV_VAR'."
    )
    default: bool = Field(default=False, description="Serve requests that name no known model.")
    base_url: str | None = Field(
        default=None, description="Upstream URL; required for self-hosted and unknown providers."
    )
    passthrough_auth: bool = Field(
        default=False,
        description="Forward the client's Authorization / x-api-key instead of access_key.",
    )
    http_host: str | None = Field(default=None, description="Host header to send upstream.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra headers sent with every upstream request."
    )
    provider_interface: str | None = Field(
        default=None,
        description="API dialect of an unknown provider (openai, gemini, groq, ...); "
        "needs base_url.",
    )
    routing_preferences: list[InlineRoutingPreference] = Field(
        default_factory=list,
        description="Deprecated inline routes; use the top-level routing_preferences.",
    )
    tls: UpstreamTLS | None = Field(
        default=None,
        description="CA bundle and client certificate for an https base_url "
        "(Plano-for-Python's key).",
    )

    _source: str = PrivateAttr(default="")

    @field_validator("provider_interface")
    @classmethod
    def _canonical_interface(cls, value: str | None) -> str | None:
        return _INTERFACE_ALIASES.get(value, value) if value is not None else None

    @property
    def provider(self) -> str:
        """The part of ``model`` before the first '/', else ``provider_interface`` (or '')."""
        if "/" in self.model:
            return self.model.split("/", 1)[0]
        return self.provider_interface or ""

    @property
    def model_id(self) -> str:
        """The model name the provider knows: the part of ``model`` after the first '/'."""
        return self.model.split("/", 1)[1] if "/" in self.model else self.model

    @property
    def is_wildcard(self) -> bool:
        """True for ``provider/*``: any model of that provider."""
        return self.model_id == "*"

    @property
    def effective_name(self) -> str:
        """``name`` if given, else ``model`` (Plano's rule); unique across providers."""
        return self.name if self.name is not None else self.model

    @property
    def source_path(self) -> str:
        """Where the entry was declared (``model_providers[2]``, ``llm_providers[0]``)."""
        return self._source


class ModelAlias(ConfigModel):
    target: str = Field(description="Declared model (or a model under a provider/* wildcard).")


class GatewaySettings(ConfigModel):
    """Plano-for-Python's own settings; not part of Plano's format."""

    max_request_body: ByteSize = Field(
        default=10 * 1024 * 1024,
        description="Largest accepted request body: bytes, or a size like '10MB' / '512KiB'.",
    )
    max_in_flight: int = Field(
        default=2048, ge=1, description="Requests served at once; more get 503."
    )
    connect_timeout: Duration = Field(
        default=5.0,
        gt=0,
        description="Upstream TCP/TLS connect timeout (overrides.upstream_connect_timeout "
        "is used when this is unset).",
    )
    first_byte_timeout: Duration = Field(
        default=60.0, gt=0, description="Longest wait for the upstream's first response byte."
    )
    drain_timeout: Duration = Field(
        default=30.0, ge=0, description="Grace period for in-flight requests on shutdown."
    )
    workers: int = Field(
        default=1,
        ge=1,
        description="Worker processes; above 1, a supervisor process forks them and restarts "
        "any that dies.",
    )
    watch_config: bool = Field(
        default=False,
        description="Reload the config when its file changes (polled every second); "
        "`plano reload` and SIGHUP reload it too.",
    )
    log_level: LogLevel = Field(default="info", description="debug, info, warning or error.")
    admin_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of an admin listener (/plano/v1/*, /healthz, /readyz) on the model "
        "listener's address; null serves the admin endpoints on the model listener.",
    )
    admin_tls: ListenerTLS | None = Field(
        default=None,
        description="HTTPS for the admin listener (admin_port); unset, it uses the first "
        "model listener's tls. A client_ca_file here asks admin clients for a certificate.",
    )
    admin_key: str | None = Field(
        default=None,
        description="Key for the admin endpoints under /plano/ (Authorization: Bearer or "
        "x-plano-admin-key); write it as $VAR. Without it they answer only on a loopback "
        "listener.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names clients may use to reach the gateway (DNS-rebinding guard). "
        "Empty: loopback names on a loopback listener, any name otherwise.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Web origins (https://app.example.com) whose pages may call the gateway; "
        "'*' for any. Empty: no cross-site browser requests.",
    )
    header_timeout: Duration = Field(
        default=10.0, gt=0, description="Longest time a client may take to send a request head."
    )
    body_timeout: Duration = Field(
        default=60.0, gt=0, description="Longest time a client may take to send a request body."
    )
    max_body_buffer: ByteSize = Field(
        default=512 * 1024 * 1024,
        description="Bytes all request bodies being received may hold at once; past it, 503.",
    )
    max_connections_per_client: int = Field(
        default=1024, ge=0, description="Open connections per client address; 0: no limit."
    )

    @field_validator("admin_key")
    @classmethod
    def _sendable_key(cls, value: str | None) -> str | None:
        # It travels in a header: a key no client can send would lock the admin API.
        if value is not None and not (value.isascii() and value.isprintable() and value.strip()):
            raise ValueError("admin_key must be printable ASCII (it is sent in an HTTP header)")
        if value is not None and value != value.strip():
            raise ValueError("admin_key must not start or end with spaces")
        return value


class PlanoConfig(ConfigModel):
    """A whole config file. Build it with :func:`plano.config.check_config`."""

    version: Version = Field(description="Config format version.")
    listeners: ListenerList = Field(
        default_factory=list,
        description="Ports to serve; a list, or Plano's legacy ingress/egress mapping.",
    )
    model_providers: list[ModelProvider] = Field(
        default_factory=list, description="Upstream models clients can reach."
    )
    llm_providers: list[ModelProvider] = Field(
        default_factory=list,
        description="Deprecated name of model_providers; merged into it (empty afterwards).",
    )
    model_aliases: dict[str, ModelAlias] = Field(
        default_factory=dict, description="Alternative names for declared models."
    )
    routing_preferences: list[RoutingPreference] = Field(
        default_factory=list, description="Routes the router model chooses between."
    )
    model_metrics_sources: list[MetricsSource] = Field(
        default_factory=list, description="Cost and latency feeds for selection policies."
    )
    routing: Routing | None = Field(default=None, description="Router session settings.")
    prompt_caching: PromptCaching | None = Field(default=None, description="Prompt-cache handling.")
    agents: list[Agent] = Field(default_factory=list, description="Agent servers.")
    filters: list[FilterSpec] = Field(
        default_factory=list,
        description="Filters listeners run on requests and answers: Plano's remote mcp/http "
        "filters and Plano-for-Python's own types (regex_redact).",
    )
    endpoints: dict[str, Endpoint] = Field(
        default_factory=dict, description="Named upstream endpoints for prompt targets."
    )
    prompt_targets: list[PromptTarget] = Field(
        default_factory=list, description="Function-calling targets (deprecated in Plano)."
    )
    overrides: Overrides | None = Field(default=None, description="Plano tuning knobs.")
    ratelimits: list[RateLimit] = Field(
        default_factory=list,
        description="Plano's input-token rate limits per value of the header the client names "
        "in x-arch-ratelimit-selector (enforced across workers and replicas).",
    )
    budgets: list[Budget] = Field(
        default_factory=list,
        description="Spend limits in dollars and tokens per key, user, team, tenant, session, "
        "agent or globally, per day, month or in total (Plano-for-Python's key).",
    )
    rate_limits: list[RateLimitRule] = Field(
        default_factory=list,
        description="Requests and tokens per second/minute/hour/day per key, user, team, "
        "tenant, session, model or globally (Plano-for-Python's key).",
    )
    state_storage: StateStorage | None = Field(
        default=None, description="Conversation state for /v1/responses."
    )
    state: State = Field(
        default_factory=State, description="Where shared state lives (Plano-for-Python's key)."
    )
    tracing: Tracing | None = Field(default=None, description="OpenTelemetry tracing.")
    metrics: MetricsSettings = Field(
        default_factory=MetricsSettings,
        description="Prometheus metrics and the metrics summary (Plano-for-Python's key; "
        "docs/metrics.md).",
    )
    system_prompt: str | None = Field(default=None, description="Default system prompt.")
    mode: Literal["llm", "prompt"] | None = Field(default=None, description="Plano gateway mode.")
    prompt_guards: dict[str, Any] | None = Field(
        default=None, description="Plano's jailbreak guard settings."
    )
    gateway: GatewaySettings = Field(
        default_factory=GatewaySettings, description="Plano-for-Python's own settings."
    )
    auth: AuthSettings | None = Field(
        default=None,
        description="Virtual keys clients must send (Plano-for-Python's section); without it "
        "the model API is open.",
    )
    model_pools: dict[str, ModelPool] = Field(
        default_factory=dict, description="Names that stand for a pool of deployments."
    )
    routing_rules: list[RoutingRule] = Field(
        default_factory=list, description="Declarative routing rules, evaluated in order."
    )
    model_capabilities: dict[str, ModelCapability] = Field(
        default_factory=dict, description="Context windows and features per model (or glob)."
    )
    fallback: Fallback = Field(
        default_factory=Fallback, description="Retries, fallback models, circuit breaking."
    )
    preference_router: PreferenceRouter = Field(
        default_factory=PreferenceRouter, description="How routing_preferences pick a route."
    )
    policies: list[PolicyEntry] = Field(
        default_factory=list,
        description="Rego policies run on every model request and answer: files, globs or "
        "inline modules (Plano-for-Python's key; docs/policies.md).",
    )
    tool_rules: list[ToolRule] = Field(
        default_factory=list,
        description="Allow/deny lists of tools per key, user, team, tenant, agent or listener, "
        "on offered tools and on tool calls (docs/policies.md).",
    )
    pubsub: PubSubSettings | None = Field(
        default=None,
        description="Topics agents publish and subscribe to: who may do what "
        "(Plano-for-Python's section; docs/pubsub.md).",
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_empty_sections(cls, data: Any) -> Any:
        # "tracing:" with every line below commented out is null; treat it as absent.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    _used_llm_providers: bool = PrivateAttr(default=False)
    #: The policies' text as validated (``plano.config.policy_checks``), read once per load.
    _loaded_policies: tuple[LoadedPolicy, ...] | None = PrivateAttr(default=None)
    #: The TLS contexts built when the config was checked (``plano.config.tls_checks``).
    _tls: TLSMaterial | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _normalise(self) -> PlanoConfig:
        # Recorded before the merge below, which rewrites both provider fields.
        self._used_llm_providers = "llm_providers" in self.model_fields_set
        for index, provider in enumerate(self.model_providers):
            provider._source = f"model_providers[{index}]"
        for index, provider in enumerate(self.llm_providers):
            provider._source = f"llm_providers[{index}]"
        self.model_providers = [*self.model_providers, *self.llm_providers]
        self.llm_providers = []
        for index, listener in enumerate(self.listeners):
            listener._source = listener._source or f"listeners[{index}]"
        if not any(listener.type == "model" for listener in self.listeners):
            implicit = Listener(type="model", name="egress_traffic", port=DEFAULT_MODEL_PORT)
            implicit._implicit = True
            self.listeners = [*self.listeners, implicit]
        connect = self.overrides.upstream_connect_timeout if self.overrides else None
        if connect is not None and "connect_timeout" not in self.gateway.model_fields_set:
            self.gateway.connect_timeout = connect
        return self

    @property
    def used_llm_providers(self) -> bool:
        """Whether the file used the deprecated ``llm_providers`` key."""
        return self._used_llm_providers

    @property
    def loaded_policies(self) -> tuple[LoadedPolicy, ...] | None:
        """The policies read and compiled when the config was checked (``None``: not yet)."""
        return self._loaded_policies

    def attach_policies(self, loaded: tuple[LoadedPolicy, ...]) -> None:
        self._loaded_policies = loaded

    @property
    def tls_material(self) -> TLSMaterial | None:
        """The TLS contexts built when the config was checked (``None``: not yet)."""
        return self._tls

    def attach_tls(self, material: TLSMaterial) -> None:
        self._tls = material

    @property
    def model_listener(self) -> Listener:
        """The listener serving the model API (validation guarantees there is one)."""
        return next(listener for listener in self.listeners if listener.type == "model")
