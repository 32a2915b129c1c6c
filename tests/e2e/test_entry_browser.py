"""Bedside entry in a real browser: fields found by their labels (measurement and unit), a
value beyond the hard limits refused at its field with the typed values kept, then saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DEMO_PASSWORD = "il2-demo"


def test_a_nurse_corrects_a_refused_value_and_saves_the_set(server: str, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    try:
        page.goto(server, wait_until="domcontentloaded")
        page.get_by_label("Username", exact=True).wait_for(timeout=30_000)
        page.get_by_label("Username", exact=True).fill("nurse")
        page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Bedside entry").click()
        page.get_by_role("heading", name="Bedside entry").wait_for(timeout=30_000)
        heart_rate = page.get_by_label("Heart rate (/min)", exact=True)
        heart_rate.wait_for(timeout=30_000)
        confirm = page.get_by_text("I have checked the name and bed: Demo, Ada, bed 1")
        # A bedside tap target: the framed row, at least 44 px tall (WCAG 2.5.5), not the box.
        target = page.locator("[class*='st-key-entry-confirm'] label").first.bounding_box()
        assert target is not None and target["height"] >= 44, target
        confirm.click()
        page.wait_for_timeout(500)
        typed = {
            "Heart rate (/min)": "400",
            "Systolic BP (mmHg)": "104",
            "Diastolic BP (mmHg)": "62",
            "Respiratory rate (/min)": "18",
            "SpO2 (%)": "96",
            "Temperature (°C)": "38.4",
            "Urine volume (mL)": "240",
            "Urine period (h)": "8",
            "Weight (kg)": "78.9",
        }
        for label, value in typed.items():
            page.get_by_label(label, exact=True).fill(value)
        page.get_by_role("button", name="Save set").click()
        page.get_by_text("400 /min is outside the possible range for heart rate").first.wait_for(
            timeout=30_000
        )
        for label, value in typed.items():
            assert page.get_by_label(label, exact=True).input_value() == value, label
        page.get_by_role("heading", name="Bedside entry").scroll_into_view_if_needed()
        page.wait_for_timeout(800)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "entry.png"))

        heart_rate.fill("92")
        page.get_by_role("button", name="Save set").click()
        page.get_by_text("Saved 8 value(s) observed").wait_for(timeout=30_000)
        page.get_by_text("Heart rate: 92 /min").wait_for(timeout=10_000)
    finally:
        page.close()
