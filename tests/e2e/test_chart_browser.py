"""The patient chart in a real browser: the vital signs drawn first, the flags one tap away and
listed whole (a long message wraps; it is never cut off)."""

from __future__ import annotations

from typing import Any

import pytest

from il2_tox.assess import assess
from il2_tox.services.course_io import list_admissions, load_course_from_db
from il2_tox.store import Database
from tests.e2e.test_ward_browser import SCREENSHOTS, sign_in

pytestmark = pytest.mark.browser

PATIENT = "DEMO-003"  # Demo, Cora: hold advice, capillary leak, several flags


def open_chart(server: str, browser: Any) -> Any:
    """Sign in as the physician and open DEMO-003's chart from the menu and the picker."""
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(server, wait_until="domcontentloaded")
    page.get_by_label("Username", exact=True).wait_for(timeout=30_000)
    sign_in(page, "physician")
    page.get_by_role("link", name="Patient chart").click()
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=30_000)  # bed 1 first
    picker = page.get_by_label("Patient (bed · name, MRN)")
    picker.fill("Cora")
    page.get_by_role("option", name=f"3 · Demo, Cora ({PATIENT})").click()
    page.get_by_text(f"Demo, Cora · bed 3 · {PATIENT}").wait_for(timeout=30_000)
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=30_000)
    return page


def longest_flag_message(database_url: str) -> str:
    db = Database(database_url)
    try:
        (admission,) = [a for a in list_admissions(db) if a.patient_id == PATIENT]
        course = load_course_from_db(db, admission.admission_id)
        return max((f.message for f in assess(course).flags), key=len)
    finally:
        db.dispose()


def test_the_chart_draws_the_vital_sign_panels_with_their_units(server: str, browser: Any) -> None:
    page = open_chart(server, browser)
    try:
        chart = page.locator(".js-plotly-plot").first
        for title in ("Heart rate (/min)", "Blood pressure (mmHg)", "Respiratory rate (/min)"):
            chart.get_by_text(title).wait_for(timeout=10_000)
        assert page.locator(".js-plotly-plot").count() == 1  # the flags timeline waits its turn
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # Tall enough for the whole chart view (the app scrolls inside its own container).
        page.set_viewport_size({"width": 1440, "height": 1900})
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SCREENSHOTS / "patient-chart.png"))
    finally:
        page.close()


def test_the_flags_view_shows_every_message_whole(
    server: str, browser: Any, demo_database: str
) -> None:
    message = longest_flag_message(demo_database)
    assert len(message) > 80  # long enough that a grid column would have cut it
    page = open_chart(server, browser)
    try:
        page.get_by_role("radio", name="Flags").click()  # the View switch
        page.get_by_text("Flags over time").wait_for(timeout=30_000)
        cell = page.get_by_role("cell", name=message, exact=True).first
        cell.wait_for(timeout=30_000)
        assert cell.inner_text() == message
        # Wrapped inside its cell, not clipped: nothing of it lies beyond the cell's box.
        assert cell.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    finally:
        page.close()
