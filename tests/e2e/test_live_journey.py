"""The issue's journey: a nurse records a set while a physician has that patient's chart open
in another browser; the new value appears on the physician's chart within 5 s, no reload."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "il2-demo"
NEW_HEART_RATE = "123"  # distinctive: no demo heart rate is exactly 123 at this time

# True once any trace of the first plotly chart holds the value (plotly keeps `data` on the
# graph div).
CHART_HAS_VALUE = """
(value) => [...document.querySelectorAll('.js-plotly-plot')].some(
  (plot) => (plot.data || []).some((trace) => (trace.y || []).some((y) => Number(y) === value))
)
"""


def signed_in_page(browser: Any, server: str, username: str) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.goto(server, wait_until="domcontentloaded")
    page.get_by_label("Username", exact=True).wait_for(timeout=30_000)
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="HD IL-2 ward").wait_for(timeout=30_000)
    return context, page


def test_a_set_saved_by_a_nurse_reaches_the_physicians_open_chart_within_5_s(
    server: str, browser: Any
) -> None:
    doctor_context, doctor = signed_in_page(browser, server, "physician")
    nurse_context, nurse = signed_in_page(browser, server, "nurse")
    try:
        doctor.get_by_role("link", name="Patient chart").click()
        doctor.get_by_text("Demo, Ada · bed 1").first.wait_for(timeout=30_000)
        doctor.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=30_000)
        assert not doctor.evaluate(CHART_HAS_VALUE, int(NEW_HEART_RATE))

        nurse.get_by_role("link", name="Bedside entry").click()
        nurse.get_by_label("Heart rate (/min)", exact=True).wait_for(timeout=30_000)
        nurse.get_by_text("I have checked the name and bed: Demo, Ada, bed 1").click()
        nurse.wait_for_timeout(500)
        nurse.get_by_label("Heart rate (/min)", exact=True).fill(NEW_HEART_RATE)
        nurse.get_by_label("Systolic BP (mmHg)", exact=True).fill("108")
        nurse.get_by_role("button", name="Save set").click()
        nurse.get_by_text("Saved 2 value(s) observed").wait_for(timeout=30_000)

        # From the moment the nurse sees "Saved", the physician's chart has 5 s.
        doctor.wait_for_function(CHART_HAS_VALUE, arg=int(NEW_HEART_RATE), timeout=5_000)
    finally:
        nurse_context.close()
        doctor_context.close()
