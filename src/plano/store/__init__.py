"""Shared state: narrow protocols (:mod:`plano.store.protocols`) and their backends."""
