"""A coding agent's request, generated (pure): a long system prompt, tool definitions, and
the conversation so far, where each turn is a user request, a tool call reading a file, the
file's text, and an answer with a code block.

The text comes from word lists and a fixed-seed LCG, so it is the same bytes on every run and
machine, and it tokenizes like code (varied identifiers, indentation, punctuation: ~4
characters a token in o200k), not like one repeated character. 60 turns make ~178 KB.
"""

from __future__ import annotations

import orjson

__all__ = ["agent_body", "code_text"]

_NOUNS = (
    "request", "response", "buffer", "session", "deployment", "token", "stream", "chunk",
    "header", "route", "pool", "budget", "ledger", "usage", "model", "provider", "window",
    "event", "payload", "config", "listener", "retry", "timeout", "decoder", "encoder",
    "cursor", "record", "batch", "queue", "worker", "span", "metric", "tenant", "policy",
)  # fmt: skip
_VERBS = (
    "parse", "build", "load", "read", "write", "flush", "count", "resolve", "merge", "split",
    "encode", "decode", "validate", "route", "settle", "open", "close", "drain", "collect",
    "render", "check", "apply", "select", "refresh", "estimate", "forward", "reserve",
)  # fmt: skip
_ADJS = (
    "cached", "pending", "raw", "total", "last", "next", "max", "min", "first", "upstream",
    "client", "local", "stale", "partial", "default", "known", "spare", "open",
)  # fmt: skip
_TYPES = (
    "str", "int", "bytes", "float", "bool", "dict[str, Any]", "list[str]", "Mapping[str, str]",
    "Sequence[int]", "tuple[int, int]", "Path", "Decimal",
)  # fmt: skip
_KINDS = ("Manager", "Client", "Store", "Router", "Cache", "Tracker", "Pool", "Codec")
_ERRORS = ("ValueError", "KeyError", "TimeoutError", "ConnectionError", "RuntimeError")
_PROBLEMS = (
    "returns None when the {n} is empty",
    "raises {e} on a {a} {n}",
    "is slow when the {n} has thousands of entries",
    "ignores the {a} {n} after a retry",
    "double-counts the {n} when the {n2} is cancelled",
    "leaks a {n2} if the {n} times out",
)


class _Lcg:
    """A fixed 64-bit LCG: the same sequence on every Python version (unlike ``random``)."""

    def __init__(self, seed: int) -> None:
        self.x = seed & 0xFFFFFFFFFFFFFFFF

    def int(self, n: int) -> int:
        self.x = (self.x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        return (self.x >> 33) % n

    def pick(self, items: tuple[str, ...]) -> str:
        return items[self.int(len(items))]


def _function(r: _Lcg) -> list[str]:
    """One Python method, as lines (a few shapes, varied names and literals)."""
    verb, noun, noun2, adj = r.pick(_VERBS), r.pick(_NOUNS), r.pick(_NOUNS), r.pick(_ADJS)
    arg, arg2, ret = r.pick(_NOUNS), f"{r.pick(_ADJS)}_{r.pick(_NOUNS)}s", r.pick(_TYPES)
    var, num = f"{adj}_{noun2}", r.int(4096)
    lines = [
        f"    def {verb}_{noun}(self, {arg}: {r.pick(_TYPES)}, {arg2}: {r.pick(_TYPES)} | None "
        f"= None) -> {ret}:",
        f'        """{verb.capitalize()} the {noun} of ``{arg}`` and return the {adj} {noun2}."""',
    ]
    shape = r.int(3)
    if shape == 0:
        lines += [
            f"        if {arg} is None:",
            f'            raise {r.pick(_ERRORS)}(f"no {arg} for {{self.name!r}} ({noun})")',
            f"        {var} = self._{noun2}s.get({arg}, {num})",
            f"        for i, item in enumerate({arg2} or ()):",
            f"            if item.{r.pick(_NOUNS)}_id > {r.int(512)} and not item.{adj}:",
            f"                {var} += len(item.{r.pick(_NOUNS)}) * {r.int(16) + 1}",
            f'                self.log.debug("{verb} %s: %d", item, i)',
            f"        return {var}",
        ]
    elif shape == 1:
        lines += [
            f"        async with self._{r.pick(_NOUNS)}_lock:",
            f"            {var} = await self.{r.pick(_VERBS)}_{noun2}("
            f"{arg}, timeout={num / 100:.2f})",
            f"        if {var} is None or {var}.status >= {400 + r.int(100)}:",
            f"            self.metrics.{verb}_{noun}_failed.inc()",
            f"            return self._{adj}_{noun}",
            f"        self._{adj}_{noun} = {var}",
            f"        return {var}",
        ]
    else:
        lines += [
            f"        {var}: dict[str, int] = {{}}",
            f"        for key, value in sorted(({arg2} or {{}}).items()):",
            "            try:",
            f"                {var}[key] = int(value) // {r.int(63) + 2}",
            f"            except ({r.pick(_ERRORS)}, TypeError) as exc:",
            f'                raise {r.pick(_ERRORS)}(f"bad {noun} {{key}}: {{value!r}}") from exc',
            f"        return {{k: v for k, v in {var}.items() if v > {r.int(100)}}}",
        ]
    return [*lines, ""]


def code_text(n_bytes: int, seed: int = 1) -> str:
    """About ``n_bytes`` (never more; ASCII) of Python source: a class and its methods."""
    r = _Lcg(seed)
    head = f"class {r.pick(_NOUNS).capitalize()}{r.pick(_KINDS)}:"
    lines = [head, f'    name = "{r.pick(_ADJS)}-{r.pick(_NOUNS)}"', ""]
    size = sum(len(x) + 1 for x in lines)
    while size < n_bytes:
        for line in _function(r):
            if size + len(line) + 1 > n_bytes:
                return "\n".join(lines)
            lines.append(line)
            size += len(line) + 1
    return "\n".join(lines)[:n_bytes]  # a tiny size cuts even the class line


_AGENT_SYSTEM = (
    "You are a coding agent working in the user's repository. You can read files, search the "
    "tree, apply patches and run commands with the tools given. Rules: read a file before you "
    "change it; keep patches minimal and in the style of the surrounding code; never invent "
    "APIs; run the tests that cover a change before you say it is done; explain each change "
    "in one or two sentences. Answer with unified diffs or whole functions in fenced code "
    "blocks tagged with their language.\n\nThe repository's conventions:\n"
)
_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": desc,
            "parameters": {
                "type": "object",
                "properties": {p: {"type": t, "description": d} for p, t, d in props},
                "required": [props[0][0]],
            },
        },
    }
    for name, desc, props in (
        (
            "read_file",
            "Read a file of the repository, optionally a range of lines.",
            [("path", "string", "Path from the repository root."),
             ("start_line", "integer", "First line, 1-based."),
             ("end_line", "integer", "Last line, inclusive.")],
        ),
        (
            "apply_patch",
            "Apply a unified diff to the working tree.",
            [("patch", "string", "The diff, with file headers.")],
        ),
        (
            "run",
            "Run a shell command in the repository and return its output.",
            [("command", "string", "The command line."),
             ("timeout_s", "integer", "Seconds before it is stopped.")],
        ),
    )
]  # fmt: skip


def _turn(i: int) -> list[dict[str, object]]:
    """One agent turn: ask, read_file call, the file, an answer with a code block (~2.9 KB)."""
    r = _Lcg(1000 + i)
    mod = f"src/app/{r.pick(_NOUNS)}/{r.pick(_VERBS)}_{r.pick(_NOUNS)}.py"
    func = f"{r.pick(_VERBS)}_{r.pick(_NOUNS)}"
    problem = r.pick(_PROBLEMS).format(
        n=r.pick(_NOUNS), n2=r.pick(_NOUNS), a=r.pick(_ADJS), e=r.pick(_ERRORS)
    )
    start = 1 + r.int(400)
    source = code_text(1080, seed=2000 + i).splitlines()
    numbered = "\n".join(f"{start + k:>6}\t{line}" for k, line in enumerate(source))
    call_id = f"call_{i:03d}{r.int(1 << 30):08x}"
    args = {"path": mod, "start_line": start, "end_line": start + len(source) - 1}
    fix = code_text(800, seed=3000 + i)
    return [
        {
            "role": "user",
            "content": f"In `{mod}`, `{func}` {problem}. Can you find out why and fix it? "
            f"The failing test is `tests/{r.pick(_NOUNS)}/test_{func}.py::test_{r.pick(_ADJS)}"
            f"_{r.pick(_NOUNS)}`; keep the public signature.",
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "read_file", "arguments": orjson.dumps(args).decode()},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": numbered},
        {
            "role": "assistant",
            "content": f"The {r.pick(_ADJS)} `{r.pick(_NOUNS)}` is read before the "
            f"`{r.pick(_NOUNS)}` is checked, so `{func}` {problem}. Here is the corrected "
            f"class:\n\n```python\n{fix}\n```\n\nRun `pytest -q tests/{r.pick(_NOUNS)}` to "
            "confirm; nothing else calls it.",
        },
    ]


def agent_body(
    model: str, stream: bool = False, *, turns: int = 60, min_bytes: int | None = None
) -> bytes:
    """A coding agent's request: system prompt, three tools and ``turns`` turns of real-looking
    code (60 turns: ~178 KB). With ``min_bytes``, as many turns as reach that size."""
    system = _AGENT_SYSTEM + code_text(4000, seed=7)
    messages: list[dict[str, object]] = [{"role": "system", "content": system}]
    size, i = len(system), 0
    while i < turns or (min_bytes is not None and size < min_bytes):
        for m in _turn(i):
            messages.append(m)
            size += len(orjson.dumps(m))
        i += 1
    body: dict[str, object] = {
        "model": model,
        "messages": messages,
        "tools": _TOOLS,
        "max_tokens": 1024,
        "temperature": 0.2,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)
