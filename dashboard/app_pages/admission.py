"""Admit patient: identity, baselines, history and prior ICI toxicities; then the eligibility
flags, which a physician acknowledges (with a reason) before the first dose can be given.

UI only: the form's values become the course's types in `dashboard.admission_form`; the
service `admit_patient` checks them exactly as a course file and stores them.
"""

from __future__ import annotations

from datetime import date, datetime, time

import pandas as pd
import streamlit as st

from dashboard import admission_form as af
from dashboard import auth, context
from dashboard.flag_forms import flag_card
from dashboard.text import plain
from il2_tox.course import IRAE_ORGANS
from il2_tox.services.bedside import (
    active_acknowledgements,
    admit_patient,
    pending_eligibility_flags,
)
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.users import SignedIn

SEXES = ("female", "male", "other", "unknown")
BRAIN_METASTASES = {
    "none": "none",
    "treated_stable": "treated, stable",
    "untreated_or_active": "untreated or active",
}
SPO2_TARGETS = {"94-98": "94–98 %", "88-92": "88–92 % (hypercapnic risk)"}
ERRORS = "admit.errors"
ADMITTED = "admit.admitted"  # the admission id made in this session, shown with its flags
GEN = af.GEN


def _key(name: str) -> str:
    return f"admit.{st.session_state.get(GEN, 0)}.{name}"


def _value(name: str) -> object:
    return st.session_state.get(_key(name))


@auth.guarded("Admission (Admit patient)")
def _admit(user: SignedIn) -> None:
    """Build the admission from the form and store it; keep the refusal or the admission."""
    day, clock = _value("admitted_date"), _value("admitted_time")
    admitted_at = (
        datetime.combine(day, clock, tzinfo=context.ward_timezone())
        if isinstance(day, date) and isinstance(clock, time)
        else None
    )
    names = (
        "patient.id",
        "patient.name",
        "patient.sex",
        "patient.birth_date",
        "patient.height_cm",
        "patient.weight_kg",
        "admission.ward",
        "admission.bed",
        "admission.usual_sbp_mmhg",
        "admission.spo2_target",
        "admission.regimen_iu_per_kg",
        "history.brain_metastases",
        "history.systemic_steroids",
        "history.ecog",
        "history.prior_therapies",
    )
    values: dict[str, object] = {name: _value(name) for name in names}
    values["admission.admitted_at"] = admitted_at
    missing = af.required_missing(values)
    if missing:
        st.session_state[ERRORS] = missing
        return
    base, _warnings = af.rows_from_draft(st.session_state.get(af.TOXICITY_DRAFT))
    rows = af.edited_rows(st.session_state.get(_table_key()), base)
    try:
        new = af.new_admission(values, rows)
    except Refused as refusal:  # a date that is not a date
        st.session_state[ERRORS] = _placed(refusal, af.toxicity_rows(rows))
        return
    try:
        admitted = admit_patient(
            context.database(),
            patient=new.patient,
            admission=new.admission,
            history=new.history,
            prior_toxicities=new.prior_toxicities,
            actor=user,
            rules=context.rules(),
        )
    except Refused as refusal:
        st.session_state[ERRORS] = _placed(refusal, new.toxicity_rows)
        return
    except PermissionDenied as denied:
        st.session_state[ERRORS] = {"_general": str(denied)}
        return
    st.session_state.pop(ERRORS, None)
    st.session_state[ADMITTED] = (admitted.admission_id, new.patient.id, new.patient.name)
    st.session_state[GEN] = st.session_state.get(GEN, 0) + 1  # an empty form for the next
    st.session_state.pop(af.TOXICITY_DRAFT, None)  # ...with an empty table


def _placed(refusal: Refused, toxicity_rows: tuple[int, ...]) -> dict[str, str]:
    """Return each refusal keyed by the form field it is shown under."""
    errors: dict[str, str] = {}
    for name, message in refusal.errors.items():
        field, label = af.field_of(name, toxicity_rows)
        errors[field] = f"{label}: {message}" if field == "prior_toxicities" else message
    return errors


def _table_key() -> str:
    return af.table_key(st.session_state.to_dict())


EMPTY_TABLE = pd.DataFrame(
    {
        "agent": pd.Series(dtype="string"),
        "organ": pd.Series(dtype="string"),
        "grade": pd.Series(dtype="Int64"),
        "onset": pd.Series(dtype="object"),
        "resolved": pd.Series(dtype="object"),
        "steroids": pd.Series(dtype="boolean"),
        "note": pd.Series(dtype="string"),
    }
)


def _starting_table(rows: list[dict[str, object]]) -> pd.DataFrame:
    """Return the table editor's starting data: the rows kept by an idle sign-out, or none."""
    if not rows:
        return EMPTY_TABLE
    frame = pd.DataFrame(rows, columns=list(af.TOXICITY_COLUMNS))
    return frame.astype(EMPTY_TABLE.dtypes.to_dict())


def _error(errors: dict[str, str], name: str, label: str) -> None:
    if name in errors:
        st.error(plain(f"{label} {errors[name]}"), icon=":material/error:")


def _form(user: SignedIn) -> None:
    errors: dict[str, str] = st.session_state.get(ERRORS, {})
    now = context.now().astimezone(context.ward_timezone())
    form = f"admit.form.{st.session_state.get(GEN, 0)}"
    with st.form(form, enter_to_submit=False):
        st.markdown("**Patient**")
        mrn_col, name_col, sex_col, born_col = st.columns(4)
        with mrn_col:
            st.text_input("MRN", key=_key("patient.id"), max_chars=64)
            _error(errors, "patient.id", "MRN")
        with name_col:
            st.text_input("Name (family, given)", key=_key("patient.name"), max_chars=200)
            _error(errors, "patient.name", "Name")
        with sex_col:
            st.selectbox("Sex", SEXES, index=None, key=_key("patient.sex"))
            _error(errors, "patient.sex", "Sex")
        with born_col:
            st.date_input(
                "Birth date",
                value=None,
                min_value=date(1900, 1, 1),
                max_value=now.date(),
                key=_key("patient.birth_date"),
                format="DD/MM/YYYY",
            )
            _error(errors, "patient.birth_date", "Birth date")
        height, weight, _, _ = st.columns(4)
        with height:
            st.number_input(
                "Height (cm)", value=None, step=1.0, format="%g", key=_key("patient.height_cm")
            )
            _error(errors, "patient.height_cm", "Height")
        with weight:
            st.number_input(
                "Pre-treatment weight (kg)",
                value=None,
                step=0.1,
                format="%g",
                key=_key("patient.weight_kg"),
            )
            _error(errors, "patient.weight_kg", "Pre-treatment weight")

        st.markdown("**Admission**")
        day, clock, ward, bed = st.columns(4)
        day.date_input(
            "Admission date", value=now.date(), key=_key("admitted_date"), format="DD/MM/YYYY"
        )
        clock.time_input(
            f"Admission time ({context.ward_timezone().key})",
            value=time(now.hour, now.minute),
            step=60,
            key=_key("admitted_time"),
        )
        with day:
            _error(errors, "admission.admitted_at", "Admission time")
        with ward:
            st.text_input("Ward", key=_key("admission.ward"), max_chars=40)
            _error(errors, "admission.ward", "Ward")
        with bed:
            st.text_input("Bed", key=_key("admission.bed"), max_chars=40)
            _error(errors, "admission.bed", "Bed")
        sbp, target, regimen, _ = st.columns(4)
        with sbp:
            st.number_input(
                "Usual SBP (mmHg)",
                value=None,
                step=1.0,
                format="%g",
                key=_key("admission.usual_sbp_mmhg"),
            )
            _error(errors, "admission.usual_sbp_mmhg", "Usual SBP")
        with target:
            st.radio(
                "SpO2 target",
                tuple(SPO2_TARGETS),
                format_func=SPO2_TARGETS.__getitem__,
                key=_key("admission.spo2_target"),
            )
        with regimen:
            st.number_input(
                "Regimen (IU/kg per dose)",
                value=600_000,
                step=10_000,
                key=_key("admission.regimen_iu_per_kg"),
            )
            _error(errors, "admission.regimen_iu_per_kg", "Regimen")

        st.markdown("**History**")
        brain, steroids, ecog, therapies = st.columns(4)
        with brain:
            st.radio(
                "Brain metastases",
                tuple(BRAIN_METASTASES),
                index=None,
                format_func=BRAIN_METASTASES.__getitem__,
                key=_key("history.brain_metastases"),
            )
            _error(errors, "history.brain_metastases", "Brain metastases")
        with steroids:
            st.radio(
                "Systemic steroids now",
                ("no", "yes"),
                index=None,
                horizontal=True,
                key=_key("history.systemic_steroids"),
            )
        with ecog:
            st.selectbox("ECOG", (0, 1, 2, 3, 4), index=None, key=_key("history.ecog"))
            _error(errors, "history.ecog", "ECOG")
        with therapies:
            st.text_area(
                "Prior therapies (one per line or comma-separated)",
                key=_key("history.prior_therapies"),
                height=80,
            )
            for name, message in errors.items():
                if name.startswith("history.prior_therapies"):
                    st.error(plain(f"Prior therapies: {message}"))

        st.markdown(
            "**Prior immune-checkpoint-inhibitor toxicities** (blank resolved = not resolved)"
        )
        kept, warnings = af.rows_from_draft(st.session_state.get(af.TOXICITY_DRAFT))
        for warning in warnings:
            st.warning(plain(warning), icon=":material/warning:")
        st.data_editor(
            _starting_table(kept),
            num_rows="dynamic",
            key=_table_key(),
            width="stretch",
            hide_index=True,
            column_config={
                "agent": st.column_config.TextColumn("Agent", max_chars=200),
                "organ": st.column_config.SelectboxColumn("Organ", options=list(IRAE_ORGANS)),
                "grade": st.column_config.NumberColumn(
                    "Grade (CTCAE)", min_value=1, max_value=5, step=1
                ),
                "onset": st.column_config.DateColumn("Onset"),
                "resolved": st.column_config.DateColumn("Resolved"),
                "steroids": st.column_config.CheckboxColumn("Steroids"),
                "note": st.column_config.TextColumn("Note", max_chars=2000),
            },
        )
        _error(errors, "prior_toxicities", "")
        _error(errors, "_general", "")
        for name, message in errors.items():
            if not name.startswith(
                ("patient.", "admission.", "history.", "prior_toxicities", "_general")
            ):
                st.error(plain(f"{name}: {message}"))
        st.form_submit_button(
            "Admit patient",
            type="primary",
            icon=":material/person_add:",
            on_click=_admit,
            args=(user,),
        )
        auth.keep_draft_button(form)


def _eligibility(user: SignedIn) -> None:
    admitted = st.session_state.get(ADMITTED)
    if admitted is None:
        return
    admission_id, mrn, name = admitted
    db = context.database()
    rules = context.rules()
    st.success(plain(f"Admitted {name or mrn} ({mrn})."))
    now = context.now()
    pending = pending_eligibility_flags(db, admission_id, now, rules=rules)
    if not pending:
        st.success(
            "No eligibility flag is pending: the first dose can be recorded (Bedside entry)."
        )
        return
    st.error(
        plain(
            "First dose blocked until a physician acknowledges: "
            + "; ".join(flag.message for flag in pending)
        ),
        icon=":material/block:",
    )
    acknowledged = active_acknowledgements(db, admission_id, now)
    for flag in pending:
        key = f"ack.{admission_id}.{flag.code}.{flag.time.timestamp():.0f}"
        flag_card(user, admission_id, flag, acknowledged, key=key)


user = auth.require_role("nurse", "physician")
st.title("Admit patient", anchor=False)
_eligibility(user)
_form(user)
