"""AppTest fixtures: a fresh SQLite ward per test, and Streamlit's caches cleared around it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st

from il2_tox.course import load_course
from il2_tox.services.course_io import import_course
from il2_tox.store import Database, migrate

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "dashboard" / "streamlit_app.py")


@pytest.fixture
def ward_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """Point the app at a fresh SQLite database holding the demo ward course files."""
    url = f"sqlite:///{tmp_path / 'ward.db'}"
    monkeypatch.setenv("IL2TOX_DATABASE_URL", url)
    migrate(url)
    db = Database(url)
    for path in sorted((REPO / "data" / "demo").glob("*.json")):
        import_course(db, load_course(path), recorded_by="demo")
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
    st.cache_resource.clear()
    yield db
    st.cache_resource.clear()
    db.dispose()
