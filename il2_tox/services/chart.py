"""What the patient chart reads beside the course: when each entry was observed and recorded.

A value typed long after it was measured (a set written up at the end of a shift) is a late
entry: the chart marks it, because the advice shown at the time did not know it. Course files
do not carry recording times, so this is read from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from il2_tox.store import models as m
from il2_tox.store.engine import Database
from il2_tox.store.records import observation_is_current
from il2_tox.units import concept_of

# An entry recorded more than this after its observation time is marked late on the chart
# (a bedside set is expected to be entered while the nurse is still at the bedside).
LATE_ENTRY_AFTER = timedelta(hours=1)

# Users that load records in bulk (course import, the demo ward): their recording time is the
# time of the load, not of a bedside entry, so it says nothing about lateness.
BULK_ROLES = frozenset({"system"})


@dataclass(frozen=True)
class EntryTiming:
    """When one current observation was observed and recorded, and by whom."""

    code: str
    observed_at: datetime
    recorded_at: datetime
    recorded_by: str  # the user's display name
    bulk: bool  # recorded by an import, not typed at the bedside

    @property
    def concept(self) -> str:
        """The canonical code (SpO2 2708-6 reads as 59408-5), as the chart keys its series."""
        return concept_of(self.code)

    @property
    def delay(self) -> timedelta:
        return self.recorded_at - self.observed_at

    @property
    def late(self) -> bool:
        """True when typed more than LATE_ENTRY_AFTER after it was observed (imports never)."""
        return not self.bulk and self.delay > LATE_ENTRY_AFTER


def entry_timings(db: Database, admission_id: int) -> list[EntryTiming]:
    """Return the observed/recorded times of an admission's current observations, by time.

    Current means as the course shows it: a corrected value counts with its correction's
    recording time (the time the shown value was typed); withdrawn entries are left out.
    """
    with db.read_session() as session:
        rows = session.execute(
            select(
                m.Observation.code,
                m.Observation.observed_at,
                m.Observation.recorded_at,
                m.User.display_name,
                m.User.role,
            )
            .join(m.User, m.User.id == m.Observation.recorded_by)
            .where(m.Observation.admission_id == admission_id, observation_is_current())
            .order_by(m.Observation.observed_at, m.Observation.id)
        ).all()
    return [
        EntryTiming(
            code=code,
            observed_at=observed_at,
            recorded_at=recorded_at,
            recorded_by=name,
            bulk=role in BULK_ROLES,
        )
        for code, observed_at, recorded_at, name, role in rows
    ]


def late_entries(db: Database, admission_id: int) -> list[EntryTiming]:
    """Return the admission's current observations that were entered late, by observed time."""
    return [timing for timing in entry_timings(db, admission_id) if timing.late]


def change_marker(db: Database, admission_id: int | None = None) -> tuple[int, int, int, int]:
    """Return a marker that changes whenever anything the chart shows is written.

    Rows are append-only (a correction is a new row), so the highest ids of observations,
    doses and acknowledgements, with the number of admissions, change on every write and on
    nothing else. One small indexed query: live pages poll this every few seconds and rebuild
    only when it moves. `admission_id` None covers the whole ward.
    """
    tables = (m.Observation, m.Dose, m.FlagAcknowledgement)
    with db.read_session() as session:
        highest = []
        for table in tables:
            query = select(func.max(table.id))
            if admission_id is not None:
                query = query.where(table.admission_id == admission_id)
            highest.append(session.scalar(query) or 0)
        admissions = session.scalar(select(func.count(m.Admission.id))) or 0
    return highest[0], highest[1], highest[2], admissions
