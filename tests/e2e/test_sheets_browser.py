"""Printing from the dashboard in a real browser: open the ward's print panel, prepare the
handoff PDF, download it, and read it back."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pypdf import PdfReader

from tests.e2e.test_ward_browser import sign_in

pytestmark = pytest.mark.browser


def test_a_nurse_downloads_the_ward_handoff_pdf(server: str, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    try:
        page.goto(server, wait_until="domcontentloaded")
        page.get_by_label("Username", exact=True).wait_for(timeout=30_000)
        sign_in(page, "nurse")
        page.get_by_role("heading", name="HD IL-2 ward").wait_for(timeout=30_000)
        page.get_by_text("Print handoff sheet (I-PASS) for the whole ward").click()
        page.get_by_text("Letter", exact=True).click()
        page.get_by_role("button", name="Prepare handoff PDF").click()
        download_button = page.get_by_role("button", name="Download handoff PDF")
        download_button.wait_for(timeout=60_000)
        with page.expect_download(timeout=30_000) as info:
            download_button.click()
        download = info.value
        assert download.suggested_filename.startswith("handoff-ward-")
        assert download.suggested_filename.endswith(".pdf")
        with open(download.path(), "rb") as handle:
            reader = PdfReader(io.BytesIO(handle.read()))
        first = reader.pages[0]
        assert (round(float(first.mediabox.width)), round(float(first.mediabox.height))) == (
            612,
            792,
        )
        text = "\n".join(p.extract_text() for p in reader.pages)
        assert "Ward handoff (I-PASS)" in text
        assert "DEMO-003" in text
        # The page kept working after the download (no rerun error).
        assert page.get_by_role("heading", name="HD IL-2 ward").count() == 1
    finally:
        page.close()
