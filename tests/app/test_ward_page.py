"""The ward overview page, through Streamlit's AppTest (no browser), signed in as a nurse."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from il2_tox.store import Database
from tests.app.conftest import APP, sign_in, signed_in_app


def run_app() -> AppTest:
    return signed_in_app("nurse")


def test_it_lists_every_demo_patient_most_urgent_first(ward_db: Database) -> None:
    app = run_app()
    frame = app.dataframe[0].value
    assert len(frame) == 10
    advice = [chip for (chip,) in frame["Advice"]]  # one advice chip per row
    order = {"HOLD": 0, "CAUTION": 1, "GIVE": 2, "—": 3}
    assert [order[a] for a in advice] == sorted(order[a] for a in advice)
    assert advice[0] == "HOLD"


def test_it_names_the_patient_bed_cycle_and_next_dose(ward_db: Database) -> None:
    frame = run_app().dataframe[0].value
    row = frame[frame["MRN"] == "DEMO-003"].iloc[0]
    assert row["Bed"] == "3"
    assert row["Cycle · dose"].startswith("C1 · dose ")
    assert list(row["Advice"]) == ["HOLD"]
    assert "SBP" in row["Why"]
    assert "< target" in row["Why"]


def test_it_shows_units_in_column_headers(ward_db: Database) -> None:
    frame = run_app().dataframe[0].value
    assert "Weight gain (%)" in frame.columns


def test_it_says_when_it_was_updated(ward_db: Database) -> None:
    app = run_app()
    assert any("updated" in c.value for c in app.caption)


def test_it_explains_an_empty_ward(empty_db: Database) -> None:
    app = run_app()
    assert any("No patients admitted" in i.value for i in app.info)


def test_it_shows_no_advice_under_a_broken_rules_file(
    ward_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "rules.toml"
    broken.write_text("[rule\n", encoding="utf-8")
    monkeypatch.setenv("IL2TOX_RULES", str(broken))
    app = AppTest.from_file(APP, default_timeout=60)
    sign_in(app.run(), "physician")
    assert any("rules file cannot be used" in e.value for e in app.error)
    assert len(app.dataframe) == 0


@pytest.mark.parametrize("role", ["nurse", "physician", "admin"])
def test_every_role_sees_the_ward(ward_db: Database, role: str) -> None:
    app = signed_in_app(role)
    assert len(app.dataframe[0].value) == 10


def test_it_shows_trend_lines_for_weight_and_sbp_with_their_units(ward_db: Database) -> None:
    frame = run_app().dataframe[0].value
    row = frame[frame["MRN"] == "DEMO-003"].iloc[0]
    assert len(row["SBP 24 h (mmHg)"]) >= 3
    assert max(row["Weight trend (%)"]) >= 10


def test_it_summarises_active_flags_by_severity(ward_db: Database) -> None:
    frame = run_app().dataframe[0].value
    row = frame[frame["MRN"] == "DEMO-003"].iloc[0]
    assert "critical" in row["Active flags"]
