"""A correction in a real browser: a physician corrects a value on the patient chart with a
reason; the original is shown struck through, with the reason as typed (text, not markup).

On a tablet-sized screen (1280×800), with no scrolling done for it: the form opens in a modal
dialog, which the browser keeps inside the screen wherever its button was on the page.

Uses DEMO-009, which no other browser test writes to (the demo database is shared).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "il2-demo"
REASON = "repeat reading <b>same arm</b>"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


def _inside_the_screen(box: dict[str, float] | None) -> bool:
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= VIEWPORT["width"]
        and box["y"] + box["height"] <= VIEWPORT["height"]
    )


def test_a_physician_corrects_a_value_and_sees_the_original_struck_through(
    server: str, browser: Any
) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(server, wait_until="domcontentloaded")
        page.get_by_label("Username", exact=True).wait_for(timeout=30_000)
        page.get_by_label("Username", exact=True).fill("physician")
        page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Patient chart").click()
        page.get_by_role("heading", name="Patient chart").wait_for(timeout=30_000)
        page.get_by_label("Patient (bed · name, MRN)").click(timeout=30_000)
        page.get_by_role("option", name=re.compile("DEMO-009")).click()
        page.get_by_role("heading", name=re.compile("DEMO-009")).wait_for(timeout=30_000)
        page.get_by_text("Correct an entry (wrong value, or entered in error)").click(
            timeout=30_000
        )
        # The last SBP of the interval: its button is low on the page, as a nurse finds it.
        page.get_by_role("button", name="Correct SBP").last.click(timeout=30_000)
        dialog = page.get_by_role("dialog")
        value = dialog.get_by_label("New value (mmHg)", exact=True)
        value.wait_for(timeout=10_000)
        # Every part of the form, down to its buttons, is on the screen without scrolling.
        for part in (
            dialog.get_by_label("New value (mmHg)", exact=True),
            dialog.get_by_label("Observation date", exact=True),
            dialog.get_by_label("Observation time", exact=True),
            dialog.get_by_label("Reason for the correction (required)", exact=True),
            dialog.get_by_role("button", name="Save correction"),
            dialog.get_by_role("button", name="Cancel"),
        ):
            assert _inside_the_screen(part.bounding_box()), part
        value.fill("101")
        dialog.get_by_label("Reason for the correction (required)", exact=True).fill(REASON)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "correction.png"))
        dialog.get_by_role("button", name="Save correction").click()
        dialog.wait_for(state="detached", timeout=30_000)  # the form closes once saved
        page.get_by_text("Saved: corrected.").first.wait_for(timeout=30_000)
        struck = page.locator("del").filter(has_text="SBP")
        struck.first.wait_for(timeout=30_000)
        page.get_by_text(REASON, exact=False).first.wait_for(timeout=10_000)
        assert page.locator("b", has_text="same arm").count() == 0  # shown as text
    finally:
        page.close()
