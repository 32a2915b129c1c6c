"""AppTest fixtures: a fresh SQLite ward per test with its accounts, Streamlit's caches cleared
around it, and `sign_in`, which signs in through the real sign-in form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from il2_tox.course import load_course
from il2_tox.services.course_io import import_course
from il2_tox.services.users import SystemActor, add_user
from il2_tox.store import Database, migrate

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "dashboard" / "streamlit_app.py")
PAGES = REPO / "dashboard" / "app_pages"
# One account per role, each named after its role, all with this password.
ROLES = ("nurse", "physician", "admin")
PASSWORD = "il2-test-password"


def add_accounts(db: Database) -> None:
    """Add the accounts `nurse`, `physician` and `admin` (password PASSWORD)."""
    for role in ROLES:
        add_user(db, role, role, PASSWORD, f"Test {role.title()}", actor=SystemActor("test"))


def sign_in(app: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    """Fill in and submit the sign-in form of a running app; return it, rerun."""
    fields = {field.label: field for field in app.text_input}
    fields["Username"].input(username)
    fields["Password"].input(password)
    next(button for button in app.button if button.label == "Sign in").click()
    return app.run()


def signed_in_app(username: str = "nurse", script: str = APP) -> AppTest:
    """Return the dashboard after signing in as `username` through the form."""
    app = AppTest.from_file(script, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    sign_in(app, username)
    assert not app.exception, app.exception
    return app


@pytest.fixture
def ward_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """Point the app at a fresh SQLite database holding the demo ward course files."""
    url = f"sqlite:///{tmp_path / 'ward.db'}"
    monkeypatch.setenv("IL2TOX_DATABASE_URL", url)
    migrate(url)
    db = Database(url)
    for path in sorted((REPO / "data" / "demo").glob("*.json")):
        import_course(db, load_course(path), recorded_by="demo")
    add_accounts(db)
    st.cache_resource.clear()
    yield db
    st.cache_resource.clear()
    db.dispose()


@pytest.fixture
def empty_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("IL2TOX_DATABASE_URL", url)
    migrate(url)
    db = Database(url)
    add_accounts(db)
    st.cache_resource.clear()
    yield db
    st.cache_resource.clear()
    db.dispose()
