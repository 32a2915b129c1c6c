"""Dose advice: give, caution or hold for every recorded dose and the next one (REFERENCE §2.5).

`hold` = any absolute criterion (Dutcher's absolute column and the label's withhold items), or
three or more relative criteria; `caution` = one or two relative criteria; `give` = none. Each
dose is judged on the latest value of each item at or before the dose time: vitals, oxygen and
nursing items looking back 12 h, weight and labs 24 h; urine and stool on the latest collection
period(s) ending in the 12 h before the dose, pro-rated to 8 h. A dose's own record never
changes its advice: the advice says what the criteria said, the record says what was done.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from il2_tox.course import Observation
from il2_tox.rules import criteria
from il2_tox.rules.base import (
    ACVPU,
    BILIRUBIN,
    COGNITION,
    CREATININE,
    FIO2,
    HR,
    O2_FLOW,
    PHENYLEPHRINE,
    PLATELETS,
    RALES,
    RHYTHM,
    SBP,
    SKIN,
    SPO2,
    TROPONIN,
    TROPONIN_HS,
    WEIGHT,
    CourseIndex,
    Criterion,
    DoseAdvice,
)

Check = Callable[[CourseIndex, Observation], Criterion | None]

# Items judged on their latest value within the vitals look-back (vitals, nursing items), in
# the order the criteria are listed within each kind.
VITAL_CHECKS: tuple[tuple[str, Check], ...] = (
    (HR, criteria.heart_rate),
    (SBP, criteria.sbp),
    (PHENYLEPHRINE, criteria.phenylephrine),
    (SPO2, criteria.spo2),
    (RALES, criteria.rales),
    (ACVPU, criteria.consciousness),
    (COGNITION, criteria.cognition),
    (RHYTHM, criteria.rhythm),
    (SKIN, criteria.skin),
)
# Items judged on their latest value within the lab look-back (labs and weight). The two
# troponin assays are separate items: either one above its limit holds.
LAB_CHECKS: tuple[tuple[str, Check], ...] = (
    (CREATININE, criteria.creatinine),
    (PLATELETS, criteria.platelets),
    (BILIRUBIN, criteria.bilirubin),
    (WEIGHT, criteria.weight_gain),
    (TROPONIN, criteria.troponin),
    (TROPONIN_HS, criteria.troponin),
)


def advise(index: CourseIndex) -> list[DoseAdvice]:
    """Return the advice for each recorded dose, in time order, then for the next dose.

    The next dose is listed while the latest cycle has fewer than 14 recorded doses (see
    `next_dose`); its status is None.
    """
    out = [
        _advice_at(index, dose.cycle, dose.number, dose.time, dose.status) for dose in index.doses
    ]
    upcoming = next_dose(index)
    if upcoming is not None:
        cycle, number, time = upcoming
        out.append(_advice_at(index, cycle, number, time, None))
    return out


def next_dose(index: CourseIndex) -> tuple[int, int, datetime] | None:
    """Return (cycle, number, time) of the next dose, or None when the latest cycle is full.

    Latest cycle = the highest cycle recorded. Number = its highest recorded number + 1 (the
    same as the last dose's number + 1 when numbers follow time, and never a duplicate when
    they do not); time = its latest dose time + 8 h, whatever that dose's status. None once
    the cycle has 14 recorded doses or a number would pass 14. With no dose recorded at all,
    the next dose is cycle 1 number 1, judged at the course's `as_of` (its latest entry):
    "could the first dose be given now, on what is recorded?".
    """
    lookback = index.rules.rule("advice.lookback")
    max_doses = int(lookback.num("max_doses_per_cycle"))
    if not index.doses:
        return 1, 1, index.as_of
    cycle = max(dose.cycle for dose in index.doses)
    in_cycle = [dose for dose in index.doses if dose.cycle == cycle]
    number = max(dose.number for dose in in_cycle) + 1
    if len(in_cycle) >= max_doses or number > max_doses:
        return None
    time = in_cycle[-1].time + timedelta(hours=lookback.num("next_dose_interval_h"))
    return cycle, number, time


def criteria_at(index: CourseIndex, at: datetime) -> list[Criterion]:
    """Return every criterion met by the latest values at `at`: absolute first, then relative,
    each in the order of the REFERENCE §2.5 table."""
    lookback = index.rules.rule("advice.lookback")
    vitals_h, labs_h = lookback.num("vitals_h"), lookback.num("labs_h")
    found: list[Criterion | None] = []
    for concept, check in VITAL_CHECKS:
        obs = index.latest(concept, at, vitals_h)
        found.append(index.criterion(check, obs) if obs is not None else None)
    flow, fio2 = _oxygen_at(index, at, vitals_h)
    if fio2 is None:  # one record alone: the organ flags have judged it already
        found.append(index.criterion(criteria.oxygen_flow, flow) if flow is not None else None)
    elif flow is None:
        found.append(index.criterion(criteria.oxygen_fio2, fio2))
    else:
        found.append(criteria.oxygen(index, flow, fio2))
    found.append(criteria.urine_output(index, at))
    found.append(criteria.stool(index, at))
    for concept, check in LAB_CHECKS:
        obs = index.latest(concept, at, labs_h)
        found.append(index.criterion(check, obs) if obs is not None else None)
    met = [c for c in found if c is not None]
    return [c for c in met if c.kind == criteria.ABSOLUTE] + [
        c for c in met if c.kind != criteria.ABSOLUTE
    ]


def _oxygen_at(
    index: CourseIndex, at: datetime, lookback_h: float
) -> tuple[Observation | None, Observation | None]:
    """Return the latest O2 flow and FiO2 records, keeping only those of the latest time.

    Flow (nasal cannula) and FiO2 (mask) describe one item, the oxygen the patient is on now:
    a mask record at 02:00 no longer counts once a cannula flow is charted at 06:00.
    """
    flow = index.latest(O2_FLOW, at, lookback_h)
    fio2 = index.latest(FIO2, at, lookback_h)
    if flow is not None and fio2 is not None:
        if flow.time < fio2.time:
            flow = None
        elif fio2.time < flow.time:
            fio2 = None
    return flow, fio2


def advice_for(criteria_met: list[Criterion], hold_at_relative: int) -> str:
    """Return hold (any absolute, or at least `hold_at_relative` relative), caution, or give."""
    relative = sum(1 for c in criteria_met if c.kind != criteria.ABSOLUTE)
    if relative < len(criteria_met) or relative >= hold_at_relative:
        return "hold"
    return "caution" if relative else "give"


def _advice_at(
    index: CourseIndex, cycle: int, number: int, at: datetime, status: str | None
) -> DoseAdvice:
    met = criteria_at(index, at)
    hold_at = int(index.rules.rule("advice.counting").num("hold_at_relative_count"))
    return DoseAdvice(
        cycle=cycle,
        number=number,
        time=at,
        advice=advice_for(met, hold_at),
        criteria=tuple(met),
        status=status,
    )
