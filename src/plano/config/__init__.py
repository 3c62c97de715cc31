"""Configuration: Plano's ``config.yaml`` format, its validation, and loading.

Start-up calls :func:`load_config`; ``plano validate`` calls :func:`check_config_file`, which
reads the file the same way, to print every issue. The runtime reads the returned
:class:`PlanoConfig`.
"""

from plano.config.checks import check_semantics, provider_spec
from plano.config.env import expand_env
from plano.config.issues import ConfigIssue, Severity
from plano.config.loader import (
    check_config,
    check_config_file,
    json_schema,
    load_config,
    parse_yaml,
)
from plano.config.names import ModelNames, config_names
from plano.config.schema import (
    VERSIONS,
    GatewaySettings,
    LegacyListener,
    LegacyListeners,
    Listener,
    ListenerAgent,
    ModelAlias,
    ModelProvider,
    PlanoConfig,
)
from plano.config.units import ByteSize, Duration, parse_duration, parse_size
from plano.config.unsupported import UNSUPPORTED, UNSUPPORTED_MESSAGE, find_unsupported

__all__ = [
    "UNSUPPORTED",
    "UNSUPPORTED_MESSAGE",
    "VERSIONS",
    "ByteSize",
    "ConfigIssue",
    "Duration",
    "GatewaySettings",
    "LegacyListener",
    "LegacyListeners",
    "Listener",
    "ListenerAgent",
    "ModelAlias",
    "ModelNames",
    "ModelProvider",
    "PlanoConfig",
    "Severity",
    "check_config",
    "check_config_file",
    "check_semantics",
    "config_names",
    "expand_env",
    "find_unsupported",
    "json_schema",
    "load_config",
    "parse_duration",
    "parse_size",
    "parse_yaml",
    "provider_spec",
]
