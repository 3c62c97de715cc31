"""The dashboard's scenario, shared by its browser tests and ``tools/dashboard_screenshots.py``:
simulated providers, a `plano up` config with an admin listener, virtual keys, a budget and a
pool that falls back, real traffic through the openai SDK, and a headless Debian chromium
driven by Playwright (never Playwright's own downloaded browsers: they need the internet)."""

from __future__ import annotations

import contextlib
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
from tests.e2e.conftest import Plano, free_port, start_plano

from plano.sim import SimOptions, SimServer

ADMIN_KEY = "adm-dashboard-test-key-0123456789"
KEYS = {
    "support-bot": ("sk-plano-support-0123456789abcdef", {"user": "alice", "team": "support"}),
    "batch-job": ("sk-plano-batch-0123456789abcdef0", {"user": "bob", "team": "data"}),
}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        return f"Debian's chromium is not installed ({CHROMIUM}): apt-get install -y chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install playwright (the dev extra)"
    return None


@contextlib.contextmanager
def sims() -> Iterator[dict[str, SimServer]]:
    with (
        SimServer.in_thread(SimOptions(name="good", tokens_per_second=0)) as good,
        SimServer.in_thread(SimOptions(name="bad", fault="500")) as bad,
        SimServer.in_thread(SimOptions(name="slow", latency_ms=120)) as slow,
    ):
        yield {"good": good, "bad": bad, "slow": slow}


def dashboard_config(s: dict[str, SimServer], admin_port: int) -> dict[str, Any]:
    def entry(model: str, name: str, sim: str) -> dict[str, Any]:
        return {"model": model, "name": name, "access_key": "k", "base_url": s[sim].url}

    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000, "timeout": "30s"}],
        "model_providers": [
            entry("openai/gpt-4o-mini", "primary", "good"),
            entry("openai/gpt-4.1-mini", "flaky", "bad"),
            entry("openai/gpt-4o", "big", "slow"),
            entry("groq/llama-3.3-70b-versatile", "quick", "good"),
        ],
        "model_pools": {"chat": {"strategy": "round_robin", "deployments": ["flaky", "primary"]}},
        "fallback": {"backoff": {"initial": "5ms", "max": "20ms"}},
        "gateway": {"admin_port": admin_port, "admin_key": ADMIN_KEY},
        # every request traced, kept by the gateway for /plano/v1/traces; no collector
        "tracing": {"random_sampling": 100, "otlp_export": False},
        "auth": {
            "keys": [
                {"id": kid, "key": key, "principal": principal}
                for kid, (key, principal) in KEYS.items()
            ]
        },
        "budgets": [
            {"name": "monthly-spend", "scope": "global", "period": "month", "usd": 5},
            {"name": "per-user-daily", "scope": "user", "period": "day", "usd": 1},
        ],
    }


@dataclass
class Traffic:
    """What was sent, to compare with what the page shows."""

    requests: int = 0
    errors: int = 0
    by_model: Counter[str] = field(default_factory=Counter)
    by_user: Counter[str] = field(default_factory=Counter)


def _turns(*texts: str) -> list[dict[str, str]]:
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)
    ]


#: Conversations whose signals are known: a frustrated user, and a satisfied one.
CONVERSATIONS: list[Any] = [
    _turns(
        "Book me a flight to Paris on Friday.",
        "Here are hotels in Paris for Friday.",
        "No, that's not what I asked. I meant a flight, not a hotel.",
        "Here are hotels in Paris for Friday.",
        "This doesn't work!! Get me a real person.",
    ),
    _turns(
        "What is the capital of Australia?",
        "Canberra.",
        "Thank you, that's perfect.",
    ),
]


def send_traffic(url: str) -> Traffic:
    """Requests through the openai SDK: plain, streamed, through a pool with a failing first
    deployment (fallbacks), to a slower model, and a few refused (unknown model)."""
    sent = Traffic()
    clients = {
        kid: openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
        for kid, (key, _principal) in KEYS.items()
    }
    user = {kid: p["user"] for kid, (_key, p) in KEYS.items()}
    msgs: Any = [{"role": "user", "content": "Summarise the quarterly report in three bullets."}]
    plan = [
        ("support-bot", "openai/gpt-4o-mini", False, 6),
        ("support-bot", "openai/gpt-4o-mini", True, 3),
        ("batch-job", "groq/llama-3.3-70b-versatile", False, 4),
        ("batch-job", "openai/gpt-4o", False, 2),
        ("support-bot", "chat", False, 4),
    ]
    for kid, model, stream, n in plan:
        c = clients[kid]
        for _ in range(n):
            if stream:
                chunks = c.chat.completions.create(
                    model=model, messages=msgs, max_tokens=64, stream=True
                )
                for _chunk in chunks:
                    pass
            else:
                c.chat.completions.create(model=model, messages=msgs, max_tokens=64)
            sent.requests += 1
            sent.by_user[user[kid]] += 1
            sent.by_model["openai/gpt-4o-mini" if model == "chat" else model] += 1
    for convo in CONVERSATIONS:  # for the agentic signals
        clients["support-bot"].chat.completions.create(
            model="openai/gpt-4o-mini", messages=convo, max_tokens=32
        )
        sent.requests += 1
        sent.by_user["alice"] += 1
        sent.by_model["openai/gpt-4o-mini"] += 1
    for _ in range(2):
        with contextlib.suppress(openai.APIStatusError):
            clients["batch-job"].chat.completions.create(
                model="openai/no-such-model-here", messages=msgs, max_tokens=16
            )
        sent.requests += 1
        sent.errors += 1
        sent.by_user["bob"] += 1
    return sent


def start_gateway(tmp: Path, s: dict[str, SimServer]) -> tuple[Plano, str]:
    """`plano up` for the scenario; the admin listener's URL."""
    admin_port = free_port()
    p = start_plano(dashboard_config(s, admin_port), tmp)
    return p, f"http://127.0.0.1:{admin_port}"


def sign_in(page: Any, admin_url: str, key: str = ADMIN_KEY) -> None:
    """Open the dashboard and enter the admin key; waits for the first refresh."""
    page.goto(admin_url + "/dashboard")
    page.fill("#admin-key", key)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_selector("[data-kpi=requests]")
