"""The ward overview: one row per admitted patient, most urgent first.

Pure functions of a course and its assessment (the one `assess`), so the page shows exactly
what the engine says, and the summary is tested without a browser or a database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from il2_tox.assess import Assessment, assess
from il2_tox.course import Course
from il2_tox.rules.base import HR, SBP, SEVERITIES, WEIGHT
from il2_tox.rules.base import target_sbp as target_sbp_of
from il2_tox.rules.config import Rules, load_rules

# How far back the ward's small SBP trend line reaches (three doses).
SBP_TREND_WINDOW = timedelta(hours=24)


def bed_order(bed: str) -> tuple[int, str]:
    """Sort key of a bed label: numbered beds in their natural order (2 before 10), then the
    others ("side room") by name."""
    return (int(bed), "") if bed.isdigit() else (10**6, bed)


# Not hold, -critical flags, not caution, -warnings, -NEWS2, (bed number, bed name).
Urgency = tuple[bool, int, bool, int, int, tuple[int, str]]


@dataclass(frozen=True)
class WardRow:
    """What the ward overview shows for one patient."""

    patient_id: str
    name: str
    bed: str
    cycle: int
    doses_given: int
    next_dose_number: int | None
    next_dose_time: datetime | None
    advice: str | None
    criteria: tuple[str, ...]
    critical: int
    warning: int
    flags: tuple[str, ...]
    news2: int | None
    news2_response: str | None
    weight_gain_pct: float | None
    last_vitals_at: datetime | None
    overdue: bool
    target_sbp: float = 90.0
    sbp_trend: tuple[float, ...] = ()
    weight_trend: tuple[float, ...] = ()  # % over the pre-treatment weight, each weighing

    @property
    def dose_label(self) -> str:
        """E.g. "C1 · dose 6/14" (the next dose), or "C1 · 14/14 done"."""
        if self.next_dose_number is None:
            return f"C{self.cycle} · {self.doses_given} given, cycle complete"
        return f"C{self.cycle} · dose {self.next_dose_number}/14"

    def next_dose_in(self, now: datetime) -> str:
        """Return the time to the next dose as a nurse says it ("in 1 h 05", "due 20 min ago")."""
        if self.next_dose_time is None:
            return "—"
        minutes = round((self.next_dose_time - now).total_seconds() / 60)
        span = (
            f"{abs(minutes) // 60} h {abs(minutes) % 60:02d}"
            if abs(minutes) >= 60
            else (f"{abs(minutes)} min")
        )
        return f"in {span}" if minutes >= 0 else f"due {span} ago"

    def urgency(self) -> Urgency:
        """Sort key: hold first, then critical flags, caution, warnings, NEWS2, bed.

        A patient with an active critical flag comes before one with caution advice and no
        critical flag, whatever the advice for the next dose: both hold advice and critical
        flags are what the team looks at first. Beds in their natural order (2 before 10).
        """
        return (
            self.advice != "hold",
            -self.critical,
            self.advice != "caution",
            -self.warning,
            -(self.news2 or 0),
            bed_order(self.bed),
        )


def summarize(
    course: Course, assessment: Assessment, now: datetime, rules: Rules | None = None
) -> WardRow:
    """Return the ward row of one course; `now` decides only whether vitals are overdue."""
    rules = rules if rules is not None else load_rules()
    nxt = assessment.next_dose
    last_dose = max(course.doses, key=lambda d: d.time) if course.doses else None
    cycle = nxt.cycle if nxt is not None else (last_dose.cycle if last_dose else 1)
    given = sum(1 for d in course.doses if d.cycle == cycle and d.status == "given")
    active = [f for f in assessment.flags if f.active]
    active.sort(key=lambda f: -SEVERITIES.index(f.severity))
    vitals = [o.time for o in course.observations if o.concept in (HR, SBP)]
    last_vitals = max(vitals) if vitals else None
    baseline = course.patient.weight_kg
    weights = sorted((o for o in course.observations if o.concept == WEIGHT), key=lambda o: o.time)
    weight_trend = tuple((float(o.value) / baseline - 1.0) * 100.0 for o in weights)
    since = assessment.as_of - SBP_TREND_WINDOW
    sbp = sorted(
        (o for o in course.observations if o.concept == SBP and o.time >= since),
        key=lambda o: o.time,
    )
    news = assessment.news2[-1] if assessment.news2 else None
    return WardRow(
        patient_id=course.patient.id,
        name=course.patient.name or course.patient.id,
        bed=course.admission.bed or "",
        cycle=cycle,
        doses_given=given,
        next_dose_number=nxt.number if nxt is not None else None,
        next_dose_time=nxt.time if nxt is not None else None,
        advice=nxt.advice if nxt is not None else None,
        criteria=tuple(c.message for c in nxt.criteria) if nxt is not None else (),
        critical=sum(1 for f in active if f.severity == "critical"),
        warning=sum(1 for f in active if f.severity == "warning"),
        flags=tuple(f.message for f in active),
        news2=news.score if news is not None else None,
        news2_response=news.response if news is not None else None,
        weight_gain_pct=weight_trend[-1] if weight_trend else None,
        last_vitals_at=last_vitals,
        overdue=last_vitals is None or now - last_vitals > vitals_overdue_after(rules),
        target_sbp=target_sbp_of(course.admission.usual_sbp_mmhg, rules),
        sbp_trend=tuple(float(o.value) for o in sbp),
        weight_trend=weight_trend,
    )


def vitals_overdue_after(rules: Rules) -> timedelta:
    """Return how old the newest vitals may be before they are overdue (`monitoring.vitals`)."""
    return timedelta(hours=rules.rule("monitoring.vitals").num("every_h"))


def ward_rows(courses: Iterable[Course], rules: Rules, now: datetime) -> list[WardRow]:
    """Return one row per course, most urgent first."""
    rows = [summarize(course, assess(course, rules), now, rules) for course in courses]
    rows.sort(key=WardRow.urgency)
    return rows
