"""A filter server speaking Plano's HTTP filter protocol, for examples/filters/config.yaml.

    python examples/filters/http_filter.py        # listens on 127.0.0.1:9100

``/guard`` is an input filter: it gets the whole request body at ``/guard<api path>``
(``/guard/v1/chat/completions``, ``/guard/v1/messages``, ``/guard/v1/responses``), refuses
requests that mention "forbidden" (a 4xx reaches the client with its status) and returns the
body otherwise. ``/clean`` is an output filter: it gets each answer (JSON) or each stream
event (SSE text) and returns it with "darn" masked.
"""

from __future__ import annotations

import orjson
from aiohttp import web


async def guard(request: web.Request) -> web.Response:
    body = await request.json()
    if "forbidden" in orjson.dumps(body).decode().lower():
        return web.json_response({"error": {"message": "that topic is off limits"}}, status=403)
    return web.json_response(body)


async def clean(request: web.Request) -> web.Response:
    # JSON (an answer) or SSE text (one stream event): a text replacement suits both.
    text = (await request.read()).decode().replace("darn", "d**n")
    return web.Response(text=text, content_type=request.content_type)


def app() -> web.Application:
    a = web.Application()
    a.router.add_post("/guard/{api:.*}", guard)
    a.router.add_post("/clean/{api:.*}", clean)
    return a


if __name__ == "__main__":
    web.run_app(app(), host="127.0.0.1", port=9100)
