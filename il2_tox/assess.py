"""The one entry point of the engine: `assess(course, rules) -> Assessment`.

The command line (`python -m il2_tox assess`) and the dashboard both call `assess`; nothing
else computes flags or advice. It is a pure function of the course and the rules: `as_of` is
the latest time in the course, never the wall clock, so a file always gives the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from il2_tox.course import Course, format_time
from il2_tox.rules import (
    capillary_leak,
    dose_advice,
    eligibility,
    ici,
    liver,
    news2,
    organs,
)
from il2_tox.rules.base import SEVERITIES, CourseIndex, DoseAdvice, Flag, LiverRow, News2Row
from il2_tox.rules.config import Rules, load_rules

FORMAT = "il2-tox-assessment/1"


@dataclass(frozen=True)
class Assessment:
    """What the engine says about one course (format `il2-tox-assessment/1`)."""

    patient_id: str
    as_of: datetime
    flags: tuple[Flag, ...]
    dose_advice: tuple[DoseAdvice, ...]
    liver: tuple[LiverRow, ...]
    news2: tuple[News2Row, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "patient_id": self.patient_id,
            "as_of": format_time(self.as_of),
            "flags": [f.to_dict() for f in self.flags],
            "dose_advice": [a.to_dict() for a in self.dose_advice],
            "liver": [r.to_dict() for r in self.liver],
            "news2": [r.to_dict() for r in self.news2],
        }

    @property
    def next_dose(self) -> DoseAdvice | None:
        """The advice for the next, not yet recorded dose (None once the cycle has 14)."""
        for advice in reversed(self.dose_advice):
            if advice.status is None:
                return advice
        return None


def _flag_order(flag: Flag) -> tuple[datetime, int, str]:
    return (flag.time, -SEVERITIES.index(flag.severity), flag.code)


def assess(course: Course, rules: Rules | None = None) -> Assessment:
    """Return the assessment of one course under the given rules (default: the rules in force)."""
    rules = rules if rules is not None else load_rules()
    index = CourseIndex(course, rules)
    liver_rows = liver.table(index)
    news2_rows = news2.table(index)
    flags = [
        *eligibility.flags(index),
        *capillary_leak.flags(index),
        *liver.flags(index, liver_rows),
        *ici.flags(index, liver_rows),
        *organs.flags(index),
        *news2.flags(index, news2_rows),
    ]
    flags.sort(key=_flag_order)
    return Assessment(
        patient_id=course.patient.id,
        as_of=index.as_of,
        flags=tuple(flags),
        dose_advice=tuple(dose_advice.advise(index)),
        liver=tuple(liver_rows),
        news2=tuple(news2_rows),
    )
