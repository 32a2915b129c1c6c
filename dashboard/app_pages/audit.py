"""Audit log (admins): every write, sign-in and export, filtered, and exported as CSV.

UI only: `il2_tox.services.audit` reads the log (admins only, checked there too) and writes
the export's own audit entry in the transaction that reads the rows. Free text (reasons, names,
values) is shown in a table cell, as text.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from dashboard import auth, context
from il2_tox.services.audit import AuditQuery, AuditRow, export_csv, list_events, vocabulary
from il2_tox.services.errors import PermissionDenied, Refused

ANY = "(any)"
LIMIT = 500
FILTERS = "audit.filters"
EXPORTED = "audit.exported"
LABELS = {
    "actor": "Who",
    "action": "Action",
    "entity": "Record",
    "entity_id": "Record id",
    "since": "From",
    "until": "To",
    "text": "Contains",
}


def _start_of(day: date | None) -> datetime | None:
    """Return the UTC instant a ward-local day starts, or None."""
    if day is None:
        return None
    return datetime.combine(day, time(0), tzinfo=context.ward_timezone())


def _query(values: dict[str, object]) -> AuditQuery:
    def chosen(name: str) -> str | None:
        value = values.get(name)
        return None if value in (None, "", ANY) else str(value)

    until_day = values.get("until")
    until = _start_of(until_day + timedelta(days=1)) if isinstance(until_day, date) else None
    since_day = values.get("since")
    return AuditQuery(
        actor=chosen("actor"),
        action=chosen("action"),
        entity=chosen("entity"),
        entity_id=chosen("entity_id"),
        since=_start_of(since_day) if isinstance(since_day, date) else None,
        until=until,
        text=chosen("text"),
    )


def _json(value: dict[str, object] | None) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _table(rows: list[AuditRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "When": [context.local(row.at, "%d %b %Y %H:%M:%S") for row in rows],
            "Who": [row.actor for row in rows],
            "Action": [row.action for row in rows],
            "Record": [row.entity for row in rows],
            "Record id": [row.entity_id or "" for row in rows],
            "Why": [row.reason or "" for row in rows],
            "Before": [_json(row.before) for row in rows],
            "After": [_json(row.after) for row in rows],
        }
    )


user = auth.require_role("admin")
st.title("Audit log", anchor=False)
st.caption(
    "Every entry, correction, admission, acknowledgement, account change, sign-in (and failed "
    "sign-in) and export, with who, when, what changed and why. Entries cannot be changed or "
    f"deleted. Times in {context.ward_timezone().key}."
)
db = context.database()
try:
    known = vocabulary(db, actor=user)
except PermissionDenied as denied:
    st.error(str(denied))
    st.stop()

with st.form(FILTERS, enter_to_submit=True):
    first, second, third, fourth = st.columns(4)
    actor = first.selectbox(LABELS["actor"], [ANY, *known.actors], key="audit.actor")
    action = second.selectbox(LABELS["action"], [ANY, *known.actions], key="audit.action")
    entity = third.selectbox(LABELS["entity"], [ANY, *known.entities], key="audit.entity")
    entity_id = fourth.text_input(LABELS["entity_id"], key="audit.entity_id", max_chars=64)
    first, second, third = st.columns([1, 1, 2])
    since = first.date_input(LABELS["since"], value=None, key="audit.since", format="DD/MM/YYYY")
    until = second.date_input(LABELS["until"], value=None, key="audit.until", format="DD/MM/YYYY")
    text = third.text_input(LABELS["text"], key="audit.text", max_chars=200)
    st.form_submit_button("Apply filters", type="primary")

query = _query(
    {
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "since": since,
        "until": until,
        "text": text,
    }
)
try:
    rows = list_events(db, query, actor=user, limit=LIMIT)
except Refused as refusal:
    for field, message in refusal.errors.items():
        st.error(f"{LABELS.get(field, field)}: {message}")
    st.stop()

more = " (the newest; narrow the filters to see older ones)" if len(rows) == LIMIT else ""
st.caption(f"{len(rows)} entries{more}, newest first.")
st.dataframe(_table(rows), hide_index=True, width="stretch")

left, right = st.columns([1, 3], vertical_alignment="center")
if left.button("Export these entries as CSV", icon=":material/download:"):
    try:
        st.session_state[EXPORTED] = export_csv(db, query, actor=user, destination="dashboard")
    except (Refused, PermissionDenied) as error:
        st.error(str(error))
exported = st.session_state.get(EXPORTED)
if isinstance(exported, str):
    right.download_button(
        "Download audit-log.csv",
        data=exported.encode("utf-8"),
        file_name="audit-log.csv",
        mime="text/csv",
        on_click="ignore",
    )
    right.caption("The export is recorded in the audit log, with these filters.")
