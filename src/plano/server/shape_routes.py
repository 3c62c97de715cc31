"""Endpoints of the client shapes besides their main POST: Anthropic's token counting and the
stored-response endpoints of the Responses API. Mounted through the Gateway's ``extra_routes``;
errors are rendered in the endpoint's own shape."""

from __future__ import annotations

from aiohttp import web

from plano.accounting.tokens import TokenCounter
from plano.errors import NotFound, PlanoError
from plano.server.admin import json_response
from plano.server.body import BodyReader, parse_body
from plano.server.edge import error_response
from plano.state.store import ResponseStore
from plano.wire.shapes import SHAPES

__all__ = ["count_tokens_routes", "responses_routes"]


def count_tokens_routes(
    counter: TokenCounter, reader: BodyReader | None = None
) -> list[web.RouteDef]:
    """``POST /v1/messages/count_tokens``: ``{"input_tokens": N}`` counted offline (an estimate
    for Claude models: no exact offline tokenizer exists). The body is read and parsed as the
    model endpoints read theirs (size, time and buffer limits; big ones off the loop)."""
    body = reader or BodyReader()
    shape = SHAPES["anthropic_messages"]

    async def count_tokens(request: web.Request) -> web.Response:
        try:
            req = await parse_body(shape, await body.read(request))
        except PlanoError as err:
            return error_response(request.path, err, shape)
        # Counted in a thread: a 9 MB prompt once held every other client for seconds.
        return json_response({"input_tokens": await counter.count_request_async(req, req.model)})

    return [web.post("/v1/messages/count_tokens", count_tokens)]


def responses_routes(store: ResponseStore) -> list[web.RouteDef]:
    """``GET`` and ``DELETE /v1/responses/{id}`` over the response store."""

    def missing(request: web.Request, response_id: str) -> web.Response:
        err = NotFound(f"Response with id '{response_id}' not found.", param="response_id")
        return error_response(request.path, err)

    async def get(request: web.Request) -> web.Response:
        response_id = request.match_info["response_id"]
        record = await store.get(response_id)
        if record is None:
            return missing(request, response_id)
        return json_response(record.response)

    async def delete(request: web.Request) -> web.Response:
        response_id = request.match_info["response_id"]
        if not await store.delete(response_id):
            return missing(request, response_id)
        return json_response({"id": response_id, "object": "response", "deleted": True})

    return [
        web.get("/v1/responses/{response_id}", get),
        web.delete("/v1/responses/{response_id}", delete),
    ]
