"""Correct an entry on the patient chart: pick a dose, see its record and the observations up to
it, and correct a value (its unit, the time it was taken, a volume's collection period) or a dose
record, or mark it entered in error, with a reason. Each form opens in a modal dialog, always on
the screen.

UI only: the rules (who may correct, the window, the version check, the idempotency key) are in
`il2_tox.services.corrections`. Each form names the version it showed, so a save after someone
else's correction is refused with who changed it and when. Earlier versions stay on screen,
struck through, with who recorded them and when, and who corrected them, when and why; every
free text is escaped (shown as typed, never as markup). A refused save keeps what was typed.
Drawn outside the chart's auto-refreshing fragment: a rerun every 2 s would lose typing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import streamlit as st

from dashboard import auth, charts, context, faults
from dashboard.entry_form import format_number, observed_at
from dashboard.text import plain
from il2_tox import units
from il2_tox.course import DOSE_STATUSES
from il2_tox.services.corrections import (
    CORRECTING_ROLES,
    Changed,
    DoseVersion,
    ObservationVersion,
    Record,
    amend_dose,
    amend_observation,
    dose_records,
    observation_records,
    withdraw_dose,
    withdraw_observation,
)
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.users import SignedIn

DOSE_STATUS = {"given": "Given", "held": "Held", "not_given": "Not given"}
AFTER_LAST = "after"
FIELD_NAMES = {
    "value": "New value",
    "unit": "Unit",
    "period_h": "Collection period",
    "observed_at": "Observation time",
    "reason": "Reason for the correction",
    "dose_reason": "Reason held or not given",
    "status": "Dose",
    "time": "Dose time",
}


# ---------------------------------------------------------------------------------------------
# What a version reads as


def observation_text(v: ObservationVersion) -> str:
    """E.g. "SBP 84 mmHg" or "ACVPU C" (the value as entered, in the unit entered)."""
    shown = v.entered_value if v.entered_value is not None else v.value
    value = format_number(shown)
    unit = units.display_unit(v.entered_unit) if v.entered_unit else ""
    period = f" over {format_number(v.period_h)} h" if v.period_h is not None else ""
    return f"{charts.short_name(v.code)} {value} {unit}".rstrip() + period


def dose_text(v: DoseVersion) -> str:
    why = f" ({v.reason})" if v.reason else ""
    return f"{DOSE_STATUS.get(v.status, v.status)} at {context.local(v.time)}{why}"


def _who(v: ObservationVersion | DoseVersion) -> str:
    return f"{v.recorded_by_name}, {context.local(v.recorded_at)}"


def history_lines(record: Record[ObservationVersion] | Record[DoseVersion]) -> list[str]:
    """Return the record's versions as Markdown lines, every free text escaped: earlier ones
    (and a withdrawn current one) struck through, each correction with who, when and why; an
    observation's time when its versions differ in it."""

    versions: Sequence[ObservationVersion | DoseVersion] = record.versions
    # An observation's time is shown when a correction changed it (else the versions would
    # read the same): "SBP 84 mmHg taken 27 Nov 14:05".
    times = {v.observed_at for v in versions if isinstance(v, ObservationVersion)}

    def text(v: ObservationVersion | DoseVersion) -> str:
        if isinstance(v, DoseVersion):
            return dose_text(v)
        taken = f" taken {context.local(v.observed_at)}" if len(times) > 1 else ""
        return observation_text(v) + taken

    lines = []
    for i, v in enumerate(versions):
        status = v.status if isinstance(v, ObservationVersion) else v.record_status
        struck = i < len(versions) - 1 or status == "entered_in_error"
        if status == "entered_in_error":
            lines.append(
                f"~~{plain(text(v))}~~ · **entered in error**: {plain(_who(v))}: "
                f"{plain(v.correction_reason or '')}"
            )
        elif i == 0:
            shown = f"~~{plain(text(v))}~~" if struck else f"**{plain(text(v))}**"
            lines.append(f"{shown} · recorded by {plain(_who(v))}")
        else:
            shown = f"~~{plain(text(v))}~~" if struck else f"**{plain(text(v))}**"
            lines.append(
                f"{shown} · corrected by {plain(_who(v))}: {plain(v.correction_reason or '')}"
            )
    return lines


# ---------------------------------------------------------------------------------------------
# Session state: one form per record, a new one (and a new key) after each saved correction


def _gen(kind: str, record_id: int) -> int:
    return int(st.session_state.get(f"corr.gen.{kind}.{record_id}", 0))


def _widget(kind: str, record_id: int, gen: int, name: str) -> str:
    return f"corr.{kind}.{record_id}.{gen}.{name}"


def _key(kind: str, record_id: int, gen: int) -> str:
    name = f"corr.key.{kind}.{record_id}.{gen}"
    if name not in st.session_state:
        st.session_state[name] = uuid.uuid4().hex
    key: str = st.session_state[name]
    return key


def _message(kind: str, record_id: int, level: str, text: str) -> None:
    """Keep a refusal for the open form, or a success for the page (the form closes)."""
    if level == "error":
        st.session_state[f"corr.err.{kind}.{record_id}"] = text
    else:
        st.session_state.pop(f"corr.err.{kind}.{record_id}", None)
        st.session_state[f"corr.msg.{kind}.{record_id}"] = text
        st.session_state["corr.toast"] = text


def _refusal_text(refusal: Refused) -> str:
    if isinstance(refusal, Changed):
        return (
            f"Not saved: {refusal.what} by {refusal.by} at "
            f"{context.local(refusal.at, '%H:%M')} since this page was drawn. Reload the page "
            "and check before correcting again."
        )
    return "Not saved. " + "; ".join(
        f"{FIELD_NAMES.get(name, name)}: {message}" for name, message in refusal.errors.items()
    )


@auth.guarded("Correction")
def _save(
    kind: str,
    record_id: int,
    gen: int,
    shown: ObservationVersion | DoseVersion,
    user: SignedIn,
    withdraw: bool,
) -> None:
    """Store one correction form (callback: runs before the page is drawn). `shown` is the
    version the form showed: the service refuses the save if it was corrected since."""
    shown_id = shown.observation_id if isinstance(shown, ObservationVersion) else shown.dose_id
    reason = st.session_state.get(_widget(kind, record_id, gen, "reason")) or ""
    key = _key(kind, record_id, gen)
    db = context.database()
    try:
        if kind == "obs" and withdraw:
            result = withdraw_observation(
                db, shown_id, reason=reason, actor=user, idempotency_key=key
            )
        elif kind == "obs":
            result = amend_observation(
                db,
                shown_id,
                value=st.session_state.get(_widget(kind, record_id, gen, "value")),
                unit=st.session_state.get(_widget(kind, record_id, gen, "unit")),
                observed_at=_typed_time(kind, record_id, gen, shown),
                period_h=_typed_period(kind, record_id, gen, shown),
                reason=reason,
                actor=user,
                idempotency_key=key,
            )
        elif withdraw:
            result = withdraw_dose(db, shown_id, reason=reason, actor=user, idempotency_key=key)
        else:
            result = amend_dose(
                db,
                shown_id,
                status=st.session_state.get(_widget(kind, record_id, gen, "status")) or "",
                time=_typed_time(kind, record_id, gen, shown),
                dose_reason=st.session_state.get(_widget(kind, record_id, gen, "dose_reason")),
                reason=reason,
                actor=user,
                idempotency_key=key,
            )
    except Refused as refusal:
        _message(kind, record_id, "error", _refusal_text(refusal))
        return
    except PermissionDenied as denied:
        _message(kind, record_id, "error", f"Not saved: {denied}")
        return
    except faults.DATABASE_FAULTS as error:
        _message(kind, record_id, "error", faults.save_failed(error))
        return
    except ValueError as error:  # the site's correction window setting is malformed
        _message(kind, record_id, "error", f"Not saved: the site configuration is wrong: {error}")
        return
    done = "marked entered in error" if result.status == "entered_in_error" else "corrected"
    again = " (already saved: a repeated click stored nothing twice)" if result.replayed else ""
    _message(kind, record_id, "success", f"Saved: {done}{again}. {_name(shown)}")
    st.session_state[f"corr.gen.{kind}.{record_id}"] = gen + 1
    _close()


def _name(v: ObservationVersion | DoseVersion) -> str:
    if isinstance(v, ObservationVersion):
        return f"{charts.short_name(v.code)} of {context.local(v.observed_at)}"
    return f"Dose {v.number} of cycle {v.cycle}"


def _typed_period(
    kind: str, record_id: int, gen: int, shown: ObservationVersion | DoseVersion
) -> float | None:
    """Return the collection period as typed, or None for a value that has none (the service
    then keeps the shown version's)."""
    if not isinstance(shown, ObservationVersion) or shown.period_h is None:
        return None
    typed: float | None = st.session_state.get(_widget(kind, record_id, gen, "period"))
    return typed


def _typed_time(
    kind: str, record_id: int, gen: int, shown: ObservationVersion | DoseVersion
) -> datetime:
    """Return the time as typed on the ward clock (the shown time if a box was cleared)."""
    typed = observed_at(
        st.session_state.get(_widget(kind, record_id, gen, "date")),
        st.session_state.get(_widget(kind, record_id, gen, "clock")),
        context.ward_timezone(),
    )
    before = shown.time if isinstance(shown, DoseVersion) else shown.observed_at
    # The boxes show whole minutes: the same minute is the recorded time, seconds and all.
    if typed is None or typed == before.replace(second=0, microsecond=0):
        return before
    return typed


# ---------------------------------------------------------------------------------------------
# The form: a modal dialog, always on the screen whatever the page's scroll or the screen's
# height (a popover opened below its button and ran off a short screen). One is open at a time.

OPEN = "corr.open"
SECTION_LABEL = "Correct an entry (wrong value, or entered in error)"


def section_key(admission_id: int) -> str:
    """Return the session key of whether the admission's corrections section is open."""
    return f"corr.section.{admission_id}"


@auth.guarded(None)
def _open(admission_id: int, kind: str, record_id: int) -> None:
    st.session_state[OPEN] = (admission_id, kind, record_id)


@auth.guarded(None)
def _close() -> None:
    """Close the form (after a save, or Cancel): its refusal, if any, goes with it."""
    found = st.session_state.pop(OPEN, None)
    if found is not None:
        _, kind, record_id = found
        st.session_state.pop(f"corr.err.{kind}.{record_id}", None)


def _opened() -> tuple[object, ...] | None:
    """Return which form is open, as (admission id, kind, record id), or None. A form put back
    from an idle sign-out's draft comes as a list (JSON): the same form, open again."""
    found = st.session_state.get(OPEN)
    return tuple(found) if isinstance(found, (tuple, list)) and len(found) == 3 else None


def _is_open(admission_id: int, kind: str, record_id: int) -> bool:
    return _opened() == (admission_id, kind, record_id)


def _open_button(admission_id: int, kind: str, record_id: int, label: str) -> None:
    st.button(
        label,
        icon=":material/edit:",
        key=f"corr.{kind}.{record_id}.open",
        on_click=_open,
        args=(admission_id, kind, record_id),
    )


def _time_boxes(kind: str, record_id: int, gen: int, moment: datetime, what: str) -> None:
    """A date box and a time box on the ward clock, whole minutes."""
    local = moment.astimezone(context.ward_timezone())
    day, clock = st.columns(2)
    day.date_input(f"{what} date", value=local.date(), key=_widget(kind, record_id, gen, "date"))
    clock.time_input(
        f"{what} time",
        value=local.time().replace(second=0, microsecond=0),
        step=60,
        key=_widget(kind, record_id, gen, "clock"),
    )


def _buttons(
    kind: str, record_id: int, gen: int, shown: ObservationVersion | DoseVersion, user: SignedIn
) -> None:
    st.text_input(
        "Reason for the correction (required)",
        key=_widget(kind, record_id, gen, "reason"),
        max_chars=2000,
    )
    save, withdraw, cancel = st.columns([4, 4, 2])
    save.form_submit_button(
        "Save correction",
        type="primary",
        key=_widget(kind, record_id, gen, "save"),
        on_click=_save,
        args=(kind, record_id, gen, shown, user, False),
    )
    withdraw.form_submit_button(
        "Mark entered in error",
        key=_widget(kind, record_id, gen, "withdraw"),
        on_click=_save,
        args=(kind, record_id, gen, shown, user, True),
    )
    cancel.form_submit_button(
        "Cancel", key=_widget(kind, record_id, gen, "cancel"), on_click=_close
    )


def _dialog_head(
    kind: str, record_id: int, record: Record[ObservationVersion] | Record[DoseVersion]
) -> bool:
    """Draw the record's versions and any refusal; return False if the form has closed."""
    opened = _opened()
    if opened is None or opened[1:] != (kind, record_id):
        # Saved or cancelled inside the dialog (it reruns alone): redraw the page, which
        # closes it and shows the record's new version.
        st.rerun()
        return False
    for line in history_lines(record):
        st.markdown(line)
    refusal = st.session_state.get(f"corr.err.{kind}.{record_id}")
    if refusal is not None:
        st.error(plain(refusal))
    return True


def _observation_form(record: Record[ObservationVersion], user: SignedIn) -> None:
    record_id = record.original.observation_id
    if not _dialog_head("obs", record_id, record):
        return
    current = record.current
    gen = _gen("obs", record_id)
    _key("obs", record_id, gen)  # made with the form: both clicks of a double click carry it
    spec = units.spec_for(current.code)
    choices = [u.ucum for u in spec.units] if spec is not None else []
    entered = current.entered_value if current.entered_value is not None else current.value
    with st.form(f"corr.form.obs.{record_id}.{gen}", enter_to_submit=False):
        if len(choices) > 1:
            # The value is read in the unit chosen beside it (the service converts).
            value_box, unit_box = st.columns([3, 2])
            value_box.text_input(
                "New value",
                value=format_number(entered),
                key=_widget("obs", record_id, gen, "value"),
            )
            unit_now = current.entered_unit or current.unit
            unit_box.selectbox(
                "Unit",
                choices,
                index=choices.index(unit_now) if unit_now in choices else 0,
                format_func=units.display_unit,
                key=_widget("obs", record_id, gen, "unit"),
            )
        else:
            unit = units.display_unit(current.entered_unit) if current.entered_unit else ""
            st.text_input(
                f"New value{f' ({unit})' if unit else ''}",
                value=format_number(entered),
                key=_widget("obs", record_id, gen, "value"),
            )
        if current.period_h is not None:
            # A volume (urine, stool) is judged per 8 h from its period: 4 h typed as 8 h halves
            # the rate. No bounds on the box: the service refuses a period out of range, by name,
            # and the box keeps what was typed.
            st.number_input(
                "Collection period (h)",
                value=current.period_h,
                step=0.5,
                format="%g",
                key=_widget("obs", record_id, gen, "period"),
            )
        _time_boxes("obs", record_id, gen, current.observed_at, "Observation")
        _buttons("obs", record_id, gen, current, user)


def _dose_form(record: Record[DoseVersion], user: SignedIn) -> None:
    record_id = record.original.dose_id
    if not _dialog_head("dose", record_id, record):
        return
    current = record.current
    gen = _gen("dose", record_id)
    _key("dose", record_id, gen)
    with st.form(f"corr.form.dose.{record_id}.{gen}", enter_to_submit=False):
        st.radio(
            "Dose",
            DOSE_STATUSES,
            index=DOSE_STATUSES.index(current.status),
            format_func=lambda s: DOSE_STATUS.get(s, s),
            horizontal=True,
            key=_widget("dose", record_id, gen, "status"),
        )
        _time_boxes("dose", record_id, gen, current.time, "Dose")
        st.text_input(
            "Reason held or not given",
            value=current.reason or "",
            key=_widget("dose", record_id, gen, "dose_reason"),
            max_chars=500,
        )
        _buttons("dose", record_id, gen, current, user)


# Not dismissible by a tap outside it or Esc: that would drop what was typed. Cancel closes it.
_observation_dialog = st.dialog("Correct an observation", width="medium", dismissible=False)(
    _observation_form
)
_dose_dialog = st.dialog("Correct a dose record", width="medium", dismissible=False)(_dose_form)


# ---------------------------------------------------------------------------------------------
# Drawing the records on the page


def _show_message(kind: str, record_id: int) -> None:
    found = st.session_state.get(f"corr.msg.{kind}.{record_id}")
    if found is not None:
        st.success(plain(found))


def _observation(admission_id: int, record: Record[ObservationVersion]) -> None:
    record_id = record.original.observation_id
    for line in history_lines(record):
        st.markdown(line)
    _show_message("obs", record_id)
    if not record.withdrawn:
        _open_button(
            admission_id, "obs", record_id, f"Correct {charts.short_name(record.current.code)}"
        )


def _dose(admission_id: int, record: Record[DoseVersion]) -> None:
    record_id = record.original.dose_id
    current = record.current
    st.markdown(f"**Dose {current.number} of cycle {current.cycle}**")
    for line in history_lines(record):
        st.markdown(line)
    _show_message("dose", record_id)
    if not record.withdrawn:
        _open_button(admission_id, "dose", record_id, "Correct the dose")


def _groups(doses: Sequence[Record[DoseVersion]]) -> list[tuple[str, str]]:
    """Return (choice, label) for after the last dose, then each dose (entries up to it)."""
    counted = [d for d in doses if not d.withdrawn]
    out: list[tuple[str, str]] = [(AFTER_LAST, "Since the last dose" if counted else "All")]
    for record in reversed(doses):
        v = record.current
        label = f"Up to dose {v.number} of cycle {v.cycle} ({context.local(v.time)})"
        if record.withdrawn:
            label += " — entered in error"
        out.append((str(record.original.dose_id), label))
    return out


def corrections_section(admission_id: int, user: SignedIn) -> None:
    """Draw the corrections of one admission (nurses and physicians; the service checks).

    The section starts closed; its entries are read and drawn only while it is open.
    """
    if user.role not in CORRECTING_ROLES:
        return
    saved = st.session_state.pop("corr.toast", None)
    if saved is not None:
        # Also where the record moved out of the interval shown (its time was corrected).
        st.toast(plain(saved), icon=":material/check:")
    # Read and drawn only while open: its rows (a button, a box and the history per entry) are
    # most of the chart page's elements, so a closed section sends the label alone.
    section = st.expander(
        SECTION_LABEL,
        icon=":material/edit:",
        key=section_key(admission_id),
        on_change="rerun",
    )
    if not section.open:
        st.session_state.pop(OPEN, None)  # no form is open on a section that is closed
        return
    with section:
        st.caption(
            "The original stays, struck through, with who corrected it, when and why. A nurse "
            "corrects her own entries within the site's correction window; after it, and for "
            "anyone's entries, a physician."
        )
        db = context.database()
        doses = faults.read_or_last(
            f"corr.doses.{admission_id}", lambda: dose_records(db, admission_id)
        )
        choices = dict(_groups(doses))
        picked = st.selectbox(
            "Entries",
            list(choices),
            format_func=choices.__getitem__,
            key=f"corr.group.{admission_id}",
        )
        counted = sorted((d for d in doses if not d.withdrawn), key=lambda d: d.current.time)
        since: datetime | None = None
        until: datetime | None = None
        dose: Record[DoseVersion] | None = None
        if picked == AFTER_LAST:
            since = counted[-1].current.time if counted else None
        else:
            dose = next(d for d in doses if str(d.original.dose_id) == picked)
            until = dose.current.time
            earlier = [d.current.time for d in counted if d.current.time < until]
            since = max(earlier) if earlier else None
        if dose is not None:
            _dose(admission_id, dose)
        records = faults.read_or_last(
            f"corr.obs.{admission_id}.{picked}",
            lambda: observation_records(db, admission_id, since=since, until=until),
        )
        if not records:
            st.caption("No observations in this interval.")
        for record in records:
            with st.container(border=True):
                _observation(admission_id, record)
    # Outside the expander: the dialog is drawn over the page, whatever is open or scrolled.
    if (
        dose is not None
        and not dose.withdrawn
        and _is_open(admission_id, "dose", dose.original.dose_id)
    ):
        _dose_dialog(dose, user)
        return
    for record in records:
        if not record.withdrawn and _is_open(admission_id, "obs", record.original.observation_id):
            _observation_dialog(record, user)
            return
    # A form left open on a record no longer shown (another patient, withdrawn meanwhile).
    st.session_state.pop(OPEN, None)
