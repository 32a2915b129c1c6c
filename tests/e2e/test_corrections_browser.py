"""A correction in a real browser: a physician corrects a value on the patient chart with a
reason; the original is shown struck through, with the reason as typed (text, not markup).

Uses DEMO-009, which no other browser test writes to (the demo database is shared).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "il2-demo"
REASON = "repeat reading <b>same arm</b>"


def test_a_physician_corrects_a_value_and_sees_the_original_struck_through(
    server: str, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1800})
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
        trigger = page.get_by_role("button", name="Correct SBP").first
        # As a person does: scroll the button up to mid-screen so the form it opens (a popover
        # drawn below it, outside the page's flow) fits on the screen.
        trigger.evaluate("button => button.scrollIntoView({block: 'center'})")
        trigger.click(timeout=30_000)
        value = page.get_by_label("New value (mmHg)", exact=True)
        value.wait_for(timeout=10_000)
        value.fill("101")
        page.get_by_label("Reason for the correction (required)", exact=True).fill(REASON)
        page.get_by_role("button", name="Save correction").click()
        page.get_by_text("Saved: corrected.").wait_for(timeout=30_000)
        struck = page.locator("del").filter(has_text="SBP")
        struck.first.wait_for(timeout=30_000)
        page.get_by_text(REASON, exact=False).first.wait_for(timeout=10_000)
        assert page.locator("b", has_text="same arm").count() == 0  # shown as text
    finally:
        page.close()
