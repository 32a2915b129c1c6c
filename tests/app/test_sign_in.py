"""Signing in and out through the real form, and the server-side page checks (AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboard.auth import LOCKOUT_HINT, SESSION_KEY
from il2_tox.services.users import SignedIn, SystemActor, set_active
from il2_tox.store import Database
from il2_tox.store.models import AuditEvent
from tests.app.conftest import APP, PAGES, PASSWORD, sign_in, signed_in_app


def start() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    return app


def actions(db: Database) -> list[tuple[str, str]]:
    with db.read_session() as session:
        return [
            (event.actor, event.action)
            for event in session.scalars(
                select(AuditEvent).where(AuditEvent.entity == "user").order_by(AuditEvent.id)
            )
        ]


def test_a_signed_out_visitor_sees_only_the_sign_in_form(ward_db: Database) -> None:
    app = start()
    assert [field.label for field in app.text_input] == ["Username", "Password"]
    assert [button.label for button in app.button] == ["Sign in"]
    assert len(app.dataframe) == 0
    assert not app.sidebar.button


def test_a_nurse_signs_in_and_lands_on_the_ward(ward_db: Database) -> None:
    app = sign_in(start(), "nurse")
    assert not app.exception, app.exception
    assert [title.value for title in app.title] == ["HD IL-2 ward"]
    assert app.session_state[SESSION_KEY] == SignedIn(
        user_id=app.session_state[SESSION_KEY].user_id,
        username="nurse",
        display_name="Test Nurse",
        role="nurse",
    )
    assert "Test Nurse\nnurse · nurse" in [text.value for text in app.sidebar.text]
    assert ("nurse", "sign_in") in actions(ward_db)


def test_a_wrong_password_is_refused_without_saying_which_was_wrong(ward_db: Database) -> None:
    app = sign_in(start(), "nurse", "not-the-password")
    wrong_name = sign_in(start(), "no-such-user", PASSWORD)
    for attempt in (app, wrong_name):
        assert [e.value for e in attempt.error] == ["Unknown username or wrong password."]
        assert SESSION_KEY not in attempt.session_state
        assert len(attempt.dataframe) == 0
    assert ("nurse", "sign_in_failed") in actions(ward_db)


def test_a_system_account_cannot_sign_in(ward_db: Database) -> None:
    app = sign_in(start(), "demo", "")
    assert [e.value for e in app.error] == ["Unknown username or wrong password."]


def test_signing_out_returns_to_the_form_and_forgets_the_session(ward_db: Database) -> None:
    app = signed_in_app("physician")
    next(button for button in app.sidebar.button if button.label == "Sign out").click()
    app.run()
    assert not app.exception, app.exception
    assert SESSION_KEY not in app.session_state
    assert [field.label for field in app.text_input] == ["Username", "Password"]
    assert ("physician", "sign_out") in actions(ward_db)


@pytest.mark.parametrize("page", sorted(PAGES.glob("*.py")), ids=lambda path: path.name)
def test_every_page_refuses_a_signed_out_visitor_who_reaches_it_directly(
    ward_db: Database, page: Path
) -> None:
    """The menu hides nothing that matters: each page file checks for itself."""
    app = AppTest.from_file(str(page), default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    assert [e.value for e in app.error] == ["You are signed out. Sign in to see this page."]
    assert len(app.dataframe) == 0
    assert not app.title


def physicians_only_page() -> None:
    import streamlit as st

    from dashboard import auth

    auth.require_role("physician")
    st.title("Physicians only")


def test_a_page_refuses_a_role_it_is_not_for(ward_db: Database) -> None:
    nurse = signed_in_app("nurse").session_state[SESSION_KEY]
    app = AppTest.from_function(physicians_only_page, default_timeout=60)
    app.session_state[SESSION_KEY] = nurse  # the user the real form signed in, above
    app.run()
    assert not app.exception, app.exception
    assert [e.value for e in app.error] == [
        "This page is for physician accounts; you are signed in as nurse."
    ]
    assert not app.title


def test_a_page_lets_in_the_role_it_is_for(ward_db: Database) -> None:
    physician = signed_in_app("physician").session_state[SESSION_KEY]
    app = AppTest.from_function(physicians_only_page, default_timeout=60)
    app.session_state[SESSION_KEY] = physician
    app.run()
    assert [title.value for title in app.title] == ["Physicians only"]


def test_a_locked_account_gets_the_same_message_as_a_wrong_password(ward_db: Database) -> None:
    """The page never says whether an account exists or is locked; it always says accounts lock."""
    for _ in range(5):
        sign_in(start(), "nurse", "not-the-password")
    locked = sign_in(start(), "nurse", PASSWORD)
    unknown = sign_in(start(), "no-such-user", PASSWORD)
    for attempt in (locked, unknown):
        assert [e.value for e in attempt.error] == ["Unknown username or wrong password."]
        assert [c.value for c in attempt.caption][-1] == LOCKOUT_HINT
        assert SESSION_KEY not in attempt.session_state
    assert ("nurse", "lock") in actions(ward_db)


def test_an_account_disabled_after_sign_in_is_signed_out_at_its_next_page_run(
    ward_db: Database,
) -> None:
    app = signed_in_app("physician")
    assert app.session_state[SESSION_KEY].username == "physician"
    set_active(ward_db, "physician", False, actor=SystemActor("cli:test"), reason="left")

    app.run()

    assert not app.exception, app.exception
    assert SESSION_KEY not in app.session_state
    assert any("is not active" in error.value for error in app.error)
    assert ("physician", "sign_out") in actions(ward_db)
