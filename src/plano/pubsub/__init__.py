"""Publish/subscribe between agents over the hot store's :class:`~plano.store.protocols.Topics`
(at least once, acknowledged, replayable): message envelopes and SSE framing (``envelope``),
who the caller is (``identity``), SSE subscriptions (``stream``) and push delivery to agents
with retries (``push``). The HTTP endpoints are ``plano.server.pubsub_api``; docs/pubsub.md.
"""
