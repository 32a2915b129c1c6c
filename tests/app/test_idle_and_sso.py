"""The idle timeout and single sign-on, through AppTest with an injected clock.

Idle: signed out once 15 minutes have passed since the last activity (not at 14:59); what the
forms held comes back to the same user after they sign in again, never to another user.
Single sign-on: offered only when the secrets have an `[auth]` section; an identity signs in as
the account it is mapped to.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboard import auth
from dashboard.auth import LAST_ACTIVE, SESSION_KEY, SSO_BUTTON
from il2_tox.services.drafts import take_draft
from il2_tox.services.users import SystemActor, authenticate, set_sso_subject
from il2_tox.store import Database
from il2_tox.store.models import AuditEvent
from tests.app.conftest import APP, PASSWORD, sign_in, signed_in_app

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
ENTRY = "app_pages/entry.py"
SBP_LABEL = "Systolic BP (mmHg)"
HR_LABEL = "Heart rate (/min)"


class Clock:
    """The dashboard's clock, moved by the test."""

    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(auth, "now", fake)
    return fake


def number(app: AppTest, label: str) -> Any:
    (found,) = [n for n in app.number_input if n.label == label]
    return found


def sign_outs(db: Database) -> list[tuple[str, str | None]]:
    with db.read_session() as session:
        query = select(AuditEvent).where(AuditEvent.action == "sign_out").order_by(AuditEvent.id)
        return [(event.actor, event.reason) for event in session.scalars(query)]


def test_still_signed_in_at_14_59_without_activity(ward_db: Database, clock: Clock) -> None:
    app = signed_in_app("nurse")
    clock.at = T0 + timedelta(minutes=14, seconds=59)
    app.run()
    assert SESSION_KEY in app.session_state
    assert [t.value for t in app.title] == ["HD IL-2 ward"]


def test_signed_out_at_15_00_without_activity(ward_db: Database, clock: Clock) -> None:
    app = signed_in_app("nurse")
    clock.at = T0 + timedelta(minutes=15)
    app.run()
    assert not app.exception, app.exception
    assert SESSION_KEY not in app.session_state
    assert [f.label for f in app.text_input] == ["Username", "Password"]
    assert [i.value for i in app.info] == ["You were signed out after 15 minutes without activity."]
    assert sign_outs(ward_db) == [("nurse", "idle timeout")]


def test_activity_moves_the_timeout_on(ward_db: Database, clock: Clock) -> None:
    app = signed_in_app("nurse")
    clock.at = T0 + timedelta(minutes=10)
    app.run()  # any rerun is activity
    clock.at = T0 + timedelta(minutes=24, seconds=59)
    app.run()
    assert SESSION_KEY in app.session_state
    assert app.session_state[LAST_ACTIVE] == clock.at


def test_the_timeout_is_configurable(
    ward_db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IL2TOX_IDLE_MINUTES", "5")
    app = signed_in_app("nurse")
    clock.at = T0 + timedelta(minutes=5)
    app.run()
    assert SESSION_KEY not in app.session_state


def typed_entry(clock: Clock) -> AppTest:
    """Nurse opens DEMO-001's entry, types SBP 84 and HR 121 and saves without the wristband
    check: refused, so the values are on the server, unsaved."""
    app = signed_in_app("nurse")
    app.query_params["patient"] = "DEMO-001"
    app.switch_page(ENTRY)
    app.run()
    number(app, SBP_LABEL).set_value(84.0)
    number(app, HR_LABEL).set_value(121.0)
    next(b for b in app.button if b.label == "Save set").click()
    app.run()
    assert not app.exception, app.exception
    assert number(app, SBP_LABEL).value == 84.0
    clock.at = T0 + timedelta(minutes=15)
    app.run()  # the idle check
    assert SESSION_KEY not in app.session_state
    return app


def test_unsaved_entries_come_back_to_the_same_nurse(ward_db: Database, clock: Clock) -> None:
    app = typed_entry(clock)
    assert "What your forms held is kept" in app.info[0].value
    sign_in(app, "nurse")
    app.switch_page(ENTRY)
    app.run()
    assert not app.exception, app.exception
    assert (number(app, SBP_LABEL).value, number(app, HR_LABEL).value) == (84.0, 121.0)
    wristband = [c for c in app.checkbox if "checked the name and bed" in c.label]
    assert [c.value for c in wristband] == [False]  # checked again, never carried over


def test_unsaved_entries_are_never_shown_to_another_user(ward_db: Database, clock: Clock) -> None:
    app = typed_entry(clock)
    sign_in(app, "physician")
    app.switch_page(ENTRY)
    app.run()
    assert not app.exception, app.exception
    assert (number(app, SBP_LABEL).value, number(app, HR_LABEL).value) == (None, None)
    nurse = authenticate(ward_db, "nurse", PASSWORD)
    assert nurse is not None
    kept = take_draft(ward_db, nurse)
    assert kept is not None and 84.0 in kept.values()


# -- single sign-on ----------------------------------------------------------------------------

AUTH_SECRETS = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret",
    "client_id": "il2-tox",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration",
}


def test_single_sign_on_is_not_offered_without_an_auth_section(ward_db: Database) -> None:
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert SSO_BUTTON not in [b.label for b in app.button]


def test_single_sign_on_is_offered_when_configured(ward_db: Database) -> None:
    app = AppTest.from_file(APP, default_timeout=60)
    app.secrets["auth"] = AUTH_SECRETS
    app.run()
    assert not app.exception, app.exception
    assert [b.label for b in app.button] == [SSO_BUTTON, "Sign in"]


def logged_in_with_provider(monkeypatch: pytest.MonkeyPatch, claims: dict[str, Any]) -> AppTest:
    monkeypatch.setattr(auth, "_sso_logged_in", lambda: True)
    monkeypatch.setattr(auth, "_sso_claims", lambda: claims)
    app = AppTest.from_file(APP, default_timeout=60)
    app.secrets["auth"] = AUTH_SECRETS
    app.run()
    assert not app.exception, app.exception
    return app


def test_a_mapped_identity_lands_on_the_ward_with_the_accounts_role(
    ward_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_sso_subject(ward_db, "physician", "grace@example.org", actor=SystemActor("test"))
    app = logged_in_with_provider(monkeypatch, {"sub": "x1", "email": "Grace@example.org"})
    assert app.session_state[SESSION_KEY].username == "physician"
    assert [t.value for t in app.title] == ["HD IL-2 ward"]


def test_an_unmapped_identity_is_told_to_ask_an_admin(
    ward_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = logged_in_with_provider(monkeypatch, {"sub": "x1", "email": "eve@example.org"})
    assert SESSION_KEY not in app.session_state
    assert app.error[0].value.startswith("Your single sign-on identity has no active account")
    app.run()  # a rerun does not try (and audit) again
    with ward_db.read_session() as session:
        failed = session.scalars(
            select(AuditEvent).where(AuditEvent.reason.like("single sign-on%"))
        ).all()
    assert len(failed) == 1
