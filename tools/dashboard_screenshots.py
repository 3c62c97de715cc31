"""Screenshots of the dashboard for docs/dashboard.md, from the browser tests' own scenario:
`plano up` against simulated providers, real traffic through the openai SDK, Debian's
chromium driven by Playwright.

    .venv/bin/python tools/dashboard_screenshots.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the scenario lives with the tests

from tests.e2e.dashboard_scenario import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    chromium_missing,
    send_traffic,
    sign_in,
    sims,
    start_gateway,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--waves", type=int, default=8, help="bursts of traffic")
    parser.add_argument("--gap", type=float, default=4.0, help="seconds between bursts")
    args = parser.parse_args()
    missing = chromium_missing()
    if missing:
        print(missing, file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with sims() as s, tempfile.TemporaryDirectory() as tmp:
        plano, admin = start_gateway(Path(tmp), s)
        try:
            for wave in range(args.waves):  # spread over time, for the charts
                if wave:
                    time.sleep(args.gap)
                send_traffic(plano.url)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for theme in ("light", "dark"):
                    page = browser.new_page(
                        viewport={"width": 1440, "height": 1200}, color_scheme=theme
                    )
                    page.goto(admin + "/dashboard")
                    page.screenshot(path=str(args.out / f"dashboard-login-{theme}.png"))
                    sign_in(page, admin)
                    page.select_option("#window", "300")
                    page.wait_for_timeout(800)
                    page.screenshot(path=str(args.out / f"dashboard-{theme}.png"), full_page=True)
                    # the trace with the most spans (a fallback) shows the most
                    rows = page.locator("#traces-table tbody tr[data-trace-id]")
                    spans = rows.evaluate_all(
                        "rs => rs.map(r => parseInt(r.cells[3].textContent, 10) || 0)"
                    )
                    if spans:
                        rows.nth(spans.index(max(spans))).click()
                        page.wait_for_selector(".wf-bar")
                        page.wait_for_timeout(300)
                        page.screenshot(path=str(args.out / f"dashboard-trace-{theme}.png"))
                    page.close()
                browser.close()
        finally:
            plano.stop()
    for p in sorted(args.out.glob("dashboard*.png")):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
