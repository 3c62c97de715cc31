"""A fast simulated OpenAI upstream for benchmarks: raw HTTP/1.1 on a uvloop ``Protocol``.

``plano sim`` is a full aiohttp application (~11,000 req/s on both cores of the reference box);
put beside wrk on one core it would be the bottleneck and make every ratio meaningless. This
server answers ``POST .../chat/completions`` from precomputed bytes (~40,000 req/s on one core):
a JSON completion with ``usage``, or an SSE stream of ``chat.completion.chunk`` events (with a
usage chunk when ``stream_options.include_usage`` is set), optionally after ``--latency-ms``
and paced at ``--tps`` tokens per second. Keep-alive, ``Content-Length`` and chunked request
bodies are supported; nothing else is (it is a benchmark fixture, not a server).

Big answers are asked for in the URL, so that a gateway's ``base_url`` can carry them: path
segments or query parameters ``answer_bytes=N`` (N bytes of code-like answer text, at most),
``event_bytes=N`` (text per SSE event, default 1024) and ``usage=off`` (no ``usage`` at all,
not even when ``include_usage`` is asked). For example a provider with ``base_url:
http://127.0.0.1:19001/answer_bytes=20971520/usage=off/v1``. Without them the answers are the
small ones above.

Run: ``python -m bench.upstream --port 19001 [--extra-port 19002] [--latency-ms 20] [--tps 5]
[--tokens 16]``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import orjson

from bench.agent import code_text

__all__ = ["Answers", "BigAnswer", "big_answer", "main", "parse_head"]

_STREAM = re.compile(rb'"stream"\s*:\s*true')
_INCLUDE_USAGE = re.compile(rb'"include_usage"\s*:\s*true')
_MODEL = re.compile(rb'"model"\s*:\s*"([^"]{1,128})"')
_WORDS = ("Simulated", " reply", " from", " the", " bench", " upstream:")


def _search(body: bytes, rx: re.Pattern[bytes]) -> re.Match[bytes] | None:
    """``rx`` in the body; in a body over 64 KiB, only in its first and last 4 KiB (where
    clients put ``model``, ``stream`` and ``stream_options``; the middle is the conversation),
    so that answering a 10 MB prompt costs the upstream no more than a small one."""
    if len(body) <= 65536:
        return rx.search(body)
    return rx.search(body, 0, 4096) or rx.search(body, len(body) - 4096)


def parse_head(head: bytes) -> tuple[bytes, bytes, int, bool, bool]:
    """(method, path, content-length, chunked body, keep-alive) of a request head."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    method = parts[0] if parts else b""
    path = parts[1] if len(parts) > 1 else b"/"
    version = parts[2] if len(parts) > 2 else b"HTTP/1.1"
    length = 0
    chunked = False
    keep_alive = version == b"HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip() or b"0")
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            v = value.strip().lower()
            keep_alive = v != b"close" if keep_alive else v == b"keep-alive"
    return method, path, length, chunked, keep_alive


def _dechunk(buf: bytes | bytearray, start: int) -> tuple[bytes, int] | None:
    """A whole chunked body from ``buf[start:]``: (body, end offset), or None if incomplete."""
    out = bytearray()
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)
            return (bytes(out), end + 4) if end >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        out += buf[pos : pos + size]
        pos += size + 2


@dataclass(frozen=True, slots=True)
class BigAnswer:
    """A large answer asked for in the URL (see the module docstring)."""

    answer_bytes: int
    event_bytes: int = 1024
    usage: bool = True


def big_answer(path: bytes) -> BigAnswer | None:
    """The big-answer options in a request path (segments or query), or None if it has none."""
    raw, _, query = path.partition(b"?")
    items = [seg for seg in raw.split(b"/") if b"=" in seg] + query.split(b"&")
    opts = dict(item.decode("latin-1").partition("=")[::2] for item in items if b"=" in item)
    if "answer_bytes" not in opts and "usage" not in opts:
        return None
    return BigAnswer(
        answer_bytes=int(opts.get("answer_bytes", "0")),
        event_bytes=max(int(opts.get("event_bytes", "1024")), 1),
        usage=opts.get("usage", "on").lower() not in ("off", "0", "false", "no"),
    )


class Answers:
    """Precomputed response bytes per model name (bounded cache)."""

    def __init__(self, tokens: int) -> None:
        self.tokens = max(tokens, 1)
        self._json: dict[bytes, bytes] = {}
        self._sse: dict[tuple[bytes, bool], list[bytes]] = {}
        #: Big answers, a few at most (each is as large as it was asked to be).
        self._big: dict[tuple[bytes, bool, bool, BigAnswer], bytes | list[bytes]] = {}
        self.created = int(time.time())

    def pieces(self, big: BigAnswer | None = None) -> list[str]:
        if big is not None and big.answer_bytes > 0:
            text = code_text(big.answer_bytes, seed=5)
            n = big.event_bytes
            return [text[i : i + n] for i in range(0, len(text), n)]
        return [_WORDS[i] if i < len(_WORDS) else " tok" for i in range(self.tokens)]

    def usage(self, big: BigAnswer | None = None) -> dict[str, object]:
        tokens = big.answer_bytes // 4 if big and big.answer_bytes else self.tokens
        return {
            "prompt_tokens": 12,
            "completion_tokens": tokens,
            "total_tokens": 12 + tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    def json_response(self, model: bytes, big: BigAnswer | None = None) -> bytes:
        hit = self._json.get(model) if big is None else self._big.get((model, False, False, big))
        if hit is not None:
            return cast(bytes, hit)
        answer: dict[str, object] = {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": self.created,
            "model": model.decode(),
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "".join(self.pieces(big)),
                        "refusal": None,
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self.usage(big),
            "system_fingerprint": "fp_bench",
        }
        if big is not None and not big.usage:
            del answer["usage"]
        body = orjson.dumps(answer)
        out = (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        if big is not None:
            self._remember((model, False, False, big), out)
        elif len(self._json) < 64:
            self._json[model] = out
        return out

    def _remember(
        self, key: tuple[bytes, bool, bool, BigAnswer], value: bytes | list[bytes]
    ) -> None:
        if len(self._big) >= 4:
            self._big.pop(next(iter(self._big)))
        self._big[key] = value

    def sse_events(
        self, model: bytes, include_usage: bool, big: BigAnswer | None = None
    ) -> list[bytes]:
        """The stream as HTTP chunks: one per SSE event (the first carries the head)."""
        if big is not None:
            include_usage = include_usage and big.usage
            hit = self._big.get((model, include_usage, True, big))
            if hit is not None:
                return cast(list[bytes], hit)
        else:
            hit = self._sse.get((model, include_usage))
            if hit is not None:
                return hit
        base = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": model.decode(),
            "system_fingerprint": "fp_bench",
        }

        def event(delta: dict[str, object], finish: str | None = None) -> bytes:
            obj = {
                **base,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                obj["usage"] = None
            return b"data: " + orjson.dumps(obj) + b"\n\n"

        events = [event({"role": "assistant", "content": ""})]
        events += [event({"content": p}) for p in self.pieces(big)]
        events.append(event({}, "stop"))
        if include_usage:
            last = {**base, "choices": [], "usage": self.usage(big)}
            events.append(b"data: " + orjson.dumps(last) + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        chunks = [b"%x\r\n%s\r\n" % (len(e), e) for e in events]
        chunks[0] = (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n\r\n" + chunks[0]
        )
        chunks[-1] += b"0\r\n\r\n"
        if big is not None:
            self._remember((model, include_usage, True, big), chunks)
        elif len(self._sse) < 64:
            self._sse[(model, include_usage)] = chunks
        return chunks


_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
)


class UpstreamProtocol(asyncio.Protocol):
    def __init__(self, answers: Answers, latency: float, tps: float) -> None:
        self.answers = answers
        self.latency = latency
        self.interval = 1.0 / tps if tps > 0 else 0.0
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.handles: list[asyncio.TimerHandle] = []
        self.loop = asyncio.get_event_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        for h in self.handles:
            h.cancel()
        self.handles.clear()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        """Answer the next complete request in the buffer, if any (one at a time)."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.transport is None:
            return
        method, path, length, chunked, keep_alive = parse_head(bytes(self.buf[:end]))
        start = end + 4
        if chunked:
            got = _dechunk(self.buf, start)
            if got is None:
                return
            body, stop = got
        else:
            if len(self.buf) < start + length:
                return
            body, stop = bytes(self.buf[start : start + length]), start + length
        del self.buf[:stop]
        if method != b"POST" or not path.split(b"?")[0].endswith(b"/chat/completions"):
            self._send(_NOT_FOUND, keep_alive)
            return
        m = _search(body, _MODEL)
        model = m.group(1) if m else b"gpt-4o-mini"
        big = big_answer(path)
        if _search(body, _STREAM):
            usage = bool(_search(body, _INCLUDE_USAGE))
            chunks = self.answers.sse_events(model, usage, big)
            self._later(self.latency, lambda: self._stream(chunks, 0, keep_alive))
        else:
            out = self.answers.json_response(model, big)
            self._later(self.latency, lambda: self._send(out, keep_alive))

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        self.busy = True
        if delay <= 0:
            fn()
        else:
            self.handles = [self.loop.call_later(delay, fn)]

    def _send(self, data: bytes, keep_alive: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(data)
        self._done(keep_alive)

    def _stream(self, chunks: list[bytes], i: int, keep_alive: bool) -> None:
        if self.transport is None:
            return
        if self.interval <= 0:
            self.transport.write(b"".join(chunks))
            self._done(keep_alive)
            return
        self.transport.write(chunks[i])
        if i + 1 == len(chunks):
            self._done(keep_alive)
        else:
            self.handles = [
                self.loop.call_later(self.interval, lambda: self._stream(chunks, i + 1, keep_alive))
            ]

    def _done(self, keep_alive: bool) -> None:
        self.busy = False
        self.handles = []
        if not keep_alive and self.transport is not None:
            self.transport.close()
            return
        if self.buf:
            self._next()


async def serve(host: str, ports: list[int], latency_ms: float, tps: float, tokens: int) -> None:
    """Serve on every port (one process; several ports stand for several providers)."""
    loop = asyncio.get_running_loop()
    answers = Answers(tokens)
    servers = [
        await loop.create_server(
            lambda: UpstreamProtocol(answers, latency_ms / 1000.0, tps),
            host,
            port,
            backlog=4096,
            reuse_address=True,
        )
        for port in ports
    ]
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"bench upstream on {host} ports {ports}", flush=True)
    await stop.wait()
    for server in servers:
        server.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.upstream", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--extra-port", type=int, action="append", default=[])
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--tps", type=float, default=0.0, help="stream pace (0: all at once)")
    p.add_argument("--tokens", type=int, default=16)
    a = p.parse_args(argv)
    import uvloop

    uvloop.run(serve(a.host, [a.port, *a.extra_port], a.latency_ms, a.tps, a.tokens))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
