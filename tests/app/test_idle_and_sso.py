"""The idle timeout and single sign-on, through AppTest with an injected clock.

Idle: signed out once 15 minutes have passed since the last activity (not at 14:59); what the
forms held comes back to the same user after they sign in again, never to another user. A save
that reaches the server at or after the timeout (before the sidebar check noticed) is not
saved: it signs out, and what was submitted comes back to that user with a "not saved" notice.
Single sign-on: offered only when the secrets have an `[auth]` section; an identity signs in as
the account it is mapped to.
"""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from dashboard import auth
from dashboard.auth import LAST_ACTIVE, SESSION_KEY, SSO_BUTTON
from il2_tox.services.drafts import split_draft, take_draft
from il2_tox.services.users import SystemActor, authenticate, set_active, set_sso_subject
from il2_tox.store import Database
from il2_tox.store.models import (
    AuditEvent,
    Dose,
    FlagAcknowledgement,
    Observation,
    PriorToxicity,
)
from tests.app import test_admission_page as admission_page
from tests.app import test_corrections_page as corrections_page
from tests.app import test_flags_page as flags_page
from tests.app.conftest import APP, PASSWORD, REPO, sign_in, signed_in_app

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


# -- "Keep as draft": typed values reach the server before the sign-out, without being activity --

KEEP = "Keep as draft"


def keep(app: AppTest, form: str) -> AppTest:
    """Press the Keep button of the entry form `form` ("obs", "dose", "labs") or the admission
    form ("admit"), as the browser's script does before the timeout."""
    (button,) = [b for b in app.button if b.label == KEEP and f".{form}." in b.key + "."]
    button.click()
    app.run()
    assert not app.exception, app.exception
    return app


def typed_and_kept(clock: Clock, at: timedelta) -> AppTest:
    """Nurse opens DEMO-001's entry at T0 (her last activity), types SBP 84 and HR 121 without
    saving, and the set's Keep button is pressed `at` later."""
    app = signed_in_app("nurse")
    app.query_params["patient"] = "DEMO-001"
    app.switch_page(ENTRY)
    app.run()
    number(app, SBP_LABEL).set_value(84.0)
    number(app, HR_LABEL).set_value(121.0)
    clock.at = T0 + at
    return keep(app, "obs")


def test_every_entry_form_has_a_keep_button(ward_db: Database) -> None:
    app = signed_in_app("nurse")
    app.query_params["patient"] = "DEMO-001"
    app.switch_page(ENTRY)
    app.run()
    kept = sorted(b.key.split(".")[4] for b in app.button if b.label == KEEP)
    assert kept == ["dose", "labs", "obs"]
    app = admission_page.open_admission()
    assert [b.key.startswith("auth.keep.admit.form.") for b in app.button if b.label == KEEP] == [
        True
    ]


def test_keep_as_draft_saves_nothing_and_is_not_activity(ward_db: Database, clock: Clock) -> None:
    before = observations(ward_db)
    app = typed_and_kept(clock, timedelta(minutes=14, seconds=40))
    assert SESSION_KEY in app.session_state
    assert app.session_state[LAST_ACTIVE] == T0  # not moved by the press
    assert "Kept as a draft (not saved)." in [i.value for i in app.info]
    assert (number(app, SBP_LABEL).value, number(app, HR_LABEL).value) == (84.0, 121.0)
    assert observations(ward_db) == before
    assert audit(ward_db, "record_observations") == []
    clock.at = T0 + timedelta(minutes=14, seconds=59)
    keep(app, "obs")  # a second press 1 s before the timeout: still not activity
    assert SESSION_KEY in app.session_state
    assert app.session_state[LAST_ACTIVE] == T0


def test_after_a_keep_the_sign_out_still_comes_at_15_00_with_the_values_kept(
    ward_db: Database, clock: Clock
) -> None:
    before = observations(ward_db)
    app = typed_and_kept(clock, timedelta(minutes=14, seconds=40))
    clock.at = T0 + timedelta(minutes=15)
    keep(app, "obs")  # the press itself at 15:00 signs out, as any run
    assert SESSION_KEY not in app.session_state
    assert [i.value for i in app.info] == [
        "You were signed out after 15 minutes without activity. What your forms held is kept "
        "and comes back when you sign in again."
    ]
    ((_, after),) = audit(ward_db, "sign_out")
    assert after["draft_values"] >= 2 and "unsaved" not in after  # a keep is no save
    assert observations(ward_db) == before


def test_kept_values_come_back_to_the_same_nurse_not_saved(ward_db: Database, clock: Clock) -> None:
    before = observations(ward_db)
    app = typed_and_kept(clock, timedelta(minutes=14, seconds=40))
    clock.at = T0 + timedelta(minutes=15)
    app.run()  # the sidebar's check
    assert SESSION_KEY not in app.session_state
    clock.at = T0 + timedelta(minutes=40)
    sign_in(app, "nurse")
    (notice,) = [i.value for i in app.sidebar.info]
    assert "They were not saved: check them, then save." in notice
    app.switch_page(ENTRY)
    app.run()
    assert not app.exception, app.exception
    assert (number(app, SBP_LABEL).value, number(app, HR_LABEL).value) == (84.0, 121.0)
    assert wristband(app).value is False
    assert observations(ward_db) == before


def test_bedside_entry_opens_on_the_patient_whose_form_was_kept(
    ward_db: Database, clock: Clock
) -> None:
    """Signed in again from a fresh address (no patient in it), the nurse finds the kept
    values at once, on the patient they were typed for, not on the first bed's empty form."""
    app = signed_in_app("nurse")
    app.query_params["patient"] = "DEMO-003"
    app.switch_page(ENTRY)
    app.run()
    number(app, SBP_LABEL).set_value(84.0)
    clock.at = T0 + timedelta(minutes=14, seconds=40)
    keep(app, "obs")
    clock.at = T0 + timedelta(minutes=15)
    app.run()
    assert SESSION_KEY not in app.session_state
    sign_in(app, "nurse")
    app.query_params.clear()
    app.switch_page(ENTRY)
    app.run()
    assert not app.exception, app.exception
    assert app.selectbox[0].value == "DEMO-003"
    assert number(app, SBP_LABEL).value == 84.0


def test_kept_values_are_never_shown_to_another_user(ward_db: Database, clock: Clock) -> None:
    app = typed_and_kept(clock, timedelta(minutes=14, seconds=40))
    clock.at = T0 + timedelta(minutes=15)
    app.run()
    sign_in(app, "physician")
    assert not [i.value for i in app.sidebar.info]
    app.switch_page(ENTRY)
    app.run()
    assert (number(app, SBP_LABEL).value, number(app, HR_LABEL).value) == (None, None)
    nurse = authenticate(ward_db, "nurse", PASSWORD)
    assert nurse is not None
    kept = take_draft(ward_db, nurse)
    assert kept is not None
    assert {84.0, 121.0} <= set(split_draft(kept)[0].values())


def test_a_kept_admission_comes_back_not_admitted(ward_db: Database, clock: Clock) -> None:
    app = admission_page.open_admission()
    admission_page.fill(app, mrn="KEPT-001")
    clock.at = T0 + timedelta(minutes=14, seconds=30)
    keep(app, "admit")
    assert app.session_state[LAST_ACTIVE] == T0
    clock.at = T0 + timedelta(minutes=15)
    app.run()
    assert SESSION_KEY not in app.session_state
    assert admission_page.admission_of(ward_db, "KEPT-001") is None
    sign_in(app, "nurse")
    app.switch_page(admission_page.PAGE)
    app.run()
    assert admission_page.by_label(app.text_input, "MRN").value == "KEPT-001"
    assert admission_page.admission_of(ward_db, "KEPT-001") is None


# -- the admission form's table of prior toxicities -------------------------------------------

TWO_TOXICITIES = {
    "edited_rows": {},
    "added_rows": [
        {
            "agent": "nivolumab",
            "organ": "colitis",
            "grade": 3,
            "onset": "2025-01-02",
            "resolved": "2025-02-10",
            "steroids": True,
            "note": "budesonide",
        },
        {"agent": "ipilimumab", "organ": "hepatitis", "grade": 1, "steroids": False},
        {},  # the editor's empty last row
    ],
    "deleted_rows": [],
}


def admission_typed_and_signed_out(clock: Clock, mrn: str, table: dict[str, Any] | None) -> AppTest:
    """Nurse fills the admission form (MRN `mrn`), types `table` into the prior-toxicity
    editor (its delta, as the browser sends it), the Keep button is pressed at 14:30 and the
    sidebar check signs her out at 15:00."""
    app = admission_page.open_admission()
    admission_page.fill(app, mrn=mrn)
    if table is not None:
        app.session_state["admit.0.toxicity_table"] = table
    clock.at = T0 + timedelta(minutes=14, seconds=30)
    keep(app, "admit")
    clock.at = T0 + timedelta(minutes=15)
    app.run()
    assert SESSION_KEY not in app.session_state
    return app


def toxicity_editor(app: AppTest) -> Any:
    (editor,) = app.dataframe
    return editor.value


def prior_toxicities(db: Database, mrn: str) -> list[tuple[Any, ...]]:
    aid = admission_page.admission_of(db, mrn)
    assert aid is not None
    with db.read_session() as session:
        query = (
            select(PriorToxicity)
            .where(PriorToxicity.admission_id == aid)
            .order_by(PriorToxicity.id)
        )
        return [
            (t.agent, t.irae, t.grade, t.onset, t.resolved, t.steroids, t.note)
            for t in session.scalars(query)
        ]


def test_the_prior_toxicity_rows_come_back_typed_and_are_admitted(
    ward_db: Database, clock: Clock
) -> None:
    app = admission_typed_and_signed_out(clock, "TOX-001", TWO_TOXICITIES)
    sign_in(app, "nurse")
    (notice,) = [i.value for i in app.sidebar.info]
    assert " and 2 table row(s) of prior toxicities your forms held" in notice
    app.switch_page(admission_page.PAGE)
    app.run()
    assert not app.exception, app.exception
    assert not app.warning
    table = toxicity_editor(app)
    assert list(table["agent"]) == ["nivolumab", "ipilimumab"]
    assert list(table["organ"]) == ["colitis", "hepatitis"]
    assert list(table["grade"]) == [3, 1] and str(table["grade"].dtype) == "Int64"
    assert table["onset"][0] == date(2025, 1, 2) and table["resolved"][0] == date(2025, 2, 10)
    assert pd.isna(table["onset"][1]) and pd.isna(table["resolved"][1])
    assert list(table["steroids"]) == [True, False]
    assert table["note"][0] == "budesonide" and pd.isna(table["note"][1])
    assert admission_page.admission_of(ward_db, "TOX-001") is None
    admission_page.admit(app)
    assert prior_toxicities(ward_db, "TOX-001") == [
        ("nivolumab", "colitis", 3, date(2025, 1, 2), date(2025, 2, 10), True, "budesonide"),
        ("ipilimumab", "hepatitis", 1, None, None, False, None),
    ]
    assert toxicity_editor(app).empty  # the next admission starts with an empty table


def test_kept_prior_toxicity_rows_can_still_be_edited_and_deleted(
    ward_db: Database, clock: Clock
) -> None:
    app = admission_typed_and_signed_out(clock, "TOX-002", TWO_TOXICITIES)
    sign_in(app, "nurse")
    app.switch_page(admission_page.PAGE)
    app.run()
    key = "admit.0.toxicity_table.restored"  # a fresh editor: the old delta is not on top
    assert key in app.session_state and "admit.0.toxicity_table" not in app.session_state
    app.session_state[key] = {
        "edited_rows": {"1": {"grade": 2}},
        "added_rows": [],
        "deleted_rows": [0],
    }
    app.run()
    admission_page.admit(app)
    assert prior_toxicities(ward_db, "TOX-002") == [
        ("ipilimumab", "hepatitis", 2, None, None, False, None)
    ]


def test_an_empty_prior_toxicity_table_keeps_nothing(ward_db: Database, clock: Clock) -> None:
    app = admission_typed_and_signed_out(clock, "TOX-003", None)
    nurse = authenticate(ward_db, "nurse", PASSWORD)
    assert nurse is not None
    kept = take_draft(ward_db, nurse)
    assert kept is not None and kept.get("admit.0.patient.id") == "TOX-003"
    assert "admit.toxicity_rows" not in kept
    assert not any("toxicity" in key for key in kept)
    sign_in(app, "nurse")
    app.switch_page(admission_page.PAGE)
    app.run()
    assert toxicity_editor(app).empty


def test_kept_prior_toxicity_rows_are_never_shown_to_another_user(
    ward_db: Database, clock: Clock
) -> None:
    app = admission_typed_and_signed_out(clock, "TOX-004", TWO_TOXICITIES)
    sign_in(app, "physician")
    assert not [i.value for i in app.sidebar.info]
    app.switch_page(admission_page.PAGE)
    app.run()
    assert not app.exception, app.exception
    assert toxicity_editor(app).empty
    assert "admit.toxicity_rows" not in app.session_state
    nurse = authenticate(ward_db, "nurse", PASSWORD)
    assert nurse is not None
    kept = take_draft(ward_db, nurse)
    assert kept is not None and len(kept["admit.toxicity_rows"]) == 2


def test_a_kept_row_that_cannot_be_read_back_is_in_its_note_with_a_warning(
    ward_db: Database, clock: Clock
) -> None:
    stale = {"edited_rows": {}, "added_rows": [{"agent": "nivolumab", "onset": "spring"}]}
    app = admission_typed_and_signed_out(clock, "TOX-005", {**stale, "deleted_rows": []})
    sign_in(app, "nurse")
    app.switch_page(admission_page.PAGE)
    app.run()
    assert not app.exception, app.exception
    assert [admission_page.shown(w.value) for w in app.warning] == [
        "Prior toxicity row 1: onset 'spring' could not be put back in its column. It is in "
        "the row's note: check the row before admitting."
    ]
    table = toxicity_editor(app)
    assert table["note"][0] == "Not read back from the draft: onset 'spring'"
    assert pd.isna(table["onset"][0])


# -- a save that reaches the server after the timeout -----------------------------------------

SAVE_SET = "Pre-dose observations (Save set)"
WRISTBAND = "I have checked the name and bed"


def observations(db: Database) -> int:
    with db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(Observation)) or 0)


def audit(db: Database, action: str) -> list[tuple[str, Any]]:
    with db.read_session() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return [(event.actor, event.after) for event in session.scalars(query)]


def wristband(app: AppTest) -> Any:
    return next(c for c in app.checkbox if c.label.replace("\\", "").startswith(WRISTBAND))


def save_set_late(ward_db: Database, clock: Clock, idle: timedelta) -> AppTest:
    """Nurse opens DEMO-001's entry at T0 and ticks the wristband check (her last activity),
    types SBP 84 and HR 121, and presses Save set `idle` later with no run in between (the
    sidebar check has not noticed)."""
    app = signed_in_app("nurse")
    app.query_params["patient"] = "DEMO-001"
    app.switch_page(ENTRY)
    app.run()
    wristband(app).check()
    app.run()
    number(app, SBP_LABEL).set_value(84.0)
    number(app, HR_LABEL).set_value(121.0)
    clock.at = T0 + idle
    next(b for b in app.button if b.label == "Save set").click()
    app.run()
    assert not app.exception, app.exception
    return app


def test_a_save_one_second_before_the_timeout_is_saved(ward_db: Database, clock: Clock) -> None:
    before = observations(ward_db)
    app = save_set_late(ward_db, clock, timedelta(minutes=14, seconds=59))
    assert observations(ward_db) == before + 2
    assert SESSION_KEY in app.session_state
    assert app.session_state[LAST_ACTIVE] == clock.at
    assert sign_outs(ward_db) == []


@pytest.mark.parametrize("idle", [timedelta(minutes=15), timedelta(minutes=15, seconds=1)])
def test_a_save_at_or_after_the_timeout_is_not_saved_and_signs_out(
    ward_db: Database, clock: Clock, idle: timedelta
) -> None:
    before = observations(ward_db)
    app = save_set_late(ward_db, clock, idle)
    assert observations(ward_db) == before
    assert audit(ward_db, "record_observations") == []
    assert SESSION_KEY not in app.session_state
    assert [f.label for f in app.text_input] == ["Username", "Password"]
    assert [i.value for i in app.info] == [
        "You were signed out after 15 minutes without activity. Not saved: "
        f"{SAVE_SET}. What your forms held is kept and comes back when you sign in again."
    ]
    assert sign_outs(ward_db) == [("nurse", "idle timeout")]
    ((_, after),) = audit(ward_db, "sign_out")
    assert after["unsaved"] == [SAVE_SET]


def test_an_unsaved_save_comes_back_to_the_same_nurse_with_a_notice_and_saves_then(
    ward_db: Database, clock: Clock
) -> None:
    app = save_set_late(ward_db, clock, timedelta(minutes=15))
    before = observations(ward_db)
    sign_in(app, "nurse")
    assert not app.exception, app.exception
    (notice,) = [i.value for i in app.sidebar.info]
    assert notice.startswith(
        f"Not saved: {SAVE_SET}. You were signed out after 15 minutes without activity before "
        "it reached the server. What you entered is back in the form: check it and save."
    )
    ((_, after),) = audit(ward_db, "restore_draft")
    assert after["unsaved"] == [SAVE_SET]
    app.switch_page(ENTRY)
    app.run()
    assert (number(app, SBP_LABEL).value, number(app, HR_LABEL).value) == (84.0, 121.0)
    assert wristband(app).value is False  # checked again, never carried over
    assert observations(ward_db) == before  # nothing saved by signing in
    wristband(app).check()
    app.run()
    next(b for b in app.button if b.label == "Save set").click()
    app.run()
    assert not app.exception, app.exception
    assert observations(ward_db) == before + 2


def test_an_unsaved_save_is_never_shown_to_another_user(ward_db: Database, clock: Clock) -> None:
    app = save_set_late(ward_db, clock, timedelta(minutes=15, seconds=1))
    sign_in(app, "physician")
    assert not [i.value for i in app.sidebar.info]
    app.switch_page(ENTRY)
    app.run()
    assert (number(app, SBP_LABEL).value, number(app, HR_LABEL).value) == (None, None)
    nurse = authenticate(ward_db, "nurse", PASSWORD)
    assert nurse is not None
    kept = take_draft(ward_db, nurse)
    assert kept is not None
    values, unsaved, minutes = split_draft(kept)
    assert (84.0 in values.values(), 121.0 in values.values()) == (True, True)
    assert (unsaved, minutes) == ([SAVE_SET], 15)


def doses(db: Database) -> int:
    with db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(Dose)) or 0)


def test_a_dose_recorded_after_the_timeout_is_not_recorded(ward_db: Database, clock: Clock) -> None:
    before = doses(ward_db)
    app = signed_in_app("nurse")
    app.query_params["patient"] = "DEMO-003"
    app.switch_page(ENTRY)
    app.run()
    wristband(app).check()
    app.run()
    next(r for r in app.radio if r.label == "Dose").set_value("held")
    next(t for t in app.text_input if t.label.startswith("Reason")).input("SBP 84")
    clock.at = T0 + timedelta(minutes=15)
    next(b for b in app.button if b.label == "Record dose").click()
    app.run()
    assert not app.exception, app.exception
    assert doses(ward_db) == before
    assert audit(ward_db, "record_dose") == []
    ((_, after),) = audit(ward_db, "sign_out")
    assert after["unsaved"] == ["Dose (Record dose)"]
    sign_in(app, "nurse")
    app.switch_page(ENTRY)
    app.run()
    assert next(r for r in app.radio if r.label == "Dose").value == "held"
    assert next(t.value for t in app.text_input if t.label.startswith("Reason")) == "SBP 84"


def test_an_acknowledgement_after_the_timeout_is_not_made(ward_db: Database, clock: Clock) -> None:
    app = flags_page.open_flags()
    reason, _, button = flags_page.first_form(app)
    reason.input("reviewed at the bedside")
    clock.at = T0 + timedelta(minutes=15)
    button.click().run()
    assert not app.exception, app.exception
    assert flags_page.acknowledgements(ward_db) == 0
    assert SESSION_KEY not in app.session_state
    sign_in(app, "physician")
    assert app.sidebar.info[0].value.startswith(
        "Not saved: Flag acknowledgement (Acknowledge). You were signed out after 15 minutes"
    )
    app.query_params["patient"] = "DEMO-003"
    app.switch_page(flags_page.PAGE)
    app.run()
    reason, _, _ = flags_page.first_form(app)
    assert reason.value == "reviewed at the bedside"
    with ward_db.read_session() as session:
        assert session.scalars(select(FlagAcknowledgement)).first() is None


def test_an_admission_after_the_timeout_is_not_made(ward_db: Database, clock: Clock) -> None:
    app = admission_page.open_admission()
    admission_page.fill(app, mrn="LATE-001")
    clock.at = T0 + timedelta(minutes=15)
    admission_page.admit(app)
    assert admission_page.admission_of(ward_db, "LATE-001") is None
    assert SESSION_KEY not in app.session_state
    sign_in(app, "nurse")
    assert app.sidebar.info[0].value.startswith("Not saved: Admission (Admit patient).")
    app.switch_page(admission_page.PAGE)
    app.run()
    assert admission_page.by_label(app.text_input, "MRN").value == "LATE-001"


def test_a_correction_after_the_timeout_is_not_made(ward_db: Database, clock: Clock) -> None:
    row_id = corrections_page.nurse_sbp(ward_db)
    app = corrections_page.open_chart("nurse")
    corrections_page.fill(app, row_id, "94", "misread the cuff")
    clock.at = T0 + timedelta(minutes=15)
    corrections_page.press(app, row_id)
    assert corrections_page.sbp_values(ward_db).count(94) == 0
    assert SESSION_KEY not in app.session_state
    ((_, after),) = audit(ward_db, "sign_out")
    assert after["unsaved"] == ["Correction"]
    sign_in(app, "nurse")
    assert app.sidebar.info[0].value.startswith("Not saved: Correction.")
    app.query_params["patient"] = "DEMO-001"
    app.switch_page(corrections_page.PAGE)
    app.run()
    assert not app.exception, app.exception
    assert app.text_input(key=f"corr.obs.{row_id}.0.value").value == "94"
    assert app.text_input(key=f"corr.obs.{row_id}.0.reason").value == "misread the cuff"
    corrections_page.press(app, row_id)
    assert corrections_page.sbp_values(ward_db).count(94) == 1


def test_every_widget_callback_of_the_dashboard_is_guarded() -> None:
    """A callback runs before the script's idle check: each one must check the timeout itself."""
    unguarded = []
    for path in sorted((REPO / "dashboard").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defs = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            for keyword in call.keywords:
                if keyword.arg not in ("on_click", "on_change", "on_submit"):
                    continue
                if isinstance(keyword.value, ast.Constant):  # "ignore", "rerun"
                    continue
                assert isinstance(keyword.value, ast.Name), ast.unparse(keyword.value)
                decorators = [ast.unparse(d) for d in defs[keyword.value.id].decorator_list]
                if not any(d.startswith("auth.guarded(") for d in decorators):
                    unguarded.append(f"{path.name}: {keyword.value.id}")
    assert unguarded == []


def test_a_guarded_callback_does_nothing_and_is_named_once_timed_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    state: dict[str, Any] = {}
    monkeypatch.setattr(auth.st, "session_state", state)

    @auth.guarded(lambda n: f"form {n}")
    def save(n: int) -> None:
        calls.append(n)

    monkeypatch.setattr(auth, "timed_out", lambda: False)
    monkeypatch.setattr(auth, "current_user", object)
    save(1)
    monkeypatch.setattr(auth, "timed_out", lambda: True)
    save(2)
    assert (calls, state) == ([1], {auth.HELD: ["form 2"]})
    monkeypatch.setattr(auth, "current_user", lambda: None)
    save(3)
    assert (calls, state) == ([1], {auth.HELD: ["form 2"]})  # nobody to hold it for


def test_a_guarded_callback_that_saves_nothing_names_nothing_once_timed_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Opening or closing a form after the timeout: nothing happens, and the notice after the
    next sign-in does not claim that something was not saved."""
    calls: list[int] = []
    state: dict[str, Any] = {}
    monkeypatch.setattr(auth.st, "session_state", state)

    @auth.guarded(None)
    def open_form(n: int) -> None:
        calls.append(n)

    monkeypatch.setattr(auth, "current_user", object)
    monkeypatch.setattr(auth, "timed_out", lambda: False)
    open_form(1)
    monkeypatch.setattr(auth, "timed_out", lambda: True)
    open_form(2)
    assert (calls, state) == ([1], {})


def test_every_fragment_of_the_dashboard_checks_the_timeout_first() -> None:
    """A fragment's rerun skips the app script's idle check: each one must check it itself."""
    unchecked = []
    for path in sorted((REPO / "dashboard").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            if not any("st.fragment" in ast.unparse(d) for d in node.decorator_list):
                continue
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            first = ast.unparse(body[0]) if body else ""
            if first not in ("auth.rerun_if_timed_out()", "rerun_if_timed_out()"):
                unchecked.append(f"{path.name}: {node.name}")
    assert unchecked == []


@pytest.mark.parametrize(
    ("signed_in", "expired", "reruns"),
    [(True, True, ["app"]), (True, False, []), (False, True, [])],
    ids=["timed out", "active", "signed out"],
)
def test_a_fragment_reruns_the_app_only_once_timed_out(
    monkeypatch: pytest.MonkeyPatch, signed_in: bool, expired: bool, reruns: list[str]
) -> None:
    called: list[str] = []

    def rerun(*, scope: str) -> None:
        called.append(scope)

    monkeypatch.setattr(auth, "current_user", object if signed_in else lambda: None)
    monkeypatch.setattr(auth, "timed_out", lambda: expired)
    monkeypatch.setattr(auth, "_revoked", lambda user: None)
    monkeypatch.setattr(auth.st, "rerun", rerun)
    auth.rerun_if_timed_out()
    assert called == reruns


def test_a_fragment_left_open_by_a_disabled_account_signs_it_out(
    ward_db: Database, clock: Clock
) -> None:
    """The ward and chart refresh on their own, in fragments that skip the page's account
    check: the fragments' first call re-reads the account too (every 10 s at most) and signs
    a disabled account out, with its audit entry and a notice on the sign-in form."""
    app = signed_in_app("nurse")
    user = app.session_state[SESSION_KEY]
    admin = authenticate(ward_db, "admin", PASSWORD)
    assert admin is not None
    reruns: list[str] = []
    state: dict[str, Any] = {auth.SESSION_KEY: user, auth.LAST_ACTIVE: clock.at}

    def rerun(*, scope: str) -> None:
        reruns.append(scope)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth.st, "session_state", state)
        patch.setattr(auth.st, "rerun", rerun)
        auth.rerun_if_timed_out()  # allowed: read now, and when remembered
        assert (reruns, state[auth.ACCOUNT_CHECKED]) == ([], clock.at)
        set_active(ward_db, "nurse", False, actor=admin)
        clock.at += auth.ACCOUNT_RECHECK - timedelta(seconds=1)
        auth.rerun_if_timed_out()  # within 10 s of the last read: not read again
        assert reruns == [] and auth.SESSION_KEY in state
        clock.at += timedelta(seconds=1)
        auth.rerun_if_timed_out()
        assert reruns == ["app"]
        assert state == {
            auth.NOTICE: "The account 'nurse' is not active: cannot see this page. "
            "You have been signed out."
        }
    assert sign_outs(ward_db) == [("nurse", "account no longer allowed")]
    # The app's own run (its sidebar check runs before the page's): signed out, told why.
    app.run()
    assert not app.exception, app.exception
    assert SESSION_KEY not in app.session_state
    assert sign_outs(ward_db)[-1] == ("nurse", "account no longer allowed")
    assert [i.value for i in app.info] == [
        "The account 'nurse' is not active: cannot see this page. You have been signed out."
    ]


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


def _keep_scripts(app: AppTest) -> list[str]:
    """Return the keep scripts the sidebar carries (iframes holding `keep_watch_script`)."""
    found = []
    for element in app.sidebar:  # every element in it, nested ones included
        source = getattr(getattr(element, "proto", None), "srcdoc", "")
        if "Keep as draft" in source:
            found.append(source)
    return found


@pytest.mark.parametrize("page", ["ward.py", "patient.py", "entry.py", "flags.py", "admission.py"])
def test_the_keep_script_is_in_the_sidebar_exactly_where_a_form_has_a_keep_button(
    ward_db: Database, page: str
) -> None:
    app = signed_in_app("nurse")
    app.query_params["patient"] = "DEMO-001"
    app.switch_page(f"app_pages/{page}")
    app.run()
    assert not app.exception, app.exception
    has_keep_button = any(b.label == KEEP for b in app.button)
    assert len(_keep_scripts(app)) == (1 if has_keep_button else 0)
    assert has_keep_button == (page in ("entry.py", "admission.py"))
