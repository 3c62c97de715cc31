"""The ``metrics:`` section (Plano-for-Python's key): Prometheus metrics on a listener of
their own, and how workers share them (``docs/metrics.md``)."""

from __future__ import annotations

from pydantic import Field, field_validator

from plano.config.sections import ConfigModel
from plano.config.units import Duration

__all__ = ["MetricsSettings"]


class MetricsSettings(ConfigModel):
    enabled: bool = Field(
        default=True,
        description="Count requests, attempts, tokens, cost and decisions in each process "
        "(what /plano/v1/metrics/summary and the Prometheus endpoint report).",
    )
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of the Prometheus endpoint (e.g. 9464); null: no metrics listener.",
    )
    address: str | None = Field(
        default=None,
        description="Address the metrics listener binds; null: 127.0.0.1 (it has no key: "
        "set 0.0.0.0 or a private address for a scraper on another machine).",
    )
    path: str = Field(default="/metrics", description="Path of the Prometheus exposition.")
    publish_interval: Duration = Field(
        default=1.0,
        gt=0,
        description="With several workers: how often each publishes its counters for the "
        "others' scrapes (the most another worker's part of a scrape may lag).",
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or value.startswith("/plano/") or "{" in value:
            raise ValueError("must start with '/', not be under /plano/, and hold no '{'")
        return value
