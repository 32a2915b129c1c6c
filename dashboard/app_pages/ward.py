"""Ward overview: every patient on IL-2, most urgent first, refreshing on its own."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import auth, context
from il2_tox.services.ward import WardRow, ward_rows

ADVICE_LABEL = {"hold": "HOLD", "caution": "CAUTION", "give": "GIVE"}
ADVICE_COLOUR = {"HOLD": "#b71c1c", "CAUTION": "#e65100", "GIVE": "#1b5e20"}


def _frame(rows: list[WardRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Bed": [r.bed for r in rows],
            "Patient": [f"{r.name} ({r.patient_id})" for r in rows],
            "Cycle · dose": [r.dose_label for r in rows],
            "Next dose": [context.local(r.next_dose_time) for r in rows],
            "Advice": [ADVICE_LABEL.get(r.advice or "", "—") for r in rows],
            "Why": ["; ".join(r.criteria) or "no criterion met" for r in rows],
            "Critical flags": [r.critical for r in rows],
            "Warnings": [r.warning for r in rows],
            "NEWS2": [r.news2 for r in rows],
            "Weight gain (%)": [
                None if r.weight_gain_pct is None else round(r.weight_gain_pct, 1) for r in rows
            ],
            "Last vitals": [
                context.local(r.last_vitals_at) + ("  ⚠ overdue" if r.overdue else "") for r in rows
            ],
        }
    )


def _advice_style(value: object) -> str:
    colour = ADVICE_COLOUR.get(str(value))
    return f"color: white; background-color: {colour}; font-weight: 600" if colour else ""


@st.fragment(run_every="15s")
def ward_table() -> None:
    """Read the ward and draw it; reruns alone every 15 s so nobody presses reload."""
    now = context.now()
    rows = ward_rows(context.current_courses(), context.rules(), now)
    st.caption(
        f"{len(rows)} patients · updated {context.local(now, '%H:%M:%S')} "
        f"({context.ward_timezone().key})"
    )
    if not rows:
        st.info("No patients admitted. Load the demo ward with `python -m il2_tox demo`.")
        return
    frame = _frame(rows)
    st.dataframe(
        frame.style.map(_advice_style, subset=["Advice"]),
        hide_index=True,
        width="stretch",
        column_config={
            "Why": st.column_config.TextColumn("Why", width="large"),
            "NEWS2": st.column_config.NumberColumn("NEWS2", format="%d"),
            "Weight gain (%)": st.column_config.NumberColumn("Weight gain (%)", format="%.1f"),
        },
    )
    with st.expander("Active flags by patient"):
        for r in rows:
            if r.flags:
                st.text(f"Bed {r.bed} · {r.name}")  # names are free text: never markdown
                for message in r.flags:
                    st.text(message)


auth.require_role("nurse", "physician", "admin")
st.title("HD IL-2 ward")
ward_table()
