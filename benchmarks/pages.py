"""Benchmark the dashboard in a real browser: how soon each page is ready after navigation.

    .venv/bin/python benchmarks/pages.py [--rounds 10]

Starts the dashboard on a fresh SQLite demo ward and, in the same run, a bare two-page
Streamlit app whose pages hold one line each (the floor any Streamlit page pays). Debian
chromium (through Playwright) signs in once, warms every page, then navigates by the sidebar
`rounds` times per page and times click -> ready:
  ward overview ready = the grid drawn and the "updated" caption shown;
  patient chart ready = the patient's name shown and the plotly chart's traces drawn (its
                        data layer, not only its empty frame);
  bare page ready     = its one line shown.
Prints a Markdown table for docs/benchmarks.md. Not a test: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port, _wait_healthy  # noqa: E402

BARE_APP = """
import streamlit as st

def a():
    st.write("bare page a")

def b():
    st.write("bare page b")

st.navigation([st.Page(a, title="Page A", default=True), st.Page(b, title="Page B")]).run()
"""


@contextmanager
def streamlit_server(script: Path, env: dict[str, str]) -> Iterator[str]:
    """Run `streamlit run script` on a free port; yield its URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.address",
         "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def timed_navigation(page: Any, link: str, ready: Callable[[], None]) -> float:
    """Click a sidebar link and return the seconds until `ready()` returns."""
    began = time.perf_counter()
    page.get_by_role("link", name=link).click()
    ready()
    return time.perf_counter() - began


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"{statistics.median(samples):.2f} s (p95 {p95:.2f} s)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/ward.db"
        env = {**os.environ, "IL2TOX_DATABASE_URL": url}
        subprocess.run([sys.executable, "-m", "il2_tox", "demo"], cwd=REPO, env=env,
                       check=True, capture_output=True)  # fmt: skip
        bare = Path(folder) / "bare_app.py"
        bare.write_text(BARE_APP, encoding="utf-8")
        with (
            streamlit_server(REPO / "dashboard" / "streamlit_app.py", env) as app_url,
            streamlit_server(bare, env) as bare_url,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(app_url)
            page.get_by_label("Username", exact=True).fill("physician")
            page.get_by_label("Password", exact=True).fill("il2-demo")
            page.get_by_role("button", name="Sign in").click()

            def ward_ready() -> None:
                page.get_by_text("patients · updated").wait_for(timeout=30_000)
                page.locator("[data-testid='stDataFrame'] canvas").first.wait_for(timeout=30_000)

            def chart_ready() -> None:
                page.get_by_role("heading", name="Patient chart").wait_for(timeout=30_000)
                page.get_by_text("Demo, Ada · bed 1 · DEMO-001").wait_for(timeout=30_000)
                page.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for(timeout=30_000)

            ward_ready()
            timed_navigation(page, "Patient chart", chart_ready)  # warm both pages
            timed_navigation(page, "Ward overview", ward_ready)
            ward, chart = [], []
            for _ in range(args.rounds):
                chart.append(timed_navigation(page, "Patient chart", chart_ready))
                ward.append(timed_navigation(page, "Ward overview", ward_ready))

            bare_page = browser.new_page(viewport={"width": 1920, "height": 1080})
            bare_page.goto(bare_url)
            bare_page.get_by_text("bare page a").wait_for(timeout=30_000)
            floor = []

            def shown(text: str) -> Callable[[], None]:
                return lambda: bare_page.get_by_text(text).wait_for()

            for name, text in [("Page B", "bare page b"), ("Page A", "bare page a")] * args.rounds:
                floor.append(timed_navigation(bare_page, name, shown(text)))
            browser.close()

    bare_median = statistics.median(floor)
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores · Python {platform.python_version()} · "
          f"load average {load:.2f} at the end")  # fmt: skip
    print(f"command: .venv/bin/python benchmarks/pages.py --rounds {args.rounds}")
    print()
    print("| page (warm server, sidebar navigation) | click to ready, median (p95) | × bare |")
    print("|---|---|---|")
    print(f"| ward overview (10 demo patients) | {summary(ward)} "
          f"| {statistics.median(ward) / bare_median:.2f} |")  # fmt: skip
    print(f"| patient chart (first demo patient) | {summary(chart)} "
          f"| {statistics.median(chart) / bare_median:.2f} |")  # fmt: skip
    print(f"| bare one-line page | {summary(floor)} | 1.00 |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
