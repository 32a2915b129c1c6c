"""Ward overview: every patient on IL-2, most urgent first, refreshing on its own."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import auth, context, faults, sheets, snapshots
from dashboard.text import plain
from il2_tox.services.ward import WardRow

PATIENT_PAGE = str(Path(__file__).resolve().parent / "patient.py")
ADVICE_LABEL = {"hold": "HOLD", "caution": "CAUTION", "give": "GIVE"}
NO_ADVICE = "—"
# Drawn as a coloured chip by the grid itself: a pandas Styler would colour the cell too, but
# formats every cell of the frame on the server on each rerun (most of the page's server time).
ADVICE_CHIPS = {"HOLD": "#b71c1c", "CAUTION": "#e65100", "GIVE": "#1b5e20", NO_ADVICE: "#9e9e9e"}


def _flag_summary(row: WardRow) -> str:
    parts = []
    if row.critical:
        parts.append(f"{row.critical} critical")
    if row.warning:
        parts.append(f"{row.warning} warning")
    return " · ".join(parts) or "none"


def _next_dose(row: WardRow, now: datetime) -> str:
    if row.next_dose_time is None:
        return "cycle complete"
    if row.doses_given == 0 and row.next_dose_number == 1 and row.cycle == 1:
        return "first dose: not yet given"
    return f"{context.local(row.next_dose_time, '%H:%M')} ({row.next_dose_in(now)})"


def _frame(rows: list[WardRow], now: datetime) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Bed": [r.bed for r in rows],
            "Patient": [r.name for r in rows],
            "Cycle · dose": [r.dose_label for r in rows],
            "Next dose": [_next_dose(r, now) for r in rows],
            "Advice": [[ADVICE_LABEL.get(r.advice or "", NO_ADVICE)] for r in rows],
            "Why": ["; ".join(r.criteria) or "no criterion met" for r in rows],
            "Active flags": [_flag_summary(r) for r in rows],
            "NEWS2": [r.news2 for r in rows],
            "Weight gain (%)": [
                None if r.weight_gain_pct is None else round(r.weight_gain_pct, 1) for r in rows
            ],
            "Weight trend (%)": [list(r.weight_trend) for r in rows],
            "SBP 24 h (mmHg)": [list(r.sbp_trend) for r in rows],
            "Last vitals": [
                context.local(r.last_vitals_at, "%H:%M") + (" ⚠ overdue" if r.overdue else "")
                for r in rows
            ],
            "MRN": [r.patient_id for r in rows],
        }
    )


@st.fragment(run_every="5s")
def ward_table() -> None:
    """Draw the ward; reruns alone every 5 s so nobody presses reload (cheap when unchanged)."""
    auth.rerun_if_timed_out()
    now = context.now()
    # Re-read and re-assessed only when something was written or the minute turned.
    # The database down or busy: the rows this session last read, and a notice saying so.
    rows = faults.read_or_last(
        "ward", lambda: list(snapshots.ward(context.database(), context.rules(), now))
    )
    faults.offline_notice(entry=False)
    st.caption(
        f"{len(rows)} patients · updated {context.local(now, '%H:%M:%S')} "
        f"({context.ward_timezone().key})"
    )
    if not rows:
        st.info("No patients admitted. Load the demo ward with `python -m il2_tox demo`.")
        return
    frame = _frame(rows, now)
    st.caption("Select a row to open that patient's chart.")
    event = st.dataframe(
        frame,
        key="ward_table",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        column_config={
            "Bed": st.column_config.TextColumn("Bed", width=40),
            "Advice": st.column_config.MultiselectColumn(
                "Advice", options=list(ADVICE_CHIPS), color=list(ADVICE_CHIPS.values()), width=90
            ),
            "Why": st.column_config.TextColumn("Why", width="medium"),
            # "1 critical · 2 warning" whole: the counts are read at a glance, not hovered.
            "Active flags": st.column_config.TextColumn("Active flags", width=150),
            "NEWS2": st.column_config.NumberColumn("NEWS2", format="%d", width=60),
            "Weight gain (%)": st.column_config.NumberColumn(
                "Weight gain (%)", format="%.1f", width=95
            ),
            "Weight trend (%)": st.column_config.LineChartColumn(
                "Weight trend (%)", y_min=-2, y_max=20, width=110
            ),
            "SBP 24 h (mmHg)": st.column_config.LineChartColumn(
                "SBP 24 h (mmHg)", y_min=60, y_max=160, width=110
            ),
        },
    )
    selected = event.selection.rows
    if selected:
        # A page switch keeps the signed-in session (a plain link would start a new one).
        st.switch_page(PATIENT_PAGE, query_params={"patient": rows[selected[0]].patient_id})
    overdue = [r for r in rows if r.overdue]
    if overdue:
        # Beds and names are free text: escaped, shown as typed, never as Markdown.
        st.warning(
            "No vitals in the last 4 h: "
            + ", ".join(plain(f"bed {r.bed} ({r.name})") for r in overdue)
        )
    with st.expander("Active flags by patient"):
        # One text element (names are free text: never Markdown), not one per line: a ward of
        # flags is otherwise dozens of elements for the browser to lay out on every visit.
        st.text(
            "\n\n".join(
                "\n".join([f"Bed {r.bed} · {r.name}", *(f"  • {m}" for m in r.flags)])
                for r in rows
                if r.flags
            )
            or "No active flags."
        )


auth.require_role("nurse", "physician", "admin")
st.title("HD IL-2 ward")
ward_table()
sheets.handoff_download()  # made only when asked, outside the refreshing table
