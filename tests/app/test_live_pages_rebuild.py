"""The live pages re-read, re-assess and redraw only when the record changed or the minute
turned, and a second session gets what the first one built (`dashboard.snapshots`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import context, snapshots
from il2_tox.services.bedside import record_observations
from il2_tox.services.course_io import list_admissions
from il2_tox.services.users import authenticate
from il2_tox.store import Database
from tests.app.conftest import PASSWORD, signed_in_app

CHART = "app_pages/patient.py"
HR = "8867-4"


class Clock:
    """A ward clock the test moves by hand (the pages read `context.now`)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    ticking = Clock(datetime.now(UTC).replace(second=5, microsecond=0))
    monkeypatch.setattr(context, "now", ticking)
    return ticking


def counted(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Count the calls of `snapshots.<name>` (reading and assessing happen through it)."""
    calls: list[int] = []
    real: Callable[..., Any] = getattr(snapshots, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(snapshots, name, counting)
    return calls


def open_chart(patient: str, role: str = "physician") -> AppTest:
    app = signed_in_app(role)
    app.query_params["patient"] = patient
    app.switch_page(CHART)
    app.run()
    assert not app.exception, app.exception
    return app


def record_heart_rate(db: Database, patient: str, value: float, when: datetime) -> None:
    (admission,) = [a for a in list_admissions(db) if a.patient_id == patient]
    nurse = authenticate(db, "nurse", PASSWORD)
    record_observations(
        db, admission.admission_id, [(HR, value, "/min", None)], when, nurse, f"hr-{value}"
    )


def test_a_chart_rerun_with_nothing_written_reads_and_assesses_nothing(
    ward_db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assessed = counted(monkeypatch, "assess")
    app = open_chart("DEMO-003")
    assert len(assessed) == 1
    clock.at += timedelta(seconds=50)  # the same minute
    app.run()
    app.run()
    assert not app.exception, app.exception
    assert len(assessed) == 1


def test_a_second_session_gets_the_chart_the_first_one_built(
    ward_db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assessed = counted(monkeypatch, "assess")
    open_chart("DEMO-003", role="physician")
    other = open_chart("DEMO-003", role="nurse")
    assert len(assessed) == 1
    assert "Demo, Cora" in other.subheader[0].value


def test_a_new_entry_redraws_the_chart_with_it(
    ward_db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assessed = counted(monkeypatch, "assess")
    app = open_chart("DEMO-003")
    record_heart_rate(ward_db, "DEMO-003", 131, datetime.now(UTC) - timedelta(minutes=1))
    app.run()
    assert len(assessed) == 2
    (chart,) = app.get("plotly_chart")  # the chart view
    hovers = [text for trace in json.loads(chart.proto.spec)["data"] for text in trace["text"]]
    assert any(text.startswith("HR 131 /min") for text in hovers)


def test_the_chart_is_rebuilt_when_the_minute_turns(
    ward_db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assessed = counted(monkeypatch, "assess")
    app = open_chart("DEMO-003")
    clock.at += timedelta(seconds=55)  # :05 + 55 s is the next minute
    app.run()
    assert len(assessed) == 2


def test_a_ward_rerun_with_nothing_written_assesses_nothing(
    ward_db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = counted(monkeypatch, "ward_rows")
    app = signed_in_app("nurse")
    assert len(built) == 1
    app.run()
    signed_in_app("physician")  # another session, the same ward
    assert len(built) == 1
    record_heart_rate(ward_db, "DEMO-001", 99, datetime.now(UTC) - timedelta(minutes=1))
    app.run()
    assert not app.exception, app.exception
    assert len(built) == 2
