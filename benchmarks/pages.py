"""Benchmark the dashboard in a real browser: how soon each page is ready after navigation.

    .venv/bin/python benchmarks/pages.py [--rounds 10]

Starts the dashboard on a fresh SQLite demo ward and, in the same run, a bare two-page
Streamlit app whose pages hold one line each (the floor any Streamlit page pays), twice: with
Streamlit's defaults, and with its full garbage collection after every run turned off as the
dashboard runs (`runner.postScriptGC`, dashboard/warm.py), the floor under the same setting. Debian
chromium (through Playwright) signs in once, warms every page, then navigates by the sidebar
`rounds` times per page and times click -> ready inside the page: a script clicks the link
and checks at every animation frame whether the page is ready (`performance.now()` at the
click and at the first frame it is), so Playwright's own round trips are not in the figures:
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
from collections.abc import Iterator
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
def streamlit_server(script: Path, env: dict[str, str], *options: str) -> Iterator[str]:
    """Run `streamlit run script [options]` on a free port; yield its URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.address",
         "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false", *options],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


# Click the sidebar link named `link`; resolve with the milliseconds until the first animation
# frame at which `ready` (a JavaScript expression) holds.
TIMED_CLICK = """([link, ready]) => new Promise((resolve, reject) => {
  const holds = new Function("return (" + ready + ");");
  const anchor = [...document.querySelectorAll("[data-testid='stSidebarNav'] a")]
    .find((a) => a.textContent.includes(link));
  if (!anchor) { reject(new Error("no sidebar link " + link)); return; }
  const began = performance.now();
  const check = () => {
    if (holds()) { resolve(performance.now() - began); return; }
    if (performance.now() - began > 30000) {
      reject(new Error(link + " not ready in 30 s"));
      return;
    }
    requestAnimationFrame(check);
  };
  anchor.click();
  requestAnimationFrame(check);
})"""
WARD_READY = (
    "document.body.innerText.includes('patients · updated')"
    " && !!document.querySelector(\"[data-testid='stDataFrame'] canvas\")"
)
CHART_READY = (
    "document.body.innerText.includes('Demo, Ada · bed 1 · DEMO-001')"
    " && !!document.querySelector('.js-plotly-plot .scatterlayer .trace')"
)


def timed_navigation(page: Any, link: str, ready: str) -> float:
    """Click a sidebar link in `page` and return the seconds until `ready` holds there."""
    page.bring_to_front()  # a page in the background gets no animation frames
    elapsed_ms: float = page.evaluate(TIMED_CLICK, [link, ready])
    time.sleep(0.2)  # let the page settle (its last messages, the fragment's first poll)
    return elapsed_ms / 1000


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"{statistics.median(samples):.2f} s (p95 {p95:.2f} s)"


def bare_floor(browser: Any, url: str, rounds: int) -> list[float]:
    """Return the click-to-shown times of the bare app's two pages, `rounds` times each."""
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(url)
    page.get_by_text("bare page a").wait_for(timeout=30_000)
    times = []
    for name, text in [("Page B", "bare page b"), ("Page A", "bare page a")] * rounds:
        times.append(timed_navigation(page, name, f"document.body.innerText.includes('{text}')"))
    page.close()
    return times


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
            streamlit_server(bare, env, "--runner.postScriptGC", "false") as bare_no_gc_url,
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
            page.get_by_text("patients · updated").wait_for(timeout=30_000)
            timed_navigation(page, "Patient chart", CHART_READY)  # warm both pages
            timed_navigation(page, "Ward overview", WARD_READY)
            ward, chart = [], []
            for _ in range(args.rounds):
                chart.append(timed_navigation(page, "Patient chart", CHART_READY))
                ward.append(timed_navigation(page, "Ward overview", WARD_READY))

            floor = bare_floor(browser, bare_url, args.rounds)
            floor_no_gc = bare_floor(browser, bare_no_gc_url, args.rounds)
            browser.close()

    bare_median = statistics.median(floor)
    no_gc_median = statistics.median(floor_no_gc)
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores · Python {platform.python_version()} · "
          f"load average {load:.2f} at the end")  # fmt: skip
    print(f"command: .venv/bin/python benchmarks/pages.py --rounds {args.rounds}")
    print()
    print("| page (warm server, sidebar navigation) | click to ready, median (p95) "
          "| × bare (defaults) | × bare (no post-run GC) |")  # fmt: skip
    print("|---|---|---|---|")
    for name, times in [
        ("ward overview (10 demo patients)", ward),
        ("patient chart (first demo patient)", chart),
        ("bare one-line page, Streamlit's defaults", floor),
        ("bare one-line page, no post-run GC (as the dashboard)", floor_no_gc),
    ]:
        median = statistics.median(times)
        print(f"| {name} | {summary(times)} | {median / bare_median:.2f} "
              f"| {median / no_gc_median:.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
