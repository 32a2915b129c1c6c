"""Flags: one patient's flags, those needing a look first; a physician acknowledges or snoozes
each with a reason. Acknowledged flags stay listed, greyed, with who, when and why.

UI only: the flags come from `assess`, acknowledgements from `il2_tox.services.bedside`. Not a
refreshing fragment: it holds forms, and a rerun would lose a reason being typed.
"""

from __future__ import annotations

import streamlit as st

from dashboard import auth, context
from dashboard.flag_forms import flag_card
from dashboard.text import plain
from il2_tox.assess import assess
from il2_tox.rules.base import SEVERITIES, Flag
from il2_tox.services.bedside import active_acknowledgements, pending_eligibility_flags
from il2_tox.services.course_io import AdmissionSummary, list_admissions, load_course_from_db

QUERY_KEY = "patient"


def _label(item: AdmissionSummary) -> str:
    return f"{item.bed or '–'} · {item.name or item.patient_id} ({item.patient_id})"


user = auth.require_role("nurse", "physician")
st.title("Flags", anchor=False)
db = context.database()
admissions = list_admissions(db)
if not admissions:
    st.info("No patients admitted.")
    st.stop()
by_mrn = {item.patient_id: item for item in admissions}
mrns = list(by_mrn)
requested = st.query_params.get(QUERY_KEY)
mrn = st.selectbox(
    "Patient (bed · name, MRN)",
    mrns,
    index=mrns.index(requested) if requested in by_mrn else 0,
    format_func=lambda value: _label(by_mrn[value]),
)
st.query_params[QUERY_KEY] = mrn
admission = by_mrn[mrn]
rules = context.rules()
course = load_course_from_db(db, admission.admission_id)
flags = assess(course, rules).flags
now = context.now()
acknowledged = active_acknowledgements(db, admission.admission_id, now)

if admission.latest_dose_number is None:
    pending = pending_eligibility_flags(db, admission.admission_id, now, rules=rules)
    if pending:
        st.error(
            plain(
                "First dose blocked until a physician acknowledges: "
                + "; ".join(flag.message for flag in pending)
            )
        )
    else:
        st.success("Eligibility reviewed: the first dose can be recorded.")
if user.role != "physician":
    st.info("You can see the flags; a physician acknowledges them.")


def _order(flag: Flag) -> tuple[bool, bool, int, float]:
    quiet = (flag.code, flag.time) in acknowledged
    return (quiet, not flag.active, -SEVERITIES.index(flag.severity), -flag.time.timestamp())


if not flags:
    st.caption("No flags for this patient.")
needing = sum(1 for f in flags if f.active and (f.code, f.time) not in acknowledged)
st.caption(f"{needing} flag(s) need a look · {len(flags) - needing} quiet (acknowledged or gone)")
for flag in sorted(flags, key=_order):
    key = f"ack.{admission.admission_id}.{flag.code}.{flag.time.timestamp():.0f}"
    flag_card(user, admission.admission_id, flag, acknowledged, key=key)
