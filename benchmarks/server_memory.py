"""Benchmark the dashboard server's memory over many page runs (no full collection after each).

    .venv/bin/python benchmarks/server_memory.py [--navigations 300]

Starts the dashboard on a fresh SQLite demo ward, signs in as the physician in Debian
chromium, then goes chart -> ward `navigations` times (two page runs each, and the pages' own
polls meanwhile), printing the server process's resident memory (VmRSS) every 50, and once more
after 10 s of polls alone. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from pages import CHART_READY, WARD_READY, streamlit_server, timed_navigation  # noqa: E402

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


def resident_mib(pid: int) -> int:
    """Return a process's resident memory in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def server_pid(port: int) -> int:
    """Return the pid of the `streamlit run` listening on `port`."""
    found = subprocess.run(
        ["pgrep", "-f", "--", f"--server.port {port}"], capture_output=True, text=True, check=True
    )
    return int(found.stdout.split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--navigations", type=int, default=300)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "IL2TOX_DATABASE_URL": f"sqlite:///{folder}/ward.db"}
        subprocess.run([sys.executable, "-m", "il2_tox", "demo"], cwd=REPO, env=env,
                       check=True, capture_output=True)  # fmt: skip
        with (
            streamlit_server(REPO / "dashboard" / "streamlit_app.py", env) as url,
            sync_playwright() as playwright,
        ):
            pid = server_pid(int(url.rsplit(":", 1)[1]))
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(url)
            page.get_by_label("Username", exact=True).fill("physician")
            page.get_by_label("Password", exact=True).fill("il2-demo")
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text("patients · updated").wait_for(timeout=30_000)
            print(f"command: .venv/bin/python benchmarks/server_memory.py "
                  f"--navigations {args.navigations}")  # fmt: skip
            print("| chart + ward navigations | server RSS (MiB) |")
            print("|---|---|")
            for n in range(args.navigations + 1):
                if n % 50 == 0:
                    print(f"| {n} | {resident_mib(pid)} |", flush=True)
                if n < args.navigations:
                    timed_navigation(page, "Patient chart", CHART_READY)
                    timed_navigation(page, "Ward overview", WARD_READY)
            time.sleep(10)
            print(f"| {args.navigations}, then 10 s of polls | {resident_mib(pid)} |")
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
