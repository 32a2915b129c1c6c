"""The ward overview and the patient chart when the database goes away: the last reading stays
on screen with a notice saying so, never a traceback, and the live page recovers by itself.

PostgreSQL cases reach the server through the TCP proxy of `test_entry_faults` (cut and
restored); the closed-port case needs no server."""

from __future__ import annotations

import socket

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from il2_tox.store import Database
from tests.app.conftest import signed_in_app
from tests.app.test_entry_faults import Proxy, proxied_ward  # noqa: F401 - a fixture
from tests.app.test_patient_page import open_chart
from tests.integration.conftest import postgres_schema_url  # noqa: F401 - a fixture

STALE = "as last read at"


def warnings(app: AppTest) -> list[str]:
    return [w.value for w in app.warning]


@pytest.mark.postgres
def test_the_ward_keeps_its_last_reading_while_the_database_is_away(
    proxied_ward: tuple[Database, Proxy],  # noqa: F811 - the fixture imported above
) -> None:
    _, proxy = proxied_ward
    app = signed_in_app("physician")
    rows = len(app.dataframe[0].value)
    assert rows == 2 and not any(STALE in w for w in warnings(app))
    st.cache_resource.clear()  # a new record state: the page must read again
    proxy.drop()
    try:
        app.run()
        assert not app.exception, app.exception
        assert any(STALE in w for w in warnings(app))
        assert len(app.dataframe[0].value) == rows  # the rows as last read
    finally:
        proxy.restore()
    app.run()
    assert not app.exception, app.exception
    assert not any(STALE in w for w in warnings(app))


@pytest.mark.postgres
def test_the_chart_keeps_its_last_reading_while_the_database_is_away(
    proxied_ward: tuple[Database, Proxy],  # noqa: F811 - the fixture imported above
) -> None:
    _, proxy = proxied_ward
    app = open_chart()
    charts = len(app.get("plotly_chart"))
    assert charts == 1
    st.cache_resource.clear()
    proxy.drop()
    try:
        app.run()
        assert not app.exception, app.exception
        assert any(STALE in w for w in warnings(app))
        assert len(app.get("plotly_chart")) == charts
    finally:
        proxy.restore()
    app.run()
    assert not app.exception, app.exception
    assert not any(STALE in w for w in warnings(app)), warnings(app)


def test_a_ward_opened_while_the_database_is_down_says_so_without_a_traceback(
    ward_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = signed_in_app("physician")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("IL2TOX_DATABASE_URL", f"postgresql+psycopg://nobody@127.0.0.1:{closed}/x")
    st.cache_resource.clear()
    app.session_state["faults.last_read"] = {}  # a fresh session: nothing read before
    app.run()
    assert not app.exception, app.exception
    assert any("The database cannot be reached" in e.value for e in app.error)
