"""Patient chart: one patient's course on a shared time axis, doses on every panel, the flags,
the prior ICI toxicity and late entries; refreshing on its own.

UI only: the figures come from `dashboard.charts`, the data from `il2_tox.services` and the
one `assess`. Open a patient directly with `?patient=MRN` (links from the ward overview).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard import auth, charts, context, faults, sheets, snapshots
from dashboard.corrections_form import corrections_section
from il2_tox.assess import Assessment
from il2_tox.course import Course
from il2_tox.rules.base import SEVERITIES, Flag
from il2_tox.services.bedside import Acknowledgement
from il2_tox.services.chart import (
    LATE_ENTRY_AFTER,
    EntryTiming,
)
from il2_tox.services.course_io import (
    AdmissionSummary,
)
from il2_tox.services.ward import WardRow, bed_order

REFRESH = "2s"
QUERY_KEY = "patient"
CHART, FLAGS, LATE = "Chart", "Flags", "Late entries"
VIEWS = (CHART, FLAGS, LATE)
DEFAULT_GROUPS = [charts.VITALS]
ADVICE_BADGE = {"hold": "red", "caution": "orange", "give": "green"}
PLOT_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:])")


def _plain(text: str) -> str:
    """Return free text for a Markdown element, every Markdown character escaped: shown as typed."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _bed_order(item: AdmissionSummary) -> tuple[str, tuple[int, str]]:
    return (item.ward or "", bed_order(item.bed or ""))


def _label(item: AdmissionSummary) -> str:
    """E.g. "3 · Demo, Cora (DEMO-003)"."""
    return f"{item.bed or '–'} · {item.name or item.patient_id} ({item.patient_id})"


# ---------------------------------------------------------------------------------------------
# Pieces of the chart area


def _header(row: WardRow) -> None:
    st.subheader(_plain(f"{row.name} · bed {row.bed or '–'} · {row.patient_id}"), anchor=False)
    cycle, news2, weight, critical, warnings = st.columns(5)
    cycle.metric("Cycle · dose", f"C{row.cycle} · {row.next_dose_number or '–'}/14")
    news2.metric("NEWS2", "—" if row.news2 is None else str(row.news2))
    weight.metric(
        "Weight gain (%)", "—" if row.weight_gain_pct is None else f"{row.weight_gain_pct:+.1f}"
    )
    critical.metric("Critical flags (active)", str(row.critical))
    warnings.metric("Warnings (active)", str(row.warning))
    vitals = f"Last vitals {context.local(row.last_vitals_at)}"
    if row.overdue:
        vitals += " — none in the last 4 h"
    st.caption(vitals)


def _advice(assessment: Assessment) -> None:
    """The advice for the next dose, with every criterion met and its source."""
    nxt = assessment.next_dose
    with st.container(border=True):
        if nxt is None:
            st.markdown("**No next dose:** the cycle has its 14 doses recorded.")
            return
        colour = ADVICE_BADGE.get(nxt.advice, "gray")
        st.markdown(
            f":{colour}-background[**{nxt.advice.upper()}**] next dose "
            f"{nxt.number} of cycle {nxt.cycle}, due {_plain(context.local(nxt.time))} "
            "— decision support: the team decides"
        )
        if not nxt.criteria:
            st.caption("No hold or caution criterion is met.")
            return
        st.text(
            "\n".join(
                f"• {c.message}  ({'hold' if c.kind == 'absolute' else 'caution'} criterion; "
                f"{c.source})"
                for c in nxt.criteria
            )
        )


def _late_table(late: Sequence[EntryTiming]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Item": [charts.short_name(t.code) for t in late],
            "Observed": [context.local(t.observed_at) for t in late],
            "Recorded": [context.local(t.recorded_at) for t in late],
            "Delay (h)": [round(t.delay.total_seconds() / 3600, 1) for t in late],
            "Recorded by": [t.recorded_by for t in late],
        }
    )


def _late_note(late: Sequence[EntryTiming]) -> None:
    """One line under the chart: how many entries were late (their table is a view away)."""
    hours = LATE_ENTRY_AFTER.total_seconds() / 3600
    if not late:
        st.caption(f"No late entries (recorded more than {hours:g} h after observation).")
        return
    entries = "1 late entry" if len(late) == 1 else f"{len(late)} late entries"
    st.caption(
        f"⚠ {entries}: recorded more than {hours:g} h after observation; drawn as open rings. "
        "Details under the view “Late entries”."
    )


def _late_entries(late: Sequence[EntryTiming]) -> None:
    hours = LATE_ENTRY_AFTER.total_seconds() / 3600
    if not late:
        st.caption(f"No late entries (recorded more than {hours:g} h after observation).")
        return
    entries = "1 late entry" if len(late) == 1 else f"{len(late)} late entries"
    st.caption(
        f"{entries}: recorded more than {hours:g} h after observation (open rings on the chart)"
    )
    st.dataframe(_late_table(late), hide_index=True)


def _prior_toxicity(course: Course, assessment: Assessment) -> None:
    st.markdown("**Prior ICI toxicity**")
    if not course.prior_toxicities:
        st.caption("No prior checkpoint-inhibitor toxicity recorded.")
    else:
        rows = course.prior_toxicities
        # A static table wraps its cells, so the whole history shows in a half-width column;
        # it reads Markdown, so every free text is escaped.
        st.table(
            pd.DataFrame(
                {
                    "Agent": [_plain(t.agent) for t in rows],
                    "Organ": [t.irae.replace("_", " ") for t in rows],
                    "Grade": [t.grade for t in rows],
                    "Onset": [t.onset.isoformat() if t.onset else "—" for t in rows],
                    "Resolved": [
                        t.resolved.isoformat() if t.resolved else "not resolved" for t in rows
                    ],
                    "Steroids": [
                        "—" if t.steroids is None else ("yes" if t.steroids else "no") for t in rows
                    ],
                }
            ),
            hide_index=True,
            border="horizontal",
        )
        for t in rows:
            if t.note:
                st.caption(_plain(f"{t.irae.replace('_', ' ')}: {t.note}"))
    for flag in assessment.flags:
        if flag.category != "ici_recurrence" or flag.differential is None:
            continue
        organ = (flag.irae or "").replace("_", " ")
        st.markdown(
            f"**Possible recurrence of {_plain(organ)}** ({flag.severity}, "
            f"since {_plain(context.local(flag.time))})"
        )
        favours_ici, favours_il2 = st.columns(2)
        with favours_ici:
            st.markdown("*Favours the old ICI toxicity*")
            for item in flag.differential.favors_ici or ("nothing recorded",):
                st.text(f"• {item}")
        with favours_il2:
            st.markdown("*Favours IL-2*")
            for item in flag.differential.favors_il2 or ("nothing recorded",):
                st.text(f"• {item}")


def _acknowledgement_text(ack: Acknowledgement | None) -> str:
    if ack is None:
        return ""
    until = f", snoozed until {context.local(ack.snooze_until)}" if ack.snooze_until else ""
    return f"{ack.by_name}, {context.local(ack.at)}{until}: {ack.reason}"


def _flags_table(
    flags: Sequence[Flag], acknowledged: Mapping[tuple[str, datetime], Acknowledgement]
) -> None:
    """List every flag: active first, then by severity; acknowledged and past ones greyed."""

    def quiet(flag: Flag) -> bool:
        return (flag.code, flag.time) in acknowledged

    st.subheader("Flags", anchor=False)
    if not flags:
        st.caption("No flags.")
        return
    ordered = sorted(
        flags,
        key=lambda f: (quiet(f), not f.active, -SEVERITIES.index(f.severity), -f.time.timestamp()),
    )
    status = [
        "acknowledged" if quiet(f) else ("active" if f.active else "no longer present")
        for f in ordered
    ]
    # A static table wraps its cells, so every message, its evidence and its source show
    # whole; it reads Markdown, so all text is escaped (an acknowledgement reason is typed).
    frame = pd.DataFrame(
        {
            "Severity": [f.severity.upper() for f in ordered],
            "Since": [_plain(context.local(f.time)) for f in ordered],
            "Message": [_plain(f.message) for f in ordered],
            "Status": status,
            "Category": [charts.CATEGORY_LABELS.get(f.category, f.category) for f in ordered],
            "Evidence": [_plain(charts.evidence_text(f, context.ward_timezone())) for f in ordered],
            "Source": [_plain(f.source) for f in ordered],
            "Acknowledged": [
                _plain(_acknowledgement_text(acknowledged.get((f.code, f.time)))) for f in ordered
            ],
        }
    )

    def quieter(row: pd.Series) -> list[str]:
        faded = row["Status"] != "active"
        return ["color: #78909c" if faded else "" for _ in row]

    def severity(value: object) -> str:
        colour = {"CRITICAL": "#b71c1c", "WARNING": "#e65100"}.get(str(value))
        return f"color: {colour}; font-weight: 600" if colour else ""

    st.table(
        frame.style.apply(quieter, axis=1).map(severity, subset=["Severity"]),
        hide_index=True,
        border="horizontal",
    )


@st.fragment(run_every=REFRESH)
def chart_area(admission_id: int, view: str, groups: tuple[str, ...]) -> None:
    """Draw everything about the admission; reruns alone every few seconds.

    Nothing typed lives here (a rerun would lose it): the pickers are outside, and so must be
    any acknowledgement form. Acknowledged flags (`active_acknowledgements`, snoozes until
    they lapse) stay listed, greyed, and are drawn faint on the timeline.
    """
    auth.rerun_if_timed_out()
    # Read, assessed and drawn only when something was written or the minute turned; shared
    # by every session showing this chart.
    # The database down or busy: what this session last drew, and a notice saying so.
    drawn = faults.read_or_last(
        f"chart.{admission_id}.{groups}",
        lambda: snapshots.chart(
            context.database(), context.rules(), admission_id, groups, context.now()
        ),
    )
    faults.offline_notice(entry=False)
    if drawn is None:
        st.warning("This admission is no longer in the database; choose another patient.")
        return
    tz = context.ward_timezone()
    _header(drawn.summary)
    # The advice and, beside it, what is known of earlier checkpoint-inhibitor toxicity: the
    # two things weighed before the next dose.
    advice, history = st.columns([2, 3], gap="large")
    with advice:
        _advice(drawn.assessment)
    with history:
        _prior_toxicity(drawn.course, drawn.assessment)
    st.caption(f"updated {context.local(context.now(), '%H:%M:%S')} ({tz.key})")
    # Only the chosen view is built and sent: the page stays short and the chart comes first.
    if view == CHART:
        st.plotly_chart(drawn.chart, config=PLOT_CONFIG, key=f"chart-{admission_id}")
        _late_note(drawn.late)
    elif view == FLAGS:
        # Full width, with the chart's margins: the time axis lines up with the chart's.
        st.plotly_chart(drawn.timeline, config=PLOT_CONFIG, key=f"flags-{admission_id}")
        _flags_table(drawn.assessment.flags, drawn.acknowledged)
    else:
        _late_entries(drawn.late)


# ---------------------------------------------------------------------------------------------
# The page

user = auth.require_role("nurse", "physician", "admin")
st.title("Patient chart", anchor=False)
admissions = sorted(
    faults.read_or_last("chart.admissions", lambda: snapshots.admissions(context.database())),
    key=_bed_order,
)
if not admissions:
    st.info("No patients admitted. Load the demo ward with `python -m il2_tox demo`.")
    st.stop()

by_mrn = {item.patient_id: item for item in admissions}
requested = st.query_params.get(QUERY_KEY)
if requested is not None and requested not in by_mrn:
    st.warning("The patient in the link is not on the ward now; choose one below.")
mrns = list(by_mrn)
picked, chosen_view, shown = st.columns([4, 3, 5])
mrn = picked.selectbox(
    "Patient (bed · name, MRN)",
    mrns,
    index=mrns.index(requested) if requested in by_mrn else 0,
    format_func=lambda value: _label(by_mrn[value]),
)
# The URL names the patient shown, so a reload or a shared link opens the same chart.
st.query_params[QUERY_KEY] = mrn
view = chosen_view.segmented_control("View", VIEWS, default=CHART, required=True) or CHART
groups: list[str] = []
if view == CHART:
    # The vital signs first (what the bedside needs before a dose); the rest one tap away.
    groups = shown.pills(
        "Panels",
        charts.GROUPS,
        selection_mode="multi",
        default=DEFAULT_GROUPS,
        format_func=lambda group: charts.GROUP_LABELS[group],
    )
chart_area(by_mrn[mrn].admission_id, view, tuple(groups))
# Outside the refreshing fragment: a rerun every 2 s would lose what is typed in a correction.
corrections_section(by_mrn[mrn].admission_id, user)
faults.offline_notice()  # if the corrections' own reads fell back to the last reading
# Printable sheets, made only when asked (outside the refreshing chart area).
printing, vitals_sheet = st.columns(2)
with printing:
    sheets.handoff_download(mrn)
with vitals_sheet:
    sheets.vitals_download(mrn, tuple(range(1, (by_mrn[mrn].latest_dose_cycle or 1) + 1)))
