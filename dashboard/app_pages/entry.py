"""Bedside entry: pick and confirm the patient, record a pre-dose set and see the advice for
the next dose at once, then record the dose; labs by hand or from a file.

UI only. The fields, the set they make and where each refusal belongs come from
`dashboard.entry_form`; storing and every check from `il2_tox.services`. Saves run in button
callbacks, so a refusal is known before the form is drawn and shows under its field; the form
keeps what was typed (a new, empty form only after a save). Nothing here refreshes on its own:
typing is never lost to a rerun.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime, time

import streamlit as st

from dashboard import auth, context, faults
from dashboard import entry_form as ef
from dashboard.text import plain
from il2_tox.assess import assess
from il2_tox.rules.base import DoseAdvice
from il2_tox.services.bedside import (
    DoseResult,
    RecordResult,
    pending_eligibility_flags,
    record_dose,
    record_observations,
)
from il2_tox.services.course_io import (
    AdmissionSummary,
    ImportResult,
    list_admissions,
    load_course_from_db,
)
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.observation_import import (
    CSV_OPTIONAL,
    CSV_REQUIRED,
    CsvImport,
    decode_upload,
    import_course_text,
    import_observation_csv,
)
from il2_tox.services.users import SignedIn

ADVICE_COLOUR = {"hold": "red", "caution": "orange", "give": "green"}
DOSE_STATUS = {"given": "Given", "held": "Held", "not_given": "Not given"}
CONFIRM_FIRST = "tick the name-and-bed check above first"
SETS = ("obs", "labs")  # the two observation forms: pre-dose set, labs


def _label(item: AdmissionSummary) -> str:
    return f"{item.bed or '–'} · {item.name or item.patient_id} ({item.patient_id})"


def _bed_order(item: AdmissionSummary) -> tuple[str, int, str]:
    bed = item.bed or ""
    return (item.ward or "", int(bed) if bed.isdigit() else 10**6, bed)


# ---------------------------------------------------------------------------------------------
# Session state: per patient (admission id) and per form generation (a new one after a save)


def _gen(form: str, aid: int) -> int:
    return int(st.session_state.get(f"entry.gen.{form}.{aid}", 0))


def _widget(form: str, aid: int, gen: int, name: str) -> str:
    return f"entry.{form}.{aid}.{gen}.{name}"


def _form_key(form: str, aid: int, gen: int) -> str:
    return f"entry.form.{form}.{aid}.{gen}"


def _idempotency_key(form: str, aid: int, gen: int) -> str:
    """The key of one rendered form: a repeated submission of it (double click) stores nothing
    twice. Kept per generation, so a late second click still carries its form's key."""
    name = f"entry.key.{form}.{aid}.{gen}"
    if name not in st.session_state:
        st.session_state[name] = uuid.uuid4().hex
    key: str = st.session_state[name]
    return key


def _confirmed(aid: int) -> bool:
    return bool(st.session_state.get(f"entry.confirm.{aid}"))


def _fields(form: str) -> tuple[ef.Field, ...]:
    if form == "labs":
        return ef.lab_fields(st.session_state.get("entry.lab_units", "conventional"))
    return (
        ef.vital_fields(
            st.session_state.get("entry.temperature_unit", "Cel"),
            st.session_state.get("entry.weight_unit", "kg"),
        )
        + ef.ASSESSMENT_FIELDS
    )


def _when(form: str, aid: int, gen: int) -> datetime | None:
    day = st.session_state.get(_widget(form, aid, gen, "date"))
    clock = st.session_state.get(_widget(form, aid, gen, "time"))
    return ef.observed_at(day, clock, context.ward_timezone())


# ---------------------------------------------------------------------------------------------
# Callbacks (run before the page is drawn)


def _set_name(form: str, *_args: object) -> str:
    return "Labs (Save labs)" if form == "labs" else "Pre-dose observations (Save set)"


@auth.guarded(_set_name)
def _save_set(form: str, aid: int, gen: int, user: SignedIn, baseline: float, anyway: bool) -> None:
    """Check and store one observation form; keep refusals, warnings or the result."""
    fields = _fields(form)
    values = {f.key: st.session_state.get(_widget(form, aid, gen, f.key)) for f in fields}
    errors = ef.local_errors(values, fields)
    when = _when(form, aid, gen)
    if when is None:
        errors[ef.TIME] = "enter the date and time it was measured"
    if not _confirmed(aid):
        errors[ef.GENERAL] = CONFIRM_FIRST
    entries = ef.entries(values, fields)
    if errors:
        st.session_state[f"entry.errors.{form}.{aid}"] = errors
        return
    unusual = ef.unusual(values, fields, baseline)
    picture = ef.submission(entries, when)
    asked = st.session_state.get(f"entry.unusual.{form}.{aid}")
    if unusual and not (anyway and asked is not None and asked[0] == picture):
        st.session_state[f"entry.unusual.{form}.{aid}"] = (picture, unusual)
        st.session_state.pop(f"entry.errors.{form}.{aid}", None)
        return
    assert when is not None
    try:
        result = record_observations(
            context.database(),
            aid,
            entries,
            when,
            user,
            _idempotency_key(form, aid, gen),
            rules=context.rules(),
        )
    except Refused as refusal:
        st.session_state[f"entry.errors.{form}.{aid}"] = ef.errors_by_field(refusal.errors, fields)
        return
    except PermissionDenied as denied:
        st.session_state[f"entry.errors.{form}.{aid}"] = {ef.GENERAL: str(denied)}
        return
    except faults.DATABASE_FAULTS as error:
        st.session_state[f"entry.errors.{form}.{aid}"] = {ef.GENERAL: faults.save_failed(error)}
        return
    st.session_state[f"entry.result.{form}.{aid}"] = (result, ef.stored_lines(entries, fields))
    st.session_state.pop(f"entry.errors.{form}.{aid}", None)
    st.session_state.pop(f"entry.unusual.{form}.{aid}", None)
    st.session_state[f"entry.gen.{form}.{aid}"] = gen + 1  # a new, empty form


@auth.guarded("Dose (Record dose)")
def _save_dose(aid: int, gen: int, user: SignedIn, cycle: int | None) -> None:
    status = st.session_state.get(_widget("dose", aid, gen, "status"))
    reason = st.session_state.get(_widget("dose", aid, gen, "reason")) or ""
    when = _when("dose", aid, gen)
    errors: dict[str, str] = {}
    if status is None:
        errors["status"] = "choose given, held or not given"
    if when is None:
        errors[ef.TIME] = "enter the date and time"
    if not _confirmed(aid):
        errors[ef.GENERAL] = CONFIRM_FIRST
    if errors:
        st.session_state[f"entry.errors.dose.{aid}"] = errors
        return
    assert when is not None and status is not None
    try:
        result = record_dose(
            context.database(),
            aid,
            status=status,
            time=when,
            reason=reason,
            actor=user,
            idempotency_key=_idempotency_key("dose", aid, gen),
            cycle=cycle,
            rules=context.rules(),
        )
    except Refused as refusal:
        st.session_state[f"entry.errors.dose.{aid}"] = {
            (ef.TIME if name == "time" else name): message
            for name, message in refusal.errors.items()
        }
        return
    except PermissionDenied as denied:
        st.session_state[f"entry.errors.dose.{aid}"] = {ef.GENERAL: str(denied)}
        return
    except faults.DATABASE_FAULTS as error:
        st.session_state[f"entry.errors.dose.{aid}"] = {ef.GENERAL: faults.save_failed(error)}
        return
    st.session_state[f"entry.result.dose.{aid}"] = result
    st.session_state.pop(f"entry.errors.dose.{aid}", None)
    st.session_state[f"entry.gen.dose.{aid}"] = gen + 1


# ---------------------------------------------------------------------------------------------
# Drawing


def _error_at(errors: dict[str, str], name: str, prefix: str = "") -> None:
    if name in errors:
        st.error(plain(f"{prefix}{errors[name]}"), icon=":material/error:")


def _time_inputs(form: str, aid: int, gen: int, what: str, errors: dict[str, str]) -> None:
    now = context.now().astimezone(context.ward_timezone())
    day, clock = st.columns(2)
    day.date_input(
        f"{what} date", value=now.date(), key=_widget(form, aid, gen, "date"), format="DD/MM/YYYY"
    )
    clock.time_input(
        f"{what} time ({context.ward_timezone().key})",
        value=time(now.hour, now.minute),
        step=60,
        key=_widget(form, aid, gen, "time"),
    )
    with clock:
        _error_at(errors, ef.TIME, f"{what} time: ")


def _field(f: ef.Field, key: str, errors: dict[str, str], unusual: dict[str, str]) -> None:
    if isinstance(f, ef.ChoiceField):
        options: tuple[str, ...] = (ef.NOT_ASSESSED, *(value for value, _ in f.options))
        st.radio(f.label, options, format_func=f.shown, horizontal=True, key=key)
    else:
        step, fmt = (f.step, f.fmt) if isinstance(f, ef.NumberField) else (0.5, "%g")
        st.number_input(f.label, value=None, step=step, format=fmt, key=key)
    if f.key in errors:
        st.error(plain(ef.field_message(f.label, errors[f.key])), icon=":material/error:")
    elif f.key in unusual:
        st.warning(plain(f"Unusual: {unusual[f.key]}"), icon=":material/warning:")


def _grid(
    fields: Sequence[ef.Field],
    form: str,
    aid: int,
    gen: int,
    errors: dict[str, str],
    unusual: dict[str, str],
    per_row: int,
) -> None:
    by_key = {f.key: f for f in fields}
    rows: Sequence[Sequence[str]]
    if form == "obs" and all(isinstance(f, ef.NumberField | ef.PeriodField) for f in fields):
        rows = ef.VITAL_ROWS
    else:
        keys = [f.key for f in fields]
        rows = [keys[start : start + per_row] for start in range(0, len(keys), per_row)]
    for row in rows:
        for column, name in zip(st.columns(per_row), row, strict=False):
            with column:
                _field(by_key[name], _widget(form, aid, gen, name), errors, unusual)


def _save_buttons(
    form: str, aid: int, gen: int, user: SignedIn, baseline: float, label: str
) -> None:
    errors = st.session_state.get(f"entry.errors.{form}.{aid}", {})
    asked = st.session_state.get(f"entry.unusual.{form}.{aid}")
    _error_at(errors, ef.GENERAL)
    lines = ef.summary(errors, _fields(form))
    if lines:
        st.error(
            "Nothing was saved. Correct the field(s) marked above:  \n"
            + "  \n".join(plain(line) for line in lines),
            icon=":material/error:",
        )
    if asked is not None:
        st.warning(
            "Unusual value(s): check them. If they are right, press **Save anyway**; "
            "nothing is saved until you do.  \n"
            + "  \n".join(plain(line) for line in ef.summary(asked[1], _fields(form))),
            icon=":material/warning:",
        )
    save, anyway = st.columns([1, 1])
    save.form_submit_button(
        label,
        type="primary",
        icon=":material/save:",
        width="stretch",
        on_click=_save_set,
        args=(form, aid, gen, user, baseline, False),
    )
    if asked is not None:
        anyway.form_submit_button(
            "Save anyway",
            icon=":material/done_all:",
            width="stretch",
            on_click=_save_set,
            args=(form, aid, gen, user, baseline, True),
        )
    auth.keep_draft_button(_form_key(form, aid, gen))


def _advice(advice: DoseAdvice | None) -> None:
    if advice is None:
        st.markdown(plain(ef.advice_headline(None)))
        return
    colour = ADVICE_COLOUR.get(advice.advice, "gray")
    st.markdown(
        f":{colour}-background[**{ef.ADVICE_WORD.get(advice.advice, advice.advice)}**] "
        f"**{plain(ef.advice_headline(advice))}** · due {plain(context.local(advice.time))} "
        "· decision support: the team decides"
    )
    criteria = ef.advice_criteria(advice)
    st.text("\n".join(criteria) if criteria else "No hold or caution criterion is met.")


def _set_result(form: str, aid: int, user: SignedIn) -> None:
    saved = st.session_state.get(f"entry.result.{form}.{aid}")
    if saved is None:
        return
    result, lines = saved
    assert isinstance(result, RecordResult)
    with st.container(border=True):
        observed = context.local(result.observed_at)
        if result.replayed:
            st.info("This set was already saved (a repeated click): nothing was stored twice.")
        else:
            st.success(
                f"Saved {len(result.observation_ids)} value(s) observed {observed}, recorded "
                f"{context.local(result.recorded_at, '%H:%M')} by {plain(user.display_name)}."
            )
        if result.backdated:
            st.warning(
                f"BACKDATED: observed {observed}, more than 1 h before it was recorded; "
                "the chart marks it as a late entry.",
                icon=":material/history:",
            )
        st.text("\n".join(lines))
        _advice(result.next_dose)


def _observation_form(
    form: str, aid: int, user: SignedIn, baseline: float, title: str, save_label: str
) -> None:
    gen = _gen(form, aid)
    errors = st.session_state.get(f"entry.errors.{form}.{aid}", {})
    asked = st.session_state.get(f"entry.unusual.{form}.{aid}")
    unusual = asked[1] if asked is not None else {}
    fields = _fields(form)
    _idempotency_key(form, aid, gen)  # made with the form: both clicks of a double click carry it
    numbers = [f for f in fields if not isinstance(f, ef.ChoiceField)]
    choices = [f for f in fields if isinstance(f, ef.ChoiceField)]
    with st.form(_form_key(form, aid, gen), enter_to_submit=False):
        st.markdown(f"**{title}** · blank = not measured")
        _time_inputs(form, aid, gen, "Observation" if form == "obs" else "Sample", errors)
        _grid(numbers, form, aid, gen, errors, unusual, per_row=4)
        if choices:
            _grid(choices, form, aid, gen, errors, unusual, per_row=2)
        _save_buttons(form, aid, gen, user, baseline, save_label)


def _dose_section(aid: int, user: SignedIn, advice: DoseAdvice | None, first: bool) -> None:
    gen = _gen("dose", aid)
    errors = st.session_state.get(f"entry.errors.dose.{aid}", {})
    cycle: int | None = None
    if advice is None:
        st.info("Cycle 1 has its 14 doses: a dose recorded here is dose 1 of cycle 2.")
        cycle = 2
        what = "Dose 1 of cycle 2"
    else:
        what = f"Dose {advice.number} of cycle {advice.cycle}"
    if first:
        pending = faults.read_or_last(
            f"pending.{aid}",
            lambda: pending_eligibility_flags(context.database(), aid, rules=context.rules()),
        )
        if pending:
            st.warning(
                plain(
                    "First dose blocked until a physician acknowledges: "
                    + "; ".join(flag.message for flag in pending)
                    + " (Flags page). A held or not-given first dose can be recorded."
                ),
                icon=":material/block:",
            )
    _idempotency_key("dose", aid, gen)
    with st.form(_form_key("dose", aid, gen), enter_to_submit=False):
        st.markdown(f"**Record the dose** · next: {what}")
        _error_at(errors, "eligibility")
        _error_at(errors, "number", "Dose number: ")
        _error_at(errors, "cycle", "Cycle: ")
        st.radio(
            "Dose",
            tuple(DOSE_STATUS),
            index=None,
            format_func=DOSE_STATUS.__getitem__,
            horizontal=True,
            key=_widget("dose", aid, gen, "status"),
        )
        _error_at(errors, "status", "Dose: ")
        _time_inputs("dose", aid, gen, "Dose", errors)
        st.text_input(
            "Reason (required when held or not given)",
            key=_widget("dose", aid, gen, "reason"),
            max_chars=500,
        )
        _error_at(errors, "reason", "Reason ")
        _error_at(errors, ef.GENERAL)
        st.form_submit_button(
            "Record dose",
            type="primary",
            icon=":material/vaccines:",
            on_click=_save_dose,
            args=(aid, gen, user, cycle),
        )
        auth.keep_draft_button(_form_key("dose", aid, gen))
    result = st.session_state.get(f"entry.result.dose.{aid}")
    if isinstance(result, DoseResult):
        with st.container(border=True):
            status = DOSE_STATUS.get(result.status, result.status).lower()
            reason = f": {result.reason}" if result.reason else ""
            line = (
                f"Dose {result.number} of cycle {result.cycle} recorded as {status} at "
                f"{context.local(result.time)}{reason}"
            )
            if result.replayed:
                st.info("This dose was already recorded (a repeated click): nothing stored twice.")
            st.success(plain(line))
            _advice(result.next_dose)


def _import_section(aid: int, user: SignedIn) -> None:
    st.caption(
        plain(
            f"CSV: a header row {','.join(CSV_REQUIRED)}[,{','.join(CSV_OPTIONAL)}]; times with "
            "their offset (2026-11-20T07:30:00+00:00); rows at one time form one set; all rows "
            "are stored or none. JSON: a course file (il2-tox-course/1) for a new admission."
        )
    )
    upload = st.file_uploader(
        "Course file or CSV of observations", type=["csv", "json"], key=f"entry.upload.{aid}"
    )
    if upload is None:
        return
    if not st.button("Import", type="primary", key=f"entry.import.{aid}"):
        return
    data = upload.getvalue()
    try:
        text = decode_upload(data)
        outcome: CsvImport | ImportResult
        if upload.name.lower().endswith(".json"):
            outcome = import_course_text(context.database(), text, user, upload.name)
        else:
            if not _confirmed(aid):
                raise Refused({"patient": CONFIRM_FIRST})
            digest = hashlib.sha256(data).hexdigest()[:40]
            outcome = import_observation_csv(
                context.database(), aid, text, user, f"csv.{aid}.{digest}", rules=context.rules()
            )
    except Refused as refusal:
        st.error(f"Nothing was imported from {plain(upload.name)}:", icon=":material/error:")
        st.text("\n".join(f"{name}: {message}" for name, message in refusal.errors.items()))
        return
    except PermissionDenied as denied:
        st.error(plain(str(denied)))
        return
    except faults.DATABASE_FAULTS as error:
        st.error(plain(faults.save_failed(error)), icon=":material/cloud_off:")
        return
    if isinstance(outcome, ImportResult):
        st.success(plain(outcome.describe()))
        return
    if outcome.replayed:
        st.info("This file was already imported for this patient: nothing stored twice.")
    else:
        times = ", ".join(f"{context.local(at)} ({n})" for at, n in outcome.sets)
        st.success(plain(f"Imported {len(outcome.observation_ids)} value(s) in sets at {times}."))
    _advice(outcome.next_dose)


# ---------------------------------------------------------------------------------------------
# The page

user = auth.require_role("nurse", "physician")
st.title("Bedside entry", anchor=False)
db = context.database()
admissions = sorted(faults.read_or_last("admissions", lambda: list_admissions(db)), key=_bed_order)
if not admissions:
    st.info("No patients admitted. Admit one on the Admit patient page.")
    st.stop()
by_mrn = {item.patient_id: item for item in admissions}
mrns = list(by_mrn)
requested = st.query_params.get("patient")
restored = st.session_state.pop(auth.RESTORED_ADMISSIONS, None)
if requested not in by_mrn and isinstance(restored, list):
    # Signed in again with a draft: open on the patient whose form holds the values.
    mrn_of = {item.admission_id: item.patient_id for item in admissions}
    requested = next((mrn_of[a] for a in restored if a in mrn_of), None)
picked, check = st.columns([2, 3], vertical_alignment="bottom")
mrn = picked.selectbox(
    "Patient (bed · name, MRN)",
    mrns,
    index=mrns.index(requested) if requested in by_mrn else 0,
    format_func=lambda value: _label(by_mrn[value]),
)
st.query_params["patient"] = mrn
item = by_mrn[mrn]
aid = item.admission_id
# The confirmation is tapped at the bedside, often gloved: the whole framed row is the target,
# at least 48 px tall (the box alone is 16 px). Our own style for our own element; no user text.
st.html(
    "<style>div[class*='st-key-entry-confirm'] label {min-height: 48px; width: 100%;"
    " padding: 10px 12px; border: 1px solid #90a4ae; border-radius: 8px; align-items: center;"
    " cursor: pointer}</style>"
)
check.checkbox(
    plain(
        f"I have checked the name and bed: {item.name or item.patient_id}, bed {item.bed or '–'}"
    ),
    key=f"entry.confirm.{aid}",
)
if not _confirmed(aid):
    check.caption("Check the wristband against the name and bed before saving anything.")

course = faults.read_or_last(f"course.{aid}", lambda: load_course_from_db(db, aid))
faults.offline_notice()
assessment = assess(course, context.rules())
baseline = course.patient.weight_kg
with st.container(border=True):
    st.caption("Advice for the next dose now (before this entry)")
    _advice(assessment.next_dose)

units_row = st.columns([1, 1, 2])
units_row[0].radio(
    "Temperature unit",
    ef.TEMPERATURE_UNITS,
    format_func=ef.unit_shown,
    horizontal=True,
    key="entry.temperature_unit",
)
units_row[1].radio(
    "Weight unit",
    ef.WEIGHT_UNITS,
    format_func=ef.unit_shown,
    horizontal=True,
    key="entry.weight_unit",
)
units_row[2].caption(
    f"Pre-treatment weight {ef.format_number(baseline)} kg. Unit choices keep what is typed: "
    "pick the unit your device shows."
)
_observation_form("obs", aid, user, baseline, "Pre-dose observations", "Save set")
_set_result("obs", aid, user)

_dose_section(aid, user, assessment.next_dose, first=not course.doses)

with st.expander("Labs: enter by hand", icon=":material/science:"):
    st.radio(
        "Lab units",
        ef.LAB_SYSTEMS,
        format_func=lambda s: (
            "conventional (mg/dL, g/dL, ×10³/µL)"
            if s == "conventional"
            else "SI (µmol/L, g/L, ×10⁹/L)"
        ),
        horizontal=True,
        key="entry.lab_units",
    )
    _observation_form("labs", aid, user, baseline, "Labs", "Save labs")
    _set_result("labs", aid, user)

with st.expander("Import labs or a course file (CSV or JSON)", icon=":material/upload_file:"):
    _import_section(aid, user)
faults.offline_notice()
