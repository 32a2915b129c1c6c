"""One flag as a card, with the physician's acknowledgement form: shared by the flags page and
the admission page (eligibility flags).

The form is never inside a refreshing fragment (a rerun would lose the reason being typed).
The service checks the role again; a nurse sees the flag and who acknowledged it, not the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import streamlit as st

from dashboard import auth, charts, context
from dashboard.text import plain
from il2_tox.rules.base import Flag
from il2_tox.services.bedside import (
    ACKNOWLEDGING_ROLES,
    MAX_SNOOZE_HOURS,
    Acknowledgement,
    acknowledge_flag,
)
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.users import SignedIn

SEVERITY_COLOUR = {"critical": "red", "warning": "orange", "info": "blue"}
REASON_LABEL = "Reason (required)"
SNOOZE_LABEL = f"Snooze (h, up to {MAX_SNOOZE_HOURS:g}): blank = acknowledge for good"


def acknowledgement_text(ack: Acknowledgement) -> str:
    """Return e.g. "acknowledged by Dr X at 14:05: reason" (a snooze says until when)."""
    if ack.snooze_until is not None:
        return (
            f"snoozed by {ack.by_name} at {context.local(ack.at, '%H:%M')} until "
            f"{context.local(ack.snooze_until, '%d %b %H:%M')}: {ack.reason}"
        )
    return f"acknowledged by {ack.by_name} at {context.local(ack.at, '%d %b %H:%M')}: {ack.reason}"


def flag_card(
    user: SignedIn,
    admission_id: int,
    flag: Flag,
    acknowledged: Mapping[tuple[str, datetime], Acknowledgement],
    key: str,
) -> None:
    """Draw one flag: loud while it needs a look, greyed once acknowledged or gone."""
    ack = acknowledged.get((flag.code, flag.time))
    quiet = ack is not None or not flag.active
    with st.container(border=True):
        when = context.local(flag.time)
        category = charts.CATEGORY_LABELS.get(flag.category, flag.category)
        if quiet:
            st.caption(
                plain(f"{flag.severity.upper()} · {category} · since {when}: {flag.message}")
            )
            if ack is not None:
                st.caption(plain(acknowledgement_text(ack)))
            else:
                st.caption("no longer present")
            return
        colour = SEVERITY_COLOUR.get(flag.severity, "gray")
        st.markdown(
            f":{colour}-background[**{flag.severity.upper()}**] {plain(category)} · since "
            f"{plain(when)}"
        )
        st.text(flag.message)
        evidence = charts.evidence_text(flag, context.ward_timezone())
        st.caption(plain(f"Evidence: {evidence or '—'} · Source: {flag.source}"))
        if user.role not in ACKNOWLEDGING_ROLES:
            st.caption("A physician acknowledges flags.")
            return
        with st.expander("Acknowledge or snooze"):
            acknowledge_form(user, admission_id, flag, key)


def acknowledge_form(user: SignedIn, admission_id: int, flag: Flag, key: str) -> None:
    """The reason (required) and an optional snooze; the message of a refusal under its field."""
    errors: dict[str, str] = st.session_state.get(f"{key}.errors", {})
    with st.form(key, border=False):
        st.text_area(REASON_LABEL, key=f"{key}.reason", height=80)
        if "reason" in errors:
            st.error(f"Reason {errors['reason']}")
        st.number_input(SNOOZE_LABEL, value=None, step=1.0, format="%g", key=f"{key}.snooze")
        if "snooze_hours" in errors:
            st.error(f"Snooze {errors['snooze_hours']}")
        for name, message in errors.items():
            if name not in ("reason", "snooze_hours"):
                st.error(message if name == "_general" else f"{name}: {message}")
        st.form_submit_button(
            "Acknowledge",
            type="primary",
            on_click=_acknowledge,
            args=(user, admission_id, flag.code, flag.time, key),
        )


@auth.guarded("Flag acknowledgement (Acknowledge)")
def _acknowledge(user: SignedIn, admission_id: int, code: str, time: datetime, key: str) -> None:
    reason = st.session_state.get(f"{key}.reason") or ""
    snooze = st.session_state.get(f"{key}.snooze")
    try:
        acknowledge_flag(
            context.database(),
            admission_id,
            code,
            time,
            user,
            reason,
            snooze,
            rules=context.rules(),
        )
    except Refused as refusal:
        st.session_state[f"{key}.errors"] = refusal.errors
    except PermissionDenied as denied:
        st.session_state[f"{key}.errors"] = {"_general": str(denied)}
    else:
        st.session_state.pop(f"{key}.errors", None)
        st.toast("Flag acknowledged." if snooze is None else f"Flag snoozed for {snooze:g} h.")
