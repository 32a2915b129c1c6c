"""The dashboard in a real browser: sign-in, then the ward overview, which refreshes itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DEMO_PASSWORD = "il2-demo"  # `python -m il2_tox demo` creates nurse, physician and admin


def sign_in(page: Any, username: str, password: str = DEMO_PASSWORD) -> None:
    """Fill in the sign-in form by its labels and submit it."""
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_wrong_password_keeps_the_visitor_out(server: str, browser: Any) -> None:
    page = browser.new_page()
    try:
        page.goto(server, wait_until="domcontentloaded")
        page.get_by_label("Username", exact=True).wait_for(timeout=30_000)
        sign_in(page, "nurse", "not-the-password")
        page.get_by_text("Unknown username or wrong password.").wait_for(timeout=30_000)
        assert page.get_by_label("Password", exact=True).input_value() == ""
        assert page.get_by_role("heading", name="HD IL-2 ward").count() == 0
    finally:
        page.close()


def test_the_ward_overview_shows_the_demo_ward(server: str, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1920, "height": 1000})
    try:
        page.goto(server, wait_until="domcontentloaded")
        page.get_by_label("Username", exact=True).wait_for(timeout=30_000)
        sign_in(page, "physician")
        page.get_by_role("heading", name="HD IL-2 ward").wait_for(timeout=30_000)
        caption = page.get_by_text("10 patients · updated")
        caption.wait_for(timeout=30_000)
        page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=30_000)
        first_stamp = caption.inner_text()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(1500)  # let the grid paint before the picture
        page.screenshot(path=str(SCREENSHOTS / "ward.png"), full_page=True)
        # The fragment reruns on its own (every 5 s): the stamp changes without a reload.
        page.wait_for_function(
            "(before) => ![...document.querySelectorAll('[data-testid=stCaptionContainer]')]"
            ".some(e => e.innerText === before)",
            arg=first_stamp,
            timeout=40_000,
        )
    finally:
        page.close()


def test_selecting_a_ward_row_opens_that_patients_chart_still_signed_in(
    server: str, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1920, "height": 1000})
    try:
        page.goto(server, wait_until="domcontentloaded")
        page.get_by_label("Username", exact=True).wait_for(timeout=30_000)
        sign_in(page, "physician")
        page.get_by_role("heading", name="HD IL-2 ward").wait_for(timeout=30_000)
        grid = page.locator("[data-testid='stDataFrame']").first
        grid.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        box = grid.bounding_box()
        assert box is not None
        # The first data row sits one row height below the header; its row-marker column
        # (leftmost) selects the row.
        page.mouse.click(box["x"] + 12, box["y"] + 35 + 17)
        page.get_by_role("heading", name="Patient chart").wait_for(timeout=30_000)
        assert "patient=DEMO-" in page.url
        page.get_by_text("Sign out").wait_for(timeout=10_000)
    finally:
        page.close()
