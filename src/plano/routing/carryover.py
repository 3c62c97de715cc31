"""What a new router keeps from the one it replaces when the config is reloaded: breaker,
cool-down and latency state, session pins and counters, for the deployments that still exist.

Pure: both routers are built; nothing here reads a clock or does IO. State is carried by
reference, so requests still in flight on the old router report into the same objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from plano.errors import PlanoError
from plano.providers.deployment import Deployment
from plano.routing.catalog import ModelCatalog
from plano.routing.preference import EmbeddingRouteChooser
from plano.routing.smart import SmartRouter

__all__ = ["CarriedOver", "carry_over", "surviving"]


@dataclass(frozen=True, slots=True)
class CarriedOver:
    #: Deployments whose health (breaker, cool-down, latency averages) was kept.
    deployments: tuple[str, ...]
    #: Deployments whose health was dropped (gone, or now a different upstream).
    dropped: tuple[str, ...]
    #: Session pins kept.
    sessions: int


def _identity(dep: Deployment) -> tuple[str, str, str, str]:
    return (dep.provider, dep.model_id, dep.base_url, dep.group)


def surviving(old: ModelCatalog, new: ModelCatalog) -> Callable[[str], bool]:
    """Whether the deployment kept under ``key`` in ``old`` is the same one in ``new``: same
    key, provider, model and base URL (a changed key or header does not make it another
    upstream). A deployment a ``provider/*`` wildcard made for a client's model survives
    when its wildcard does."""
    before = {d.key: _identity(d) for d in old.all_deployments()}
    after = {d.key: _identity(d) for d in new.all_deployments()}

    def same(key: str) -> bool:
        return key in after and after[key] == before.get(key)

    def keep(key: str) -> bool:
        if key in before:
            return same(key)
        try:  # a client-named model under a wildcard
            dep = new.resolve(key)
        except PlanoError:
            return False
        return bool(dep.group) and same(dep.group)

    return keep


def carry_over(old: SmartRouter, new: SmartRouter) -> CarriedOver:
    """Move ``old``'s routing state into ``new`` (built from the reloaded config)."""
    keep = surviving(old.catalog, new.catalog)
    kept = new.health.adopt(old.health, keep)
    carried = set(kept)
    dropped = tuple(name for name in old.health.names() if name not in carried)
    routes = {r.name for r in new.tables.routes}
    sessions = new.affinity.adopt(
        old.affinity,
        lambda pin: keep(pin.deployment) and (pin.route is None or pin.route in routes),
    )
    new.counters = old.counters
    # The embedding model takes ~0.3 s to load: the same routes keep the loaded chooser.
    before, after = old.chooser, new.chooser
    if (
        isinstance(before, EmbeddingRouteChooser)
        and isinstance(after, EmbeddingRouteChooser)
        and before.routes == after.routes
        and before.min_similarity == after.min_similarity
    ):
        new.chooser = before
    return CarriedOver(tuple(kept), dropped, sessions)
