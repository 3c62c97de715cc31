"""Checks of ``model_metrics_sources`` beyond their shape: Plano's one cost and one latency
source, custom names that are unique and are not ``cost`` / ``latency``, and pools whose
``lowest_metric`` strategy names a metric no source provides."""

from __future__ import annotations

from plano.config.issues import ConfigIssue, did_you_mean
from plano.config.schema import PlanoConfig

__all__ = ["check_metric_sources"]


def check_metric_sources(config: PlanoConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    seen: dict[str, int] = {}
    for i, source in enumerate(config.model_metrics_sources):
        key = source.key
        if source.type == "custom" and key in ("cost", "latency"):
            issues.append(
                ConfigIssue(
                    f"model_metrics_sources[{i}].name",
                    f"{key!r} is a source type; name a custom metric something else",
                )
            )
        elif key in seen:
            what = f"{key} metrics source" if source.type != "custom" else f"metric {key!r}"
            issues.append(
                ConfigIssue(
                    f"model_metrics_sources[{i}]",
                    f"only one {what} is allowed (first at model_metrics_sources[{seen[key]}])",
                )
            )
        seen.setdefault(key, i)
    custom = sorted(s.key for s in config.model_metrics_sources if s.type == "custom")
    for name, pool in config.model_pools.items():
        path = f"model_pools.{name}.metric"
        if pool.strategy == "lowest_metric" and pool.metric is None:
            issues.append(ConfigIssue(path, "strategy lowest_metric needs a metric"))
        elif pool.metric is not None and pool.metric not in custom:
            issues.append(
                ConfigIssue(
                    path,
                    f"{pool.metric!r} is not a custom model_metrics_sources name"
                    f"{did_you_mean(pool.metric, custom)}",
                )
            )
    return issues
