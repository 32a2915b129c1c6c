"""The bedside entry page, through Streamlit's AppTest (no browser), signed in as the nurse.

Demo patients: DEMO-001 (bed 1, Ada) has no dose yet and no eligibility flag; DEMO-003
(bed 3, Cora) is mid-cycle.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from dashboard.auth import SESSION_KEY
from il2_tox.services.bedside import admit_patient
from il2_tox.services.course_io import list_admissions
from il2_tox.services.users import authenticate
from il2_tox.store import Database
from il2_tox.store.models import Dose, Observation
from tests.app.conftest import PAGES, PASSWORD, signed_in_app
from tests.builders import CourseBuilder

PAGE = "app_pages/entry.py"
VITAL_LABELS = [
    "Heart rate (/min)",
    "Systolic BP (mmHg)",
    "Diastolic BP (mmHg)",
    "Respiratory rate (/min)",
    "SpO2 (%)",
    "O2 flow (L/min)",
    "FiO2 (%)",
    "Temperature (°C)",
    "Urine volume (mL)",
    "Urine period (h)",
    "Stool volume (mL)",
    "Stool period (h)",
    "Weight (kg)",
    "Phenylephrine (µg/kg/min)",
]


def open_entry(patient: str = "DEMO-001", role: str = "nurse", confirm: bool = True) -> AppTest:
    """Sign in, open the entry page for `patient` and tick the name-and-bed check."""
    app = signed_in_app(role)
    app.query_params["patient"] = patient
    app.switch_page(PAGE)
    app.run()
    assert not app.exception, app.exception
    if confirm:
        checkbox(app, "I have checked the name and bed").check()
        app.run()
    return app


def shown(markdown: str) -> str:
    """Return Markdown text as the reader sees it (backslash escapes removed)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def checkbox(app: AppTest, starts: str) -> Any:
    return next(c for c in app.checkbox if shown(c.label).startswith(starts))


def number(app: AppTest, label: str) -> Any:
    (found,) = [n for n in app.number_input if n.label == label]
    return found


def radio(app: AppTest, label: str) -> Any:
    (found,) = [r for r in app.radio if r.label == label]
    return found


def click(app: AppTest, label: str) -> AppTest:
    next(b for b in app.button if b.label == label).click()
    app.run()
    assert not app.exception, app.exception
    return app


def type_values(app: AppTest, values: dict[str, float]) -> None:
    for label, value in values.items():
        number(app, label).set_value(value)


def column_with(app: AppTest, label: str) -> Any:
    """Return the form column holding the field `label` (its messages are drawn under it)."""
    return next(c for c in app.columns if any(n.label == label for n in c.number_input))


def column_with_time(app: AppTest) -> Any:
    """Return the column of the observation time (its messages are drawn under it)."""
    return next(
        c for c in app.columns if any(t.label.startswith("Observation time") for t in c.time_input)
    )


def count(db: Database, model: type[Observation] | type[Dose]) -> int:
    with db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def texts(app: AppTest) -> str:
    return "\n".join(t.value for t in app.text)


def admission_id(db: Database, mrn: str) -> int:
    return next(a.admission_id for a in list_admissions(db) if a.patient_id == mrn)


SET = {"Heart rate (/min)": 92, "Systolic BP (mmHg)": 118, "Temperature (°C)": 37.8}


# ---------------------------------------------------------------------------------------------
# The form


def test_it_names_every_field_by_measurement_and_unit(ward_db: Database) -> None:
    app = open_entry()
    labels = [n.label for n in app.number_input]
    assert labels[: len(VITAL_LABELS)] == VITAL_LABELS
    assert all(n.value is None for n in app.number_input)  # blank = not measured


def test_it_picks_the_patient_by_bed_name_and_mrn_and_asks_to_confirm_them(
    ward_db: Database,
) -> None:
    app = open_entry("DEMO-003", confirm=False)
    assert app.selectbox[0].value == "DEMO-003"
    assert "3 · Demo, Cora (DEMO-003)" in app.selectbox[0].options
    assert (
        shown(checkbox(app, "I have checked").label)
        == "I have checked the name and bed: Demo, Cora, bed 3"
    )


def test_it_shows_temperature_and_weight_in_the_unit_chosen(ward_db: Database) -> None:
    app = open_entry()
    radio(app, "Temperature unit").set_value("[degF]")
    radio(app, "Weight unit").set_value("[lb_av]").run()
    labels = [n.label for n in app.number_input]
    assert "Temperature (°F)" in labels
    assert "Weight (lb)" in labels


def test_it_refuses_to_save_before_the_name_and_bed_are_checked(ward_db: Database) -> None:
    before = count(ward_db, Observation)
    app = open_entry(confirm=False)
    type_values(app, SET)
    click(app, "Save set")
    assert any("tick the name-and-bed check above first" in shown(e.value) for e in app.error)
    assert count(ward_db, Observation) == before
    assert number(app, "Heart rate (/min)").value == 92  # kept


def test_it_refuses_a_value_outside_the_hard_limits_at_its_field_keeping_what_was_typed(
    ward_db: Database,
) -> None:
    before = count(ward_db, Observation)
    app = open_entry()
    type_values(app, {**SET, "Heart rate (/min)": 400})
    click(app, "Save set")
    messages = [shown(e.value) for e in column_with(app, "Heart rate (/min)").error]
    assert messages == ["400 /min is outside the possible range for heart rate (0–300 /min)"]
    assert column_with(app, "Systolic BP (mmHg)").error.len == 0
    assert number(app, "Heart rate (/min)").value == 400
    assert number(app, "Systolic BP (mmHg)").value == 118
    assert number(app, "Temperature (°C)").value == 37.8
    assert count(ward_db, Observation) == before


def test_it_refuses_a_volume_without_its_period_at_the_period(ward_db: Database) -> None:
    app = open_entry()
    type_values(app, {"Urine volume (mL)": 240})
    click(app, "Save set")
    (message,) = [shown(e.value) for e in column_with(app, "Urine period (h)").error]
    assert message.startswith("Urine period is required")


def test_it_refuses_an_observation_time_in_the_future(ward_db: Database) -> None:
    before = count(ward_db, Observation)
    app = open_entry()
    type_values(app, SET)
    (date_input,) = [d for d in app.date_input if d.label == "Observation date"]
    date_input.set_value(date_input.value + timedelta(days=1))
    click(app, "Save set")
    assert any(
        shown(e.value).startswith("Observation time: ") and "is in the future" in e.value
        for e in column_with_time(app).error
    )
    assert count(ward_db, Observation) == before


def test_it_asks_to_confirm_an_unusual_value_then_saves_it_anyway(ward_db: Database) -> None:
    before = count(ward_db, Observation)
    app = open_entry()
    type_values(app, {**SET, "Heart rate (/min)": 190})
    click(app, "Save set")
    (warning,) = [shown(w.value) for w in column_with(app, "Heart rate (/min)").warning]
    assert warning.startswith("Unusual: 190 /min: above 180 /min")
    assert count(ward_db, Observation) == before  # nothing until confirmed
    assert number(app, "Heart rate (/min)").value == 190
    click(app, "Save anyway")
    assert count(ward_db, Observation) == before + 3
    assert "Heart rate: 190 /min" in texts(app)


def test_it_asks_about_a_weight_far_from_the_pre_treatment_weight(ward_db: Database) -> None:
    app = open_entry()  # Ada weighed 76.5 kg before treatment
    type_values(app, {"Weight (kg)": 40.0})
    click(app, "Save set")
    (warning,) = [shown(w.value) for w in column_with(app, "Weight (kg)").warning]
    assert warning.startswith("Unusual: 40 kg: -48% from the pre-treatment weight 76.5 kg")


def test_it_saves_a_valid_set_and_shows_what_was_stored_and_the_next_dose_advice(
    ward_db: Database,
) -> None:
    before = count(ward_db, Observation)
    app = open_entry()
    type_values(app, {**SET, "Urine volume (mL)": 240, "Urine period (h)": 8})
    radio(app, "Consciousness (ACVPU)").set_value("A")
    click(app, "Save set")
    assert count(ward_db, Observation) == before + 5
    assert any(shown(s.value).startswith("Saved 5 value(s) observed") for s in app.success)
    stored = texts(app)
    assert "Heart rate: 92 /min" in stored
    assert "Temperature: 37.8 °C" in stored
    assert "Urine volume: 240 mL over 8 h" in stored
    assert "Consciousness (ACVPU): A alert" in stored
    advice = [m.value for m in app.markdown if "Next dose 1 of cycle 1" in m.value]
    assert len(advice) == 2  # before this entry, and the advice now, beside the result
    assert all("background[**GIVE**]" in m or "CAUTION" in m or "HOLD" in m for m in advice)
    assert number(app, "Heart rate (/min)").value is None  # a new, empty form


def test_it_marks_a_backdated_set(ward_db: Database) -> None:
    app = open_entry()
    type_values(app, SET)
    (date_input,) = [d for d in app.date_input if d.label == "Observation date"]
    date_input.set_value(date_input.value - timedelta(days=1))
    click(app, "Save set")
    assert any(shown(w.value).startswith("BACKDATED: observed") for w in app.warning)


def test_a_repeated_submission_of_one_form_stores_nothing_twice(ward_db: Database) -> None:
    """A double click sends the same form (and so its idempotency key) twice."""
    app = open_entry()
    aid = admission_id(ward_db, "DEMO-001")
    first_key = app.session_state[f"entry.key.obs.{aid}.0"]
    type_values(app, SET)
    click(app, "Save set")
    after_first = count(ward_db, Observation)
    # The second click of the pair: the same values, carrying the same form's key.
    app.session_state[f"entry.key.obs.{aid}.1"] = first_key
    app.run()
    type_values(app, SET)
    click(app, "Save set")
    assert count(ward_db, Observation) == after_first
    assert any("already saved" in i.value for i in app.info)


# ---------------------------------------------------------------------------------------------
# The dose


def test_it_refuses_a_held_dose_without_a_reason_at_the_reason(ward_db: Database) -> None:
    before = count(ward_db, Dose)
    app = open_entry("DEMO-003")
    radio(app, "Dose").set_value("held")
    click(app, "Record dose")
    assert any(e.value.startswith("Reason is required when a dose is held") for e in app.error)
    assert count(ward_db, Dose) == before
    assert radio(app, "Dose").value == "held"  # kept


def test_it_records_a_held_dose_with_its_reason(ward_db: Database) -> None:
    app = open_entry("DEMO-003")
    radio(app, "Dose").set_value("held")
    (reason,) = [t for t in app.text_input if t.label.startswith("Reason")]
    reason.input("SBP 80 <b>on</b> phenylephrine")
    click(app, "Record dose")
    (line,) = [s.value for s in app.success if "recorded as held" in s.value]
    assert "\\<b\\>on\\</b\\>" in line  # escaped: shown as typed, never as markup
    assert shown(line).endswith(": SBP 80 <b>on</b> phenylephrine")


def test_it_records_a_given_dose_and_shows_the_next_dose_number(ward_db: Database) -> None:
    before = count(ward_db, Dose)
    app = open_entry("DEMO-001")
    assert any("**Record the dose** · next: Dose 1 of cycle 1" in m.value for m in app.markdown)
    radio(app, "Dose").set_value("given")
    click(app, "Record dose")
    assert count(ward_db, Dose) == before + 1
    assert any(
        shown(s.value).startswith("Dose 1 of cycle 1 recorded as given") for s in app.success
    )
    assert any("Next dose 2 of cycle 1" in m.value for m in app.markdown)


def test_it_refuses_the_first_dose_until_eligibility_is_acknowledged(ward_db: Database) -> None:
    nurse = authenticate(ward_db, "nurse", PASSWORD)
    course = CourseBuilder(patient_id="ELIG-1", history={"systemic_steroids": True}).build()
    admit_patient(
        ward_db,
        patient=course.patient,
        admission=course.admission.__class__(
            admitted_at=datetime.now(course.admission.admitted_at.tzinfo) - timedelta(hours=2),
            bed="11",
        ),
        history=course.history,
        actor=nurse,
    )
    before = count(ward_db, Dose)
    app = open_entry("ELIG-1")
    assert any(
        shown(w.value).startswith("First dose blocked until a physician acknowledges: ")
        for w in app.warning
    )
    radio(app, "Dose").set_value("given")
    click(app, "Record dose")
    assert any("cannot be recorded as given until a physician" in shown(e.value) for e in app.error)
    assert count(ward_db, Dose) == before


# ---------------------------------------------------------------------------------------------
# Who may


def test_it_refuses_a_signed_out_visitor(ward_db: Database) -> None:
    app = AppTest.from_file(str(PAGES / "entry.py"), default_timeout=60)
    app.run()
    assert any("signed out" in e.value for e in app.error)
    assert len(app.number_input) == 0


def test_it_refuses_an_admin(ward_db: Database) -> None:
    app = AppTest.from_file(str(PAGES / "entry.py"), default_timeout=60)
    app.session_state[SESSION_KEY] = authenticate(ward_db, "admin", PASSWORD)
    app.run()
    assert any("for nurse, physician accounts" in e.value for e in app.error)
    assert len(app.number_input) == 0


@pytest.mark.parametrize("role", ["nurse", "physician"])
def test_nurses_and_physicians_can_open_it(ward_db: Database, role: str) -> None:
    app = open_entry(role=role, confirm=False)
    assert app.title[0].value == "Bedside entry"
