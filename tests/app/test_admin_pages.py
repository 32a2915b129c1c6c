"""The admin pages, through AppTest: Accounts (add, disable, unlock, reset, map single sign-on)
and Audit log (filter, free text shown as text, CSV export that is itself audited). Only admins
get in; nurses and physicians are refused by the page itself (signed out: test_sign_in.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboard.auth import SESSION_KEY
from il2_tox.services.users import authenticate, list_users, record_sign_out
from il2_tox.store import Database
from il2_tox.store.models import AuditEvent
from tests.app.conftest import PAGES, PASSWORD, signed_in_app


def open_page(page: str, role: str = "admin") -> AppTest:
    app = signed_in_app(role)
    app.switch_page(f"app_pages/{page}")
    app.run()
    assert not app.exception, app.exception
    return app


def by_label(widgets: Any, label: str) -> Any:
    (found,) = [w for w in widgets if w.label == label]
    return found


def click(app: AppTest, label: str) -> AppTest:
    next(b for b in app.button if b.label == label).click()
    app.run()
    assert not app.exception, app.exception
    return app


def errors(app: AppTest) -> list[str]:
    return [e.value for e in app.error]


def audit_entries(db: Database, action: str) -> list[AuditEvent]:
    with db.read_session() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


# -- who gets in -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "title"), [("accounts.py", "Accounts"), ("audit.py", "Audit log")]
)
def test_an_admin_opens_the_page_from_the_menu(ward_db: Database, page: str, title: str) -> None:
    app = open_page(page)
    assert [t.value for t in app.title] == [title]
    assert len(app.dataframe) == 1


@pytest.mark.parametrize("page", ["accounts.py", "audit.py"])
@pytest.mark.parametrize("role", ["nurse", "physician"])
def test_a_nurse_or_physician_is_refused_by_the_page_itself(
    ward_db: Database, page: str, role: str
) -> None:
    person = signed_in_app(role).session_state[SESSION_KEY]
    app = AppTest.from_file(str(PAGES / page), default_timeout=60)
    app.session_state[SESSION_KEY] = person
    app.run()
    assert not app.exception, app.exception
    assert errors(app) == [f"This page is for admin accounts; you are signed in as {role}."]
    assert len(app.dataframe) == 0
    assert not app.title


# -- accounts ----------------------------------------------------------------------------------


def fill_new_account(app: AppTest, password: str, again: str | None = None) -> None:
    by_label(app.text_input, "Username").input("alan")
    by_label(app.text_input, "Display name").input("Alan T.")
    by_label(app.selectbox, "Role").set_value("physician")
    by_label(app.text_input, "Password").input(password)
    by_label(app.text_input, "Password again").input(again if again is not None else password)


def test_an_admin_adds_an_account_that_can_sign_in(ward_db: Database) -> None:
    app = open_page("accounts.py")
    fill_new_account(app, "enigma-machine-42")
    click(app, "Add account")
    assert [s.value for s in app.success] == ["Added alan (physician)."]
    assert authenticate(ward_db, "alan", "enigma-machine-42") is not None
    assert "alan" in app.dataframe[0].value["Username"].tolist()


def test_a_common_password_is_refused_naming_the_field_and_the_form_keeps_what_was_typed(
    ward_db: Database,
) -> None:
    app = open_page("accounts.py")
    fill_new_account(app, "password123")
    click(app, "Add account")
    assert errors(app) == ["Password: is one of the most common passwords: choose another"]
    assert by_label(app.text_input, "Username").value == "alan"
    assert by_label(app.text_input, "Display name").value == "Alan T."
    assert "alan" not in [u.username for u in list_users(ward_db)]


def test_two_different_password_entries_are_refused(ward_db: Database) -> None:
    app = open_page("accounts.py")
    fill_new_account(app, "enigma-machine-42", "enigma-machine-43")
    click(app, "Add account")
    assert errors(app) == ["Password: the two entries differ"]
    assert "alan" not in [u.username for u in list_users(ward_db)]


def test_an_admin_disables_and_enables_an_account(ward_db: Database) -> None:
    app = open_page("accounts.py")
    by_label(app.selectbox, "Username").set_value("nurse")
    app.run()
    by_label(app.text_input, "Reason (kept in the audit log)").input("on leave")
    click(app, "Disable account")
    assert [s.value for s in app.success] == ["nurse is now disabled."]
    assert authenticate(ward_db, "nurse", PASSWORD) is None
    (event,) = audit_entries(ward_db, "disable")
    assert (event.actor, event.reason) == ("admin", "on leave")
    click(app, "Enable account")
    assert authenticate(ward_db, "nurse", PASSWORD) is not None


def test_an_admin_cannot_disable_their_own_account_from_the_page(ward_db: Database) -> None:
    app = open_page("accounts.py")
    by_label(app.selectbox, "Username").set_value("admin")
    app.run()
    click(app, "Disable account")
    assert errors(app) == ["Username: you cannot disable your own account"]


def test_an_admin_unlocks_a_locked_account(ward_db: Database) -> None:
    for _ in range(5):
        authenticate(ward_db, "nurse", "a wrong guess")
    app = open_page("accounts.py")
    by_label(app.selectbox, "Username").set_value("nurse")
    app.run()
    click(app, "Unlock now")
    assert [s.value for s in app.success] == ["nurse is unlocked."]
    assert authenticate(ward_db, "nurse", PASSWORD) is not None


def test_an_admin_resets_a_password(ward_db: Database) -> None:
    app = open_page("accounts.py")
    by_label(app.selectbox, "Username").set_value("physician")
    app.run()
    by_label(app.text_input, "New password").input("a-fresh-secret-1")
    by_label(app.text_input, "New password again").input("a-fresh-secret-1")
    click(app, "Reset password")
    assert authenticate(ward_db, "physician", "a-fresh-secret-1") is not None
    assert authenticate(ward_db, "physician", PASSWORD) is None


def test_an_admin_maps_a_single_sign_on_identity(ward_db: Database) -> None:
    app = open_page("accounts.py")
    by_label(app.selectbox, "Username").set_value("nurse")
    app.run()
    by_label(app.text_input, "Single sign-on identity").input("Nurse@Example.org")
    click(app, "Save identity")
    assert [s.value for s in app.success] == ["nurse: sign-on identity nurse@example.org."]
    nurse = next(u for u in list_users(ward_db) if u.username == "nurse")
    assert nurse.sso_subject == "nurse@example.org"


# -- audit log -------------------------------------------------------------------------------


def test_the_log_lists_sign_ins_newest_first(ward_db: Database) -> None:
    app = open_page("audit.py")
    table = app.dataframe[0].value
    assert table["Who"].iloc[0] == "admin"
    assert table["Action"].iloc[0] == "sign_in"
    assert {"import", "add", "sign_in"} <= set(table["Action"])


def test_it_filters_by_who_and_shows_free_text_as_text(ward_db: Database) -> None:
    nurse = authenticate(ward_db, "nurse", PASSWORD)
    assert nurse is not None
    record_sign_out(ward_db, nurse, reason="<script>alert(1)</script> **bold**")
    app = open_page("audit.py")
    by_label(app.selectbox, "Who").set_value("nurse")
    click(app, "Apply filters")
    table = app.dataframe[0].value
    assert set(table["Who"]) == {"nurse"}
    assert "<script>alert(1)</script> **bold**" in table["Why"].tolist()


def test_it_finds_free_text_in_before_and_after_values(ward_db: Database) -> None:
    app = open_page("audit.py")
    by_label(app.text_input, "Contains").input("demo-003")
    click(app, "Apply filters")
    table = app.dataframe[0].value
    assert len(table) == 1
    assert "DEMO-003" in table["After"].iloc[0]


def test_a_range_that_ends_before_it_starts_is_refused_naming_the_field(
    ward_db: Database,
) -> None:
    from datetime import date

    app = open_page("audit.py")
    by_label(app.date_input, "From").set_value(date(2026, 11, 20))
    by_label(app.date_input, "To").set_value(date(2026, 11, 18))
    click(app, "Apply filters")
    assert errors(app) == ["To: must be after the start of the range"]


def test_the_csv_export_is_offered_and_recorded_in_the_log(ward_db: Database) -> None:
    app = open_page("audit.py")
    by_label(app.selectbox, "Action").set_value("sign_in")
    click(app, "Apply filters")
    assert audit_entries(ward_db, "export") == []
    click(app, "Export these entries as CSV")
    (event,) = audit_entries(ward_db, "export")
    assert (event.actor, event.entity) == ("admin", "audit_log")
    assert event.after is not None
    assert event.after["filters"] == {"action": "sign_in"}
    assert event.after["rows"] >= 1
    assert any(
        getattr(element, "proto", None) is not None and "audit-log.csv" in str(element.proto)
        for element in app.get("download_button")
    )


def test_the_page_files_exist_for_the_menu() -> None:
    assert Path(PAGES / "accounts.py").is_file()
    assert Path(PAGES / "audit.py").is_file()
