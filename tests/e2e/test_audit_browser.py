"""In a real browser: an idle session signs itself out (the sidebar's check, no click needed),
keeping values typed into a form that was never submitted (the page presses "Keep as draft"
itself before the timeout); and an admin downloads the audit log as CSV, which the log then
records."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from il2_tox.store import Database
from il2_tox.store.models import AuditEvent
from tests.e2e.conftest import REPO, _free_port, _require_browser, _wait_healthy
from tests.e2e.test_ward_browser import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def idle_server(demo_database: str) -> Iterator[str]:
    """The dashboard with a one-minute idle timeout, on its own port."""
    _require_browser()
    port = _free_port()
    env = {**os.environ, "IL2TOX_DATABASE_URL": demo_database, "IL2TOX_IDLE_MINUTES": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(REPO / "dashboard" / "streamlit_app.py"),
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_an_idle_session_signs_itself_out_without_a_click(idle_server: str, browser: Any) -> None:
    page = browser.new_page()
    try:
        page.goto(idle_server, wait_until="domcontentloaded")
        page.get_by_label("Username", exact=True).wait_for(timeout=30_000)
        sign_in(page, "nurse")
        page.get_by_role("heading", name="HD IL-2 ward").wait_for(timeout=30_000)
        # One minute of nothing, then the sidebar's 15 s check: back to the sign-in form.
        page.get_by_text("You were signed out after 1 minute without activity.").wait_for(
            timeout=180_000
        )
        # Streamlit draws the rerun element by element: the notice can show a moment before
        # the form under it, so wait for each (a timeout here is a failure).
        page.get_by_label("Username", exact=True).wait_for(state="visible", timeout=30_000)
        page.get_by_role("heading", name="HD IL-2 ward").wait_for(state="detached", timeout=30_000)
        assert page.get_by_label("Username", exact=True).is_visible()
        assert page.get_by_role("heading", name="HD IL-2 ward").count() == 0
    finally:
        page.close()


def test_values_typed_but_never_submitted_come_back_after_an_idle_sign_out(
    idle_server: str, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    try:
        page.goto(idle_server, wait_until="domcontentloaded")
        page.get_by_label("Username", exact=True).wait_for(timeout=30_000)
        sign_in(page, "nurse")
        page.get_by_role("link", name="Bedside entry").click()
        page.get_by_role("heading", name="Bedside entry").wait_for(timeout=30_000)
        page.get_by_label("Heart rate (/min)", exact=True).wait_for(timeout=30_000)
        page.get_by_text("I have checked the name and bed: Demo, Ada, bed 1").click()
        page.get_by_text("Check the wristband against").wait_for(state="detached", timeout=30_000)
        # Typed, never submitted: then nobody touches the page.
        page.get_by_label("Heart rate (/min)", exact=True).fill("117")
        page.get_by_label("Systolic BP (mmHg)", exact=True).fill("86")
        # 30 s before the one-minute timeout the page presses "Keep as draft" itself...
        page.get_by_text("Kept as a draft (not saved).").wait_for(timeout=120_000)
        # ...which is not activity: the sign-out still comes.
        page.get_by_text("You were signed out after 1 minute without activity.").wait_for(
            timeout=180_000
        )
        page.get_by_text("What your forms held is kept").wait_for(timeout=30_000)
        page.get_by_label("Username", exact=True).wait_for(state="visible", timeout=30_000)
        sign_in(page, "nurse")
        page.get_by_text("They were not saved: check them, then save.").wait_for(timeout=30_000)
        page.get_by_role("link", name="Bedside entry").click()
        page.get_by_role("heading", name="Bedside entry").wait_for(timeout=30_000)
        heart_rate = page.get_by_label("Heart rate (/min)", exact=True)
        heart_rate.wait_for(timeout=30_000)
        assert heart_rate.input_value() == "117"
        assert page.get_by_label("Systolic BP (mmHg)", exact=True).input_value() == "86"
    finally:
        page.close()


def test_an_admin_downloads_the_audit_log_and_the_download_is_recorded(
    server: str, browser: Any, demo_database: str, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    try:
        page.goto(server, wait_until="domcontentloaded")
        page.get_by_label("Username", exact=True).wait_for(timeout=30_000)
        sign_in(page, "admin")
        page.get_by_role("link", name="Audit log").click()
        page.get_by_role("heading", name="Audit log").wait_for(timeout=30_000)
        page.get_by_role("button", name="Export these entries as CSV").click()
        download_button = page.get_by_role("button", name="Download audit-log.csv")
        download_button.wait_for(timeout=30_000)
        with page.expect_download(timeout=30_000) as download:
            download_button.click()
        saved = tmp_path / "audit-log.csv"
        download.value.save_as(saved)
        header = saved.read_text(encoding="utf-8").splitlines()[0]
        assert header == "id,at,actor,action,entity,entity_id,before,after,reason"
        assert "admin,sign_in,user" in saved.read_text(encoding="utf-8")
    finally:
        page.close()
    db = Database(demo_database)
    try:
        with db.read_session() as session:
            exports = session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "export", AuditEvent.entity == "audit_log"
                )
            ).all()
    finally:
        db.dispose()
    assert [(event.actor, event.after["destination"]) for event in exports] == [
        ("admin", "dashboard")
    ]
