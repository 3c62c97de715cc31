"""The floor: the least an aiohttp gateway can cost. An aiohttp server (uvloop) that forwards
each POST body to one upstream through one pooled aiohttp ``ClientSession`` and relays the
answer (JSON whole, streams chunk by chunk), with nothing else: no parsing, routing, accounting
or logging. Plano's figures minus these are what Plano's own code costs.

Run: ``python -m bench.floor --port 19200 --upstream http://127.0.0.1:19001``.
"""

from __future__ import annotations

import argparse

import aiohttp
from aiohttp import web

__all__ = ["main"]


def build_app(upstream: str) -> web.Application:
    session: dict[str, aiohttp.ClientSession] = {}

    async def start(_app: web.Application) -> None:
        session["s"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
            skip_auto_headers=("User-Agent",),
        )

    async def stop(_app: web.Application) -> None:
        await session["s"].close()

    async def relay(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
        async with session["s"].post(upstream + request.path, data=body, headers=headers) as up:
            ctype = up.headers.get("content-type", "application/json")
            if ctype.startswith("text/event-stream"):
                out = web.StreamResponse(status=up.status, headers={"content-type": ctype})
                await out.prepare(request)
                async for chunk in up.content.iter_any():
                    await out.write(chunk)
                await out.write_eof()
                return out
            data = await up.read()
            return web.Response(body=data, status=up.status, headers={"content-type": ctype})

    app = web.Application()
    app.router.add_post("/{tail:.*}", relay)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:19001")
    a = p.parse_args(argv)
    import uvloop

    uvloop.install()
    web.run_app(
        build_app(a.upstream.rstrip("/")),
        host=a.host,
        port=a.port,
        access_log=None,
        print=None,
        handler_cancellation=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
