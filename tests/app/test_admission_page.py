"""The admission page, through AppTest: admit a patient, then the eligibility flags, which a
physician acknowledges (with a reason) before the first dose can be given."""

from __future__ import annotations

import re
from typing import Any

from streamlit.testing.v1 import AppTest

from dashboard.flag_forms import REASON_LABEL
from il2_tox.services.bedside import eligibility_acknowledged
from il2_tox.services.course_io import list_admissions
from il2_tox.store import Database
from tests.app.conftest import PAGES, signed_in_app

PAGE = "app_pages/admission.py"


def open_admission(role: str = "nurse") -> AppTest:
    app = signed_in_app(role)
    app.switch_page(PAGE)
    app.run()
    assert not app.exception, app.exception
    return app


def shown(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def by_label(widgets: Any, label: str) -> Any:
    (found,) = [w for w in widgets if w.label == label]
    return found


def fill(app: AppTest, mrn: str = "NEW-001", steroids: str | None = "no") -> None:
    by_label(app.text_input, "MRN").input(mrn)
    by_label(app.text_input, "Name (family, given)").input("New, Patient")
    by_label(app.text_input, "Bed").input("12")
    by_label(app.number_input, "Pre-treatment weight (kg)").set_value(70.5)
    by_label(app.number_input, "Usual SBP (mmHg)").set_value(118)
    by_label(app.radio, "Brain metastases").set_value("none")
    if steroids is not None:
        by_label(app.radio, "Systemic steroids now").set_value(steroids)
    by_label(app.selectbox, "ECOG").set_value(0)


def admit(app: AppTest) -> AppTest:
    next(b for b in app.button if b.label == "Admit patient").click()
    app.run()
    assert not app.exception, app.exception
    return app


def admission_of(db: Database, mrn: str) -> int | None:
    return next((a.admission_id for a in list_admissions(db) if a.patient_id == mrn), None)


def test_it_admits_a_patient_without_eligibility_flags(ward_db: Database) -> None:
    app = open_admission()
    fill(app)
    admit(app)
    assert admission_of(ward_db, "NEW-001") is not None
    successes = [shown(s.value) for s in app.success]
    assert "Admitted New, Patient (NEW-001)." in successes
    assert any(s.startswith("No eligibility flag is pending") for s in successes)
    assert by_label(app.text_input, "MRN").value == ""  # an empty form for the next


def test_it_refuses_an_admission_without_the_pre_treatment_weight_at_that_field(
    ward_db: Database,
) -> None:
    app = open_admission()
    fill(app)
    by_label(app.number_input, "Pre-treatment weight (kg)").set_value(None)
    admit(app)
    assert any(shown(e.value).startswith("Pre-treatment weight is required") for e in app.error)
    assert admission_of(ward_db, "NEW-001") is None
    assert by_label(app.text_input, "MRN").value == "NEW-001"  # kept


def test_it_refuses_a_value_the_course_format_refuses_naming_the_field(
    ward_db: Database,
) -> None:
    app = open_admission()
    fill(app)
    by_label(app.number_input, "Usual SBP (mmHg)").set_value(20)
    admit(app)
    assert any(shown(e.value).startswith("Usual SBP ") for e in app.error)
    assert admission_of(ward_db, "NEW-001") is None


def test_the_first_dose_is_blocked_until_a_physician_acknowledges_the_eligibility_flags(
    ward_db: Database,
) -> None:
    app = open_admission("nurse")
    fill(app, steroids="yes")
    admit(app)
    blocked = [shown(e.value) for e in app.error if "First dose blocked" in shown(e.value)]
    assert blocked and blocked[0].startswith("First dose blocked until a physician acknowledges: ")
    assert not [t for t in app.text_area if t.label == REASON_LABEL]  # a nurse cannot acknowledge
    assert not [b for b in app.button if b.label == "Acknowledge"]
    aid = admission_of(ward_db, "NEW-001")
    assert aid is not None and not eligibility_acknowledged(ward_db, aid)


def test_a_physician_acknowledges_the_eligibility_flags_on_the_spot(ward_db: Database) -> None:
    app = open_admission("physician")
    fill(app, steroids="yes")
    admit(app)
    by_label(app.text_area, REASON_LABEL).input("prednisolone 5 mg for adrenal replacement")
    next(b for b in app.button if b.label == "Acknowledge").click()
    app.run()
    assert not app.exception, app.exception
    aid = admission_of(ward_db, "NEW-001")
    assert aid is not None and eligibility_acknowledged(ward_db, aid)
    assert any(shown(s.value).startswith("No eligibility flag is pending") for s in app.success)


def test_it_refuses_a_signed_out_visitor(ward_db: Database) -> None:
    app = AppTest.from_file(str(PAGES / "admission.py"), default_timeout=60)
    app.run()
    assert any("signed out" in e.value for e in app.error)
    assert len(app.text_input) == 0
