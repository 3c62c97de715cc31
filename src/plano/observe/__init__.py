"""Observability: metrics (``metrics*``) and tracing; see ``docs/metrics.md``."""
