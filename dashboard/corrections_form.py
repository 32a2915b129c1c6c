"""Correct an entry on the patient chart: pick a dose, see its record and the observations up to
it, and correct a value or mark it entered in error, with a reason.

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
    (and a withdrawn current one) struck through, each correction with who, when and why."""

    def text(v: ObservationVersion | DoseVersion) -> str:
        return observation_text(v) if isinstance(v, ObservationVersion) else dose_text(v)

    lines = []
    versions: Sequence[ObservationVersion | DoseVersion] = record.versions
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
    st.session_state[f"corr.msg.{kind}.{record_id}"] = (level, text)


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
                time=_dose_time(kind, record_id, gen, shown),
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
    _message(kind, record_id, "success", f"Saved: {done}{again}.")
    st.session_state[f"corr.gen.{kind}.{record_id}"] = gen + 1


def _dose_time(
    kind: str, record_id: int, gen: int, shown: ObservationVersion | DoseVersion
) -> datetime:
    """Return the dose time as typed on the ward clock (the shown time if a box was cleared)."""
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
# Drawing


def _show_message(kind: str, record_id: int) -> None:
    found = st.session_state.get(f"corr.msg.{kind}.{record_id}")
    if found is None:
        return
    level, text = found
    (st.error if level == "error" else st.success)(plain(text))


def _buttons(
    kind: str, record_id: int, gen: int, shown: ObservationVersion | DoseVersion, user: SignedIn
) -> None:
    st.text_input(
        "Reason for the correction (required)",
        key=_widget(kind, record_id, gen, "reason"),
        max_chars=2000,
    )
    save, withdraw = st.columns(2)
    save.form_submit_button(
        "Save correction",
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


def _observation(record: Record[ObservationVersion], user: SignedIn) -> None:
    record_id = record.original.observation_id
    current = record.current
    for line in history_lines(record):
        st.markdown(line)
    _show_message("obs", record_id)
    if record.withdrawn:
        return
    gen = _gen("obs", record_id)
    _key("obs", record_id, gen)  # made with the form: both clicks of a double click carry it
    with (
        st.popover(f"Correct {charts.short_name(current.code)}", icon=":material/edit:"),
        st.form(f"corr.form.obs.{record_id}.{gen}", enter_to_submit=False),
    ):
        unit = units.display_unit(current.entered_unit) if current.entered_unit else ""
        st.text_input(
            f"New value{f' ({unit})' if unit else ''}",
            key=_widget("obs", record_id, gen, "value"),
        )
        _buttons("obs", record_id, gen, current, user)


def _dose(record: Record[DoseVersion], user: SignedIn) -> None:
    record_id = record.original.dose_id
    current = record.current
    st.markdown(f"**Dose {current.number} of cycle {current.cycle}**")
    for line in history_lines(record):
        st.markdown(line)
    _show_message("dose", record_id)
    if record.withdrawn:
        return
    gen = _gen("dose", record_id)
    _key("dose", record_id, gen)
    with (
        st.popover("Correct the dose", icon=":material/edit:"),
        st.form(f"corr.form.dose.{record_id}.{gen}", enter_to_submit=False),
    ):
        st.radio(
            "Dose",
            DOSE_STATUSES,
            index=DOSE_STATUSES.index(current.status),
            format_func=lambda s: DOSE_STATUS.get(s, s),
            horizontal=True,
            key=_widget("dose", record_id, gen, "status"),
        )
        local = current.time.astimezone(context.ward_timezone())
        day, clock = st.columns(2)
        day.date_input("Dose date", value=local.date(), key=_widget("dose", record_id, gen, "date"))
        clock.time_input(
            "Dose time",
            value=local.time().replace(second=0, microsecond=0),
            step=60,
            key=_widget("dose", record_id, gen, "clock"),
        )
        st.text_input(
            "Reason held or not given",
            value=current.reason or "",
            key=_widget("dose", record_id, gen, "dose_reason"),
            max_chars=500,
        )
        _buttons("dose", record_id, gen, current, user)


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
    """Draw the corrections of one admission (nurses and physicians; the service checks)."""
    if user.role not in CORRECTING_ROLES:
        return
    with st.expander("Correct an entry (wrong value, or entered in error)", icon=":material/edit:"):
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
            _dose(dose, user)
        records = faults.read_or_last(
            f"corr.obs.{admission_id}.{picked}",
            lambda: observation_records(db, admission_id, since=since, until=until),
        )
        if not records:
            st.caption("No observations in this interval.")
        for record in records:
            with st.container(border=True):
                _observation(record, user)
