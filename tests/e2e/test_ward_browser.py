"""The ward overview in a real browser: it loads, shows the demo ward, and refreshes itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_the_ward_overview_shows_the_demo_ward(server: str, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(server, wait_until="domcontentloaded")
        page.get_by_role("heading", name="HD IL-2 ward").wait_for(timeout=30_000)
        caption = page.get_by_text("10 patients · updated")
        caption.wait_for(timeout=30_000)
        page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=30_000)
        first_stamp = caption.inner_text()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(1500)  # let the grid paint before the picture
        page.screenshot(path=str(SCREENSHOTS / "ward.png"), full_page=True)
        # The fragment reruns on its own (every 15 s): the stamp changes without a reload.
        page.wait_for_function(
            "(before) => ![...document.querySelectorAll('[data-testid=stCaptionContainer]')]"
            ".some(e => e.innerText === before)",
            arg=first_stamp,
            timeout=40_000,
        )
    finally:
        page.close()
