"""What the live pages show for one state of the record: built once, shared by every session.

The ward overview and the patient chart poll a change marker (`il2_tox.services.chart.
change_marker`: the highest ids of the append-only rows) and rebuild (read, assess, draw) only
when it moved, or when the minute turned ("overdue", next-dose countdowns and snoozes move
with the clock). The result does not depend on who asks, so it is cached once for all
sessions (`st.cache_resource`): a second user opening the same chart, or the same user coming
back to it, pays no reading, assessing or drawing.

Who may see it is checked by the page (`auth.require_role`) before it calls anything here;
nothing per user is cached. Cached values are shared between sessions and threads, so they are
immutable (frozen dataclasses, tuples) or never changed after they are built (the figures:
`st.plotly_chart` copies a figure before it sends it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import streamlit as st

from dashboard import charts, context
from il2_tox.assess import Assessment, assess
from il2_tox.course import Course
from il2_tox.rules.config import Rules
from il2_tox.services.bedside import Acknowledgement, active_acknowledgements
from il2_tox.services.chart import EntryTiming, change_marker, entry_timings
from il2_tox.services.course_io import (
    AdmissionSummary,
    NotFound,
    list_admissions,
    load_course_from_db,
)
from il2_tox.services.ward import WardRow, summarize, ward_rows
from il2_tox.store import Database

# A minute of cached states per patient chart and panel choice is a few hundred kB; the oldest
# go first. Stale minutes are never asked for again (the key holds the minute).
CHART_ENTRIES = 64
WARD_ENTRIES = 8


def minute(moment: datetime) -> datetime:
    """Return `moment` cut to its minute: the clock's part of every cache key here."""
    return moment.replace(second=0, microsecond=0)


def _rules_key(rules: Rules) -> int:
    # load_rules() returns the same object until the file changes (cached by modification time).
    return id(rules)


# ---------------------------------------------------------------------------------------------
# The ward


def admissions(db: Database) -> tuple[AdmissionSummary, ...]:
    """Return the current admissions, re-read only when anything on the ward was written."""
    return _admissions(str(db.url), change_marker(db), db)


@st.cache_resource(max_entries=WARD_ENTRIES, show_spinner=False)
def _admissions(url: str, marker: tuple[int, ...], _db: Database) -> tuple[AdmissionSummary, ...]:
    return tuple(list_admissions(_db))


def ward(db: Database, rules: Rules, now: datetime) -> tuple[WardRow, ...]:
    """Return the ward's rows, most urgent first, as of `now`'s minute."""
    return _ward(str(db.url), change_marker(db), _rules_key(rules), minute(now), db, rules)


@st.cache_resource(max_entries=WARD_ENTRIES, show_spinner=False)
def _ward(
    url: str,
    marker: tuple[int, ...],
    rules_id: int,
    at: datetime,
    _db: Database,
    _rules: Rules,
) -> tuple[WardRow, ...]:
    return tuple(ward_rows(context.courses_of(_db), _rules, at))


# ---------------------------------------------------------------------------------------------
# One patient's chart


@dataclass(frozen=True)
class ChartState:
    """Everything the chart area shows for one state of one admission's record."""

    at: datetime  # the minute it was built for
    course: Course
    assessment: Assessment
    summary: WardRow  # the patient's ward row: cycle, NEWS2, weight gain, flag counts
    late: tuple[EntryTiming, ...]
    acknowledged: dict[tuple[str, datetime], Acknowledgement]
    chart: go.Figure
    timeline: go.Figure


def chart(
    db: Database, rules: Rules, admission_id: int, groups: tuple[str, ...], now: datetime
) -> ChartState | None:
    """Return the chart area of an admission as of `now`'s minute; None if it is gone."""
    marker = change_marker(db, admission_id)
    tz = context.ward_timezone().key
    return _chart(
        str(db.url), admission_id, groups, marker, _rules_key(rules), minute(now), tz, db, rules
    )


@st.cache_resource(max_entries=CHART_ENTRIES, show_spinner=False)
def _chart(
    url: str,
    admission_id: int,
    groups: tuple[str, ...],
    marker: tuple[int, ...],
    rules_id: int,
    at: datetime,
    tz_name: str,
    _db: Database,
    _rules: Rules,
) -> ChartState | None:
    try:
        course = load_course_from_db(_db, admission_id)
    except NotFound:
        return None
    assessment = assess(course, _rules)
    late = tuple(t for t in entry_timings(_db, admission_id) if t.late)
    acknowledged = active_acknowledgements(_db, admission_id, at)
    tz = ZoneInfo(tz_name)
    return ChartState(
        at=at,
        course=course,
        assessment=assessment,
        summary=summarize(course, assessment, at, _rules),
        late=late,
        acknowledged=acknowledged,
        chart=charts.patient_chart(
            course,
            assessment,
            _rules,
            tz=tz,
            groups=groups,
            late={(t.concept, t.observed_at) for t in late},
        ),
        timeline=charts.flags_timeline(
            course, assessment, tz=tz, quiet=lambda f: (f.code, f.time) in acknowledged
        ),
    )
