"""Corrections on the patient chart, through AppTest: a nurse corrects her own value with a
reason, the original shown struck through with who/when/why (as text); a missing reason keeps
what was typed; a stale form is refused naming who changed it; admins see no corrections; a
volume's collection period is corrected alone, and one out of range is refused naming it.

DEMO-001 (bed 1) has no dose yet: every observation is listed under "All".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from dashboard import context
from dashboard.corrections_form import SECTION_LABEL, section_key
from il2_tox.services.bedside import Entry, record_dose, record_observations
from il2_tox.services.corrections import amend_observation
from il2_tox.services.course_io import list_admissions, load_course_from_db
from il2_tox.services.users import SignedIn, authenticate
from il2_tox.store import Database
from il2_tox.store.models import Dose, Observation
from tests.app.conftest import PASSWORD, signed_in_app

PAGE = "app_pages/patient.py"
SBP = "8480-6"


def shown(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def user(db: Database, username: str) -> SignedIn:
    signed_in = authenticate(db, username, PASSWORD)
    assert signed_in is not None
    return signed_in


def admission(db: Database, mrn: str = "DEMO-001") -> int:
    return next(a.admission_id for a in list_admissions(db) if a.patient_id == mrn)


def nurse_sbp(db: Database, value: int = 84) -> int:
    """The nurse's bedside SBP on DEMO-001, taken a minute ago; its row id."""
    result = record_observations(
        db,
        admission(db),
        [Entry(SBP, value, "mm[Hg]")],
        datetime.now(UTC) - timedelta(minutes=1),
        user(db, "nurse"),
        f"sbp-{value}",
    )
    (row_id,) = result.observation_ids
    return row_id


def open_chart(role: str, patient: str = "DEMO-001") -> AppTest:
    """Sign in, open the patient's chart and open its corrections section (as a click does)."""
    app = signed_in_app(role)
    app.query_params["patient"] = patient
    app.switch_page(PAGE)
    app.run()
    assert not app.exception, app.exception
    if role == "admin":
        return app
    db = Database()
    try:
        app.session_state[section_key(admission(db, patient))] = True
    finally:
        db.dispose()
    app.run()
    assert not app.exception, app.exception
    return app


def open_form(app: AppTest, row_id: int, kind: str = "obs") -> AppTest:
    """Press the record's "Correct ..." button: its form opens in a dialog."""
    app.button(key=f"corr.{kind}.{row_id}.open").click()
    app.run()
    assert not app.exception, app.exception
    return app


def fill(app: AppTest, row_id: int, value: str, reason: str) -> None:
    open_form(app, row_id)
    app.text_input(key=f"corr.obs.{row_id}.0.value").input(value)
    app.text_input(key=f"corr.obs.{row_id}.0.reason").input(reason)


def press(app: AppTest, row_id: int, which: str = "save", gen: int = 0) -> AppTest:
    app.button(key=f"corr.obs.{row_id}.{gen}.{which}").click()
    app.run()
    assert not app.exception, app.exception
    return app


def markdown(app: AppTest) -> list[str]:
    return [m.value for m in app.markdown]


def sbp_values(db: Database) -> list[float]:
    course = load_course_from_db(db, admission(db))
    return [float(o.value) for o in course.observations if o.code == SBP]


def count(db: Database, model: type[Observation] | type[Dose]) -> int:
    with db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_nurse_corrects_her_value_and_sees_the_original_struck_through(
    ward_db: Database,
) -> None:
    row_id = nurse_sbp(ward_db)
    app = open_chart("nurse")
    fill(app, row_id, "94", "typed 84 for 94 <b>sorry</b>")
    press(app, row_id)
    assert sbp_values(ward_db)[-1] == 94
    assert any("Saved: corrected." in shown(s.value) for s in app.success)
    lines = [shown(m) for m in markdown(app) if "SBP" in m and "Test Nurse" in m]
    assert any(line.startswith("~~SBP 84 mmHg~~ · recorded by Test Nurse") for line in lines)
    corrected = [line for line in lines if line.startswith("**SBP 94 mmHg** · corrected by")]
    assert corrected and corrected[0].endswith(": typed 84 for 94 <b>sorry</b>")
    raw = [m for m in markdown(app) if "corrected by" in m]
    assert any("\\<b\\>sorry\\</b\\>" in m for m in raw)  # escaped: text, never markup


def test_marking_a_value_entered_in_error_strikes_it_and_it_no_longer_counts(
    ward_db: Database,
) -> None:
    row_id = nurse_sbp(ward_db, 70)
    app = open_chart("nurse")
    open_form(app, row_id)
    app.text_input(key=f"corr.obs.{row_id}.0.reason").input("wrong patient's monitor")
    press(app, row_id, "withdraw")
    assert 70 not in sbp_values(ward_db)
    assert any(
        shown(m).startswith("~~SBP 70 mmHg~~ · **entered in error**: Test Nurse")
        and shown(m).endswith(": wrong patient's monitor")
        for m in markdown(app)
    )


def test_a_correction_without_a_reason_is_refused_and_keeps_what_was_typed(
    ward_db: Database,
) -> None:
    row_id = nurse_sbp(ward_db)
    rows = count(ward_db, Observation)
    app = open_chart("nurse")
    open_form(app, row_id)
    app.text_input(key=f"corr.obs.{row_id}.0.value").input("94")
    press(app, row_id)
    assert any("Reason for the correction: is required" in shown(e.value) for e in app.error), [
        e.value for e in app.error
    ]
    assert app.text_input(key=f"corr.obs.{row_id}.0.value").value == "94"
    assert count(ward_db, Observation) == rows


def test_a_form_shown_before_someone_else_corrected_is_refused_naming_them(
    ward_db: Database,
) -> None:
    row_id = nurse_sbp(ward_db)
    app = open_chart("nurse")
    fill(app, row_id, "95", "repeat reading")
    amend_observation(
        ward_db,
        row_id,
        value=94,
        reason="typed 84 for 94",
        actor=user(ward_db, "physician"),
        idempotency_key="physician-fix",
    )
    press(app, row_id)
    errors = [shown(e.value) for e in app.error]
    assert any(
        e.startswith("Not saved: This observation was changed by Test Physician at ")
        and "Reload the page" in e
        for e in errors
    ), errors
    assert sbp_values(ward_db)[-1] == 94  # the physician's, not overwritten


def test_a_nurse_may_not_correct_an_imported_value_and_is_told_why(ward_db: Database) -> None:
    app = open_chart("nurse")
    with ward_db.read_session() as session:
        imported = session.scalars(
            select(Observation.id).where(Observation.admission_id == admission(ward_db))
        ).first()
    assert imported is not None
    fill(app, imported, "100", "x")
    rows = count(ward_db, Observation)
    press(app, imported)
    assert any("recorded by an import" in shown(e.value) for e in app.error)
    assert count(ward_db, Observation) == rows


def test_a_dose_is_corrected_from_given_to_held(ward_db: Database) -> None:
    dose = record_dose(
        ward_db,
        admission(ward_db),
        status="given",
        time=datetime.now(UTC) - timedelta(minutes=5),
        reason=None,
        actor=user(ward_db, "nurse"),
        idempotency_key="dose-1",
    )
    app = open_chart("physician")
    app.selectbox(key=f"corr.group.{dose.admission_id}").set_value(str(dose.dose_id)).run()
    open_form(app, dose.dose_id, "dose")
    app.radio(key=f"corr.dose.{dose.dose_id}.0.status").set_value("held")
    app.text_input(key=f"corr.dose.{dose.dose_id}.0.dose_reason").input("SBP 80")
    app.text_input(key=f"corr.dose.{dose.dose_id}.0.reason").input("wrong button")
    app.button(key=f"corr.dose.{dose.dose_id}.0.save").click().run()
    assert not app.exception, app.exception
    (stored,) = load_course_from_db(ward_db, dose.admission_id).doses
    assert (stored.status, stored.reason) == ("held", "SBP 80")
    assert stored.time == dose.time  # the time untouched keeps its seconds
    assert any(shown(m).startswith("~~Given at ") for m in markdown(app))


def test_a_dose_time_is_corrected_on_the_ward_clock(ward_db: Database) -> None:
    given = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
    dose = record_dose(
        ward_db,
        admission(ward_db),
        status="given",
        time=given,
        reason=None,
        actor=user(ward_db, "nurse"),
        idempotency_key="dose-1",
    )
    app = open_chart("nurse")
    app.selectbox(key=f"corr.group.{dose.admission_id}").set_value(str(dose.dose_id)).run()
    open_form(app, dose.dose_id, "dose")
    earlier = given - timedelta(minutes=30)
    app.time_input(key=f"corr.dose.{dose.dose_id}.0.clock").set_value(earlier.time())
    app.date_input(key=f"corr.dose.{dose.dose_id}.0.date").set_value(earlier.date())
    app.text_input(key=f"corr.dose.{dose.dose_id}.0.reason").input("given at the half hour")
    app.button(key=f"corr.dose.{dose.dose_id}.0.save").click().run()
    assert not app.exception, app.exception
    (stored,) = load_course_from_db(ward_db, dose.admission_id).doses
    assert stored.time == earlier


def test_an_admin_sees_no_corrections(ward_db: Database) -> None:
    app = open_chart("admin")
    assert not [e for e in app.expander if "Correct an entry" in e.label]


def form_widgets(app: AppTest, row_id: int) -> list[str]:
    """The keys of the observation's open form's text boxes (none when the form is closed)."""
    return [w.key for w in app.text_input if w.key and w.key.startswith(f"corr.obs.{row_id}.")]


def stored(db: Database, row_id: int) -> Observation:
    """The current version of the observation first stored as `row_id`."""
    with db.read_session() as session:
        row = session.get_one(Observation, row_id)
        while True:
            later = session.scalars(
                select(Observation).where(Observation.supersedes_id == row.id)
            ).first()
            if later is None:
                return row
            row = later


def test_the_form_opens_with_the_value_as_recorded_and_closes_after_a_save(
    ward_db: Database,
) -> None:
    row_id = nurse_sbp(ward_db)
    app = open_chart("nurse")
    assert form_widgets(app, row_id) == []  # closed until its button is pressed
    open_form(app, row_id)
    assert app.text_input(key=f"corr.obs.{row_id}.0.value").value == "84"
    assert app.text_input(key=f"corr.obs.{row_id}.0.value").label == "New value (mmHg)"
    # SBP has one accepted unit: no unit to choose.
    assert not [s for s in app.selectbox if s.key == f"corr.obs.{row_id}.0.unit"]
    fill(app, row_id, "94", "typed 84 for 94")
    press(app, row_id)
    assert form_widgets(app, row_id) == []
    assert any("Saved: corrected. SBP" in shown(t.value) for t in app.toast)


def test_cancel_closes_the_form_and_stores_nothing(ward_db: Database) -> None:
    row_id = nurse_sbp(ward_db)
    rows = count(ward_db, Observation)
    app = open_chart("nurse")
    fill(app, row_id, "94", "typed 84 for 94")
    press(app, row_id, "cancel")
    assert form_widgets(app, row_id) == []
    assert count(ward_db, Observation) == rows


def test_a_nurse_corrects_the_time_of_her_value_and_both_times_are_shown(
    ward_db: Database,
) -> None:
    row_id = nurse_sbp(ward_db)
    taken = stored(ward_db, row_id).observed_at
    earlier = (taken - timedelta(minutes=40)).replace(second=0, microsecond=0)
    local = earlier.astimezone(context.ward_timezone())
    app = open_chart("nurse")
    open_form(app, row_id)
    app.date_input(key=f"corr.obs.{row_id}.0.date").set_value(local.date())
    app.time_input(key=f"corr.obs.{row_id}.0.clock").set_value(local.time())
    app.text_input(key=f"corr.obs.{row_id}.0.reason").input("taken before the walk")
    press(app, row_id)
    now = stored(ward_db, row_id)
    assert now.id != row_id
    assert now.observed_at == earlier
    assert (now.entered_value, now.entered_unit) == ("84", "mm[Hg]")  # the value as recorded
    lines = [shown(m) for m in markdown(app) if "SBP 84 mmHg taken" in shown(m)]
    assert any(
        line.startswith(f"~~SBP 84 mmHg taken {context.local(taken)}~~ · recorded by")
        for line in lines
    ), lines
    assert any(
        line.startswith(f"**SBP 84 mmHg taken {context.local(earlier)}** · corrected by")
        for line in lines
    ), lines


def test_an_untouched_time_keeps_its_seconds(ward_db: Database) -> None:
    row_id = nurse_sbp(ward_db)
    taken = stored(ward_db, row_id).observed_at
    app = open_chart("nurse")
    fill(app, row_id, "94", "typed 84 for 94")
    press(app, row_id)
    assert stored(ward_db, row_id).observed_at == taken


def test_a_time_in_the_future_is_refused_naming_the_field_and_keeps_what_was_typed(
    ward_db: Database,
) -> None:
    row_id = nurse_sbp(ward_db)
    rows = count(ward_db, Observation)
    later = (datetime.now(UTC) + timedelta(hours=3)).astimezone(context.ward_timezone())
    app = open_chart("nurse")
    fill(app, row_id, "94", "typed 84 for 94")
    app.date_input(key=f"corr.obs.{row_id}.0.date").set_value(later.date())
    app.time_input(key=f"corr.obs.{row_id}.0.clock").set_value(later.time().replace(second=0))
    press(app, row_id)
    errors = [shown(e.value) for e in app.error]
    assert any("Observation time: " in e and "is in the future" in e for e in errors), errors
    assert count(ward_db, Observation) == rows
    assert app.text_input(key=f"corr.obs.{row_id}.0.value").value == "94"
    assert app.text_input(key=f"corr.obs.{row_id}.0.reason").value == "typed 84 for 94"
    assert app.date_input(key=f"corr.obs.{row_id}.0.date").value == later.date()


def test_a_value_is_corrected_in_another_accepted_unit(ward_db: Database) -> None:
    (temp,) = record_observations(
        ward_db,
        admission(ward_db),
        [Entry("8310-5", 37.2, "Cel")],
        datetime.now(UTC) - timedelta(minutes=1),
        user(ward_db, "nurse"),
        "temp-1",
    ).observation_ids
    app = open_chart("nurse")
    open_form(app, temp)
    unit = app.selectbox(key=f"corr.obs.{temp}.0.unit")
    assert (unit.label, unit.value) == ("Unit", "Cel")
    assert unit.options == ["°C", "°F"]
    fill(app, temp, "101.3", "the device reads in F")
    app.selectbox(key=f"corr.obs.{temp}.0.unit").set_value("[degF]")
    press(app, temp)
    now = stored(ward_db, temp)
    assert now.value == pytest.approx(38.5)
    assert (now.entered_value, now.entered_unit) == ("101.3", "[degF]")
    assert any(shown(m).startswith("**Temp 101.3 °F** · corrected by") for m in markdown(app)), [
        shown(m) for m in markdown(app)
    ]


def test_a_unit_that_makes_the_value_impossible_is_refused_naming_the_value(
    ward_db: Database,
) -> None:
    (temp,) = record_observations(
        ward_db,
        admission(ward_db),
        [Entry("8310-5", 37.2, "Cel")],
        datetime.now(UTC) - timedelta(minutes=1),
        user(ward_db, "nurse"),
        "temp-1",
    ).observation_ids
    rows = count(ward_db, Observation)
    app = open_chart("nurse")
    open_form(app, temp)
    app.selectbox(key=f"corr.obs.{temp}.0.unit").set_value("[degF]")  # 37.2 °F: not alive
    app.text_input(key=f"corr.obs.{temp}.0.reason").input("unit")
    press(app, temp)
    assert any(shown(e.value).startswith("Not saved. New value: ") for e in app.error)
    assert count(ward_db, Observation) == rows
    assert app.selectbox(key=f"corr.obs.{temp}.0.unit").value == "[degF]"


def test_the_section_starts_closed_and_sends_no_entry_until_opened(ward_db: Database) -> None:
    app = signed_in_app("nurse")
    app.query_params["patient"] = "DEMO-001"
    app.switch_page(PAGE)
    app.run()
    assert not app.exception, app.exception

    (section,) = [e for e in app.expander if e.label == SECTION_LABEL]
    # Closed: not one correction button nor the entries' picker is drawn (nor read).
    assert not [b for b in app.button if b.key and b.key.startswith("corr.")]
    assert not [s for s in app.selectbox if s.key and s.key.startswith("corr.")]
    assert not section.children

    app.session_state[section_key(admission(ward_db))] = True  # what the click sends
    app.run()
    assert not app.exception, app.exception
    assert app.selectbox(key=f"corr.group.{admission(ward_db)}").value is not None
    assert [b for b in app.button if b.key and b.key.startswith("corr.obs.")]


URINE, HR = "9187-6", "8867-4"


def nurse_urine(db: Database, period_h: float = 4) -> int:
    """The nurse's bedside urine on DEMO-001, 350 mL over `period_h`, a minute ago; its row id."""
    result = record_observations(
        db,
        admission(db),
        [Entry(URINE, 350, "mL", period_h)],
        datetime.now(UTC) - timedelta(minutes=1),
        user(db, "nurse"),
        f"urine-{period_h}",
    )
    (row_id,) = result.observation_ids
    return row_id


def period_box(app: AppTest, row_id: int) -> list[float | None]:
    """The value of the observation's open form's period box, [] when it has none."""
    key = f"corr.obs.{row_id}.0.period"
    return [n.value for n in app.number_input if n.key == key]


def test_the_period_box_is_there_for_a_urine_entry_and_absent_for_a_heart_rate(
    ward_db: Database,
) -> None:
    urine = nurse_urine(ward_db)
    (hr,) = record_observations(
        ward_db,
        admission(ward_db),
        [Entry(HR, 88, "/min")],
        datetime.now(UTC) - timedelta(minutes=1),
        user(ward_db, "nurse"),
        "hr-1",
    ).observation_ids
    app = open_chart("nurse")
    open_form(app, urine)
    box = app.number_input(key=f"corr.obs.{urine}.0.period")
    assert (box.label, box.value) == ("Collection period (h)", 4)
    assert app.text_input(key=f"corr.obs.{urine}.0.value").value == "350"
    press(app, urine, "cancel")
    open_form(app, hr)
    assert form_widgets(app, hr)  # the HR form is open ...
    assert period_box(app, hr) == []  # ... without a period box
    assert not [n for n in app.number_input if n.key and n.key.startswith("corr.")]


def test_a_nurse_corrects_the_period_alone_and_the_original_is_kept(
    ward_db: Database,
) -> None:
    row_id = nurse_urine(ward_db)
    app = open_chart("nurse")
    open_form(app, row_id)
    app.number_input(key=f"corr.obs.{row_id}.0.period").set_value(8)
    app.text_input(key=f"corr.obs.{row_id}.0.reason").input("collected over 8 h")
    press(app, row_id)
    assert not app.error, [e.value for e in app.error]
    now = stored(ward_db, row_id)
    assert now.id != row_id
    assert (now.period_h, now.value, now.entered_value) == (8, 350, "350")
    with ward_db.read_session() as session:
        original = session.get_one(Observation, row_id)
        assert (original.period_h, original.value, original.status) == (4, 350, "final")
    lines = [shown(m) for m in markdown(app) if "Urine 350 mL" in shown(m)]
    assert any(line.startswith("~~Urine 350 mL over 4 h~~ · recorded by") for line in lines), lines
    assert any(
        line.startswith("**Urine 350 mL over 8 h** · corrected by Test Nurse")
        and line.endswith(": collected over 8 h")
        for line in lines
    ), lines


def test_a_period_form_with_nothing_changed_is_refused_as_before(ward_db: Database) -> None:
    row_id = nurse_urine(ward_db)
    rows = count(ward_db, Observation)
    app = open_chart("nurse")
    open_form(app, row_id)
    app.text_input(key=f"corr.obs.{row_id}.0.reason").input("checking")
    press(app, row_id)
    errors = [shown(e.value) for e in app.error]
    assert any("New value: is the same as recorded: nothing to correct" in e for e in errors), (
        errors
    )
    assert count(ward_db, Observation) == rows


def test_a_period_of_24_h_is_accepted(ward_db: Database) -> None:
    row_id = nurse_urine(ward_db)
    app = open_chart("nurse")
    open_form(app, row_id)
    app.number_input(key=f"corr.obs.{row_id}.0.period").set_value(24)
    app.text_input(key=f"corr.obs.{row_id}.0.reason").input("the day's bag")
    press(app, row_id)
    assert not app.error, [e.value for e in app.error]
    assert stored(ward_db, row_id).period_h == 24


@pytest.mark.parametrize("period", [24.5, 0.0])
def test_a_period_out_of_range_is_refused_naming_it_and_keeps_what_was_typed(
    ward_db: Database, period: float
) -> None:
    row_id = nurse_urine(ward_db)
    rows = count(ward_db, Observation)
    app = open_chart("nurse")
    open_form(app, row_id)
    app.number_input(key=f"corr.obs.{row_id}.0.period").set_value(period)
    app.text_input(key=f"corr.obs.{row_id}.0.reason").input("wrong period")
    press(app, row_id)
    errors = [shown(e.value) for e in app.error]
    assert (
        "Not saved. Collection period: must be a number of hours above 0 and at most 24" in errors
    ), errors
    assert count(ward_db, Observation) == rows
    assert period_box(app, row_id) == [period]
    assert app.text_input(key=f"corr.obs.{row_id}.0.reason").value == "wrong period"
