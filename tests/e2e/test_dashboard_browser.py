"""The dashboard in a real headless browser: Debian's chromium driven by Playwright, against
`plano up` with simulated providers and real openai-SDK traffic. The page signs in with the
admin key, its charts and figures match the traffic, it follows new traffic live, a trace
opens, agentic signals show, nothing is logged to the console, and the admin API still
refuses a fetch without the key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from tests.e2e.dashboard_scenario import (
    ADMIN_KEY,
    CHROMIUM,
    CHROMIUM_ARGS,
    KEYS,
    Traffic,
    chromium_missing,
    send_traffic,
    sign_in,
    sims,
    start_gateway,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing())),
]

Page = Any  # playwright.sync_api.Page (an optional dependency)


class Site:
    def __init__(self, admin: str, model_url: str, traffic: Traffic, browser: Any) -> None:
        self.admin = admin
        self.model_url = model_url
        self.traffic = traffic
        self.browser = browser
        self.features: list[str] = []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from playwright.sync_api import sync_playwright

    with sims() as s:
        plano, admin = start_gateway(tmp_path_factory.mktemp("dashboard"), s)
        try:
            traffic = send_traffic(plano.url)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                yield Site(admin, plano.url, traffic, browser)
                browser.close()
        finally:
            assert plano.stop() == 0, plano.output()


@pytest.fixture
def page(site: Site) -> Iterator[tuple[Page, list[str]]]:
    """A fresh tab (its own sessionStorage) and the console errors it logs."""
    context = site.browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    yield tab, errors
    context.close()


def until(tab: Page, js: str, timeout: float = 30) -> None:
    """Poll ``js`` in the page until true (``wait_for_function`` evaluates strings with
    ``eval``, which the page's CSP refuses)."""
    end = time.monotonic() + timeout
    while not tab.evaluate(js):
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {js}")
        tab.wait_for_timeout(100)


def signed_in(site: Site, page: tuple[Page, list[str]]) -> Page:
    tab = page[0]
    sign_in(tab, site.admin)
    until(tab, "document.querySelector('[data-kpi=requests] .value').dataset.value !== ''")
    if not site.features:
        site.features = tab.evaluate(
            """fetch('/plano/v1/dashboard/features',
                 {headers: {'x-plano-admin-key': sessionStorage.getItem('plano.adminKey')}})
               .then(r => r.json()).then(b => b.endpoints)"""
        )
    return tab


def kpi(tab: Page, name: str) -> str:
    return str(tab.get_attribute(f"[data-kpi={name}] .value", "data-value"))


def test_the_page_loads_after_the_admin_key_and_shows_the_traffic(
    site: Site, page: tuple[Page, list[str]]
) -> None:
    tab = signed_in(site, page)
    assert int(kpi(tab, "requests")) == site.traffic.requests
    assert int(kpi(tab, "errors")) == site.traffic.errors
    assert int(kpi(tab, "fallbacks")) >= 1  # the pool's failing first deployment
    assert float(kpi(tab, "cost")) > 0 and int(kpi(tab, "tokens")) > 0
    assert float(kpi(tab, "ttft")) >= 0  # streams were sent
    assert page[1] == []


def test_charts_render_with_data_points_that_add_up(
    site: Site, page: tuple[Page, list[str]]
) -> None:
    tab = signed_in(site, page)
    bars = tab.eval_on_selector_all(
        "#chart-traffic svg rect.bar-rect", "els => els.map(e => Number(e.dataset.value))"
    )
    assert bars and sum(bars) == site.traffic.requests
    points = tab.locator("#chart-latency svg circle").count()
    assert points >= 1
    assert tab.locator("#chart-cost svg rect.bar-rect").count() >= 1
    assert tab.locator("[data-kpi=requests] svg path").count() == 2  # the sparkline
    rows = tab.eval_on_selector_all(
        "#breakdown .barrow", "els => els.map(e => [e.dataset.name, Number(e.dataset.requests)])"
    )
    shown = dict(rows)
    for model, n in site.traffic.by_model.items():
        assert shown[model] == n, (model, shown)
    legend = tab.locator("#legend-cost span").all_inner_texts()
    assert "openai/gpt-4o-mini" in legend
    live = tab.locator("#live-table tbody tr").count()
    assert live == min(25, site.traffic.requests)
    assert tab.locator("#live-table .badge", has_text="2 tries").count() >= 1
    assert tab.locator("#budgets [data-budget=monthly-spend]").count() == 1
    assert "of $5.00" in tab.inner_text("#budgets [data-budget=monthly-spend]")
    assert tab.locator("#routing-table tbody tr").count() == 4
    assert page[1] == []


def test_tokens_and_other_dimensions(site: Site, page: tuple[Page, list[str]]) -> None:
    tab = signed_in(site, page)
    tab.click("[data-metric=tokens]")
    assert tab.inner_text("#cost-title") == "Tokens over time"
    tab.select_option("#dimension", "principal")
    until(
        tab,
        "[...document.querySelectorAll('#breakdown .barrow')]"
        ".some(e => e.dataset.name === 'support-bot')",
    )
    rows = tab.eval_on_selector_all(
        "#breakdown .barrow", "els => els.map(e => [e.dataset.name, Number(e.dataset.requests)])"
    )
    by_key = dict(rows)
    assert by_key["support-bot"] == site.traffic.by_user["alice"]
    assert by_key["batch-job"] == site.traffic.by_user["bob"]
    assert page[1] == []


def test_new_traffic_appears_without_a_reload(site: Site, page: tuple[Page, list[str]]) -> None:
    tab = signed_in(site, page)
    before = int(kpi(tab, "requests"))
    client = openai.OpenAI(
        base_url=site.model_url + "/v1", api_key=KEYS["batch-job"][0], max_retries=0
    )
    client.chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=8
    )
    site.traffic.requests += 1
    site.traffic.by_model["openai/gpt-4o-mini"] += 1
    site.traffic.by_user["bob"] += 1
    until(
        tab,
        f"Number(document.querySelector('[data-kpi=requests] .value').dataset.value) > {before}",
        timeout=15,
    )
    assert tab.locator("#live-table tr.fresh").count() >= 1
    assert page[1] == []


def test_a_trace_opens_as_a_waterfall(site: Site, page: tuple[Page, list[str]]) -> None:
    tab = signed_in(site, page)
    if "/plano/v1/traces" not in site.features:
        pytest.skip("this build serves no /plano/v1/traces (tracing not available)")
    tab.wait_for_selector("#traces-table tbody tr[data-trace-id]")
    tab.click("#traces-table tbody tr[data-trace-id]")
    tab.wait_for_selector("#trace-dialog[open] .wf-bar")
    assert tab.locator(".wf-bar").count() >= 2  # the request and at least one child
    assert tab.locator("#span-detail tr").count() >= 5
    tab.locator(".wf-name").nth(1).click()
    assert tab.locator(".wf-row-selected").count() == 2
    tab.click("#trace-close")
    assert tab.locator("#trace-dialog[open]").count() == 0
    assert page[1] == []


def test_agentic_signals_show(site: Site, page: tuple[Page, list[str]]) -> None:
    tab = signed_in(site, page)
    if "/plano/v1/signals/summary" not in site.features and (
        "/plano/v1/traces" not in site.features
    ):
        pytest.skip("this build serves neither signals nor traces")
    tab.wait_for_selector("#signals [data-quality]", timeout=10_000)
    qualities = dict(
        tab.eval_on_selector_all(
            "#signals [data-quality]", "els => els.map(e => [e.dataset.quality, +e.dataset.value])"
        )
    )
    assert sum(qualities.values()) >= len(site.traffic.by_model) and qualities.get("severe", 0) >= 1
    assert "interaction.disengagement" in tab.inner_text("#signals")
    assert page[1] == []


def test_theme_switch_and_small_screens(site: Site, page: tuple[Page, list[str]]) -> None:
    tab = signed_in(site, page)
    first = tab.evaluate("document.documentElement.dataset.theme")
    tab.click("#theme")
    assert tab.evaluate("document.documentElement.dataset.theme") != first
    assert tab.locator("#chart-traffic svg rect.bar-rect").count() >= 1  # redrawn
    tab.set_viewport_size({"width": 420, "height": 900})
    tab.wait_for_timeout(300)
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= 440  # no sideways scrolling on a phone
    assert page[1] == []


def test_a_wrong_key_is_refused_and_the_key_stays_out_of_urls(
    site: Site, page: tuple[Page, list[str]]
) -> None:
    tab, _errors = page
    urls: list[str] = []
    tab.on("request", lambda r: urls.append(r.url))
    tab.goto(site.admin + "/dashboard")
    tab.fill("#admin-key", "not-the-admin-key")
    tab.click("#login-form button[type=submit]")
    until(tab, "document.getElementById('login-error').textContent !== ''")
    assert "admin key" in tab.inner_text("#login-error")
    assert tab.locator("#app[hidden]").count() == 1
    assert tab.evaluate("sessionStorage.getItem('plano.adminKey')") is None
    sign_in(tab, site.admin)
    assert tab.evaluate("sessionStorage.getItem('plano.adminKey')") == ADMIN_KEY
    assert not [u for u in urls if ADMIN_KEY in u or "not-the-admin-key" in u]
    tab.click("#logout")
    assert tab.evaluate("sessionStorage.getItem('plano.adminKey')") is None
    assert tab.locator("#login:not([hidden])").count() == 1


def test_unauthenticated_fetches_get_401(site: Site, page: tuple[Page, list[str]]) -> None:
    tab = page[0]
    response = tab.goto(site.admin + "/dashboard/")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    statuses = tab.evaluate(
        """Promise.all(['/plano/v1/usage', '/plano/v1/status', '/plano/v1/dashboard/features']
             .map(p => fetch(p).then(r => r.status)))"""
    )
    assert statuses == [401, 401, 401]
    wrong = tab.evaluate(
        "fetch('/plano/v1/usage', {headers: {'x-plano-admin-key': 'nope'}}).then(r => r.status)"
    )
    assert wrong == 401
    # the listener's Host guard (DNS rebinding) covers the page too
    rebound = httpx.get(site.admin + "/dashboard/", headers={"host": "evil.example"})
    assert rebound.status_code == 403


def test_no_inline_script_runs(site: Site, page: tuple[Page, list[str]]) -> None:
    """The CSP is enforced: a script injected into the page as markup does not run."""
    tab, errors = page
    signed_in(site, page)
    tab.evaluate(
        """() => { const d = document.createElement('div');
                   d.innerHTML = '<img src=x onerror="window.pwned=1">';
                   document.body.append(d); }"""
    )
    tab.wait_for_timeout(200)
    assert tab.evaluate("window.pwned") is None
    assert any("Content Security Policy" in e or "Refused" in e for e in errors)
