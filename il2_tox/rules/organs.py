"""Organ flags from the dose criteria: renal, cardiac, pulmonary, neurologic, GI, hematologic.

Each flag applies the hold/caution criteria of `criteria` to every observation of its items
(not only at dose times): an absolute criterion makes it `critical`, a relative one `warning`.
The renal flag has its own thresholds (`renal.injury`) and reports the CTCAE creatinine grade.
One flag per code: `time` = first present; `severity` = the highest reached, with the message
and evidence of the first observation that reached it; `last_seen` = the last observation that
met it; `active` = the latest value of one of its items still meets it.

Heart rate 101-130/min (the caution band) raises no cardiac flag: it is the usual heart rate on
IL-2 (mean about 104/min) and would only add noise; dose advice still shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

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
    PLATELETS,
    RALES,
    RHYTHM,
    SPO2,
    STOOL,
    TROPONIN,
    TROPONIN_HS,
    URINE,
    CourseIndex,
    Criterion,
    Evidence,
    Flag,
    make_flag,
)
from il2_tox.rules.config import Rule

Check = Callable[[CourseIndex, Observation], Criterion | None]


@dataclass(frozen=True)
class Hit:
    """One observation that meets an organ flag's condition."""

    time: datetime
    severity: str
    message: str
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class Organ:
    """An organ flag: its code, category and the items whose criteria raise it."""

    code: str
    category: str
    label: str
    checks: tuple[tuple[str, Check], ...]


def _stool_at(index: CourseIndex, obs: Observation) -> Criterion | None:
    return criteria.stool(index, obs.time)


ORGANS = (
    Organ("cardiac.tachycardia", "cardiac", "Cardiac", ((HR, criteria.heart_rate_hold),)),
    Organ("cardiac.rhythm", "cardiac", "Cardiac", ((RHYTHM, criteria.rhythm),)),
    Organ(
        "cardiac.troponin",
        "cardiac",
        "Cardiac",
        ((TROPONIN, criteria.troponin), (TROPONIN_HS, criteria.troponin)),
    ),
    Organ(
        "pulmonary.hypoxia",
        "pulmonary",
        "Pulmonary",
        ((SPO2, criteria.spo2), (O2_FLOW, criteria.oxygen_flow), (FIO2, criteria.oxygen_fio2)),
    ),
    Organ("pulmonary.rales", "pulmonary", "Pulmonary", ((RALES, criteria.rales),)),
    Organ(
        "neurologic.consciousness", "neurologic", "Neurologic", ((ACVPU, criteria.consciousness),)
    ),
    Organ("neurologic.cognition", "neurologic", "Neurologic", ((COGNITION, criteria.cognition),)),
    Organ("gastrointestinal.diarrhea", "gastrointestinal", "GI", ((STOOL, _stool_at),)),
    Organ(
        "gastrointestinal.bilirubin", "gastrointestinal", "GI", ((BILIRUBIN, criteria.bilirubin),)
    ),
    Organ(
        "hematologic.platelets", "hematologic", "Hematologic", ((PLATELETS, criteria.platelets),)
    ),
)


def flags(index: CourseIndex) -> list[Flag]:
    """Return one flag per organ code whose condition was ever met, in the order of ORGANS."""
    out: list[Flag] = []
    renal = _renal(index)
    if renal is not None:
        out.append(renal)
    for organ in ORGANS:
        hits, active = _organ_hits(index, organ)
        flag = _flag(index, organ.category, organ.code, hits, active)
        if flag is not None:
            out.append(flag)
    return out


def _organ_hits(index: CourseIndex, organ: Organ) -> tuple[list[Hit], bool]:
    """Return the hits of every item of an organ flag, and whether it is still active."""
    hits: list[Hit] = []
    active = False
    for concept, check in organ.checks:
        series = index.get(concept)
        clear = index.clear_values(check)  # grows as the loop judges new values
        for i, obs in enumerate(series):
            if obs.value in clear:
                continue  # what `index.criterion` would answer, without the call
            met = index.criterion(check, obs)
            if met is None:
                continue
            severity = "critical" if met.kind == criteria.ABSOLUTE else "warning"
            hits.append(Hit(obs.time, severity, f"{organ.label}: {met.message}", met.evidence))
            active = active or i == len(series) - 1
    return hits, active


def _flag(
    index: CourseIndex, category: str, code: str, hits: Sequence[Hit], active: bool
) -> Flag | None:
    """Return the flag for a list of hits (None without any): first time, highest severity."""
    if not hits:
        return None
    ordered = sorted(hits, key=lambda h: h.time)
    top = next((h for h in ordered if h.severity == "critical"), ordered[0])
    return make_flag(
        index,
        category=category,
        severity=top.severity,
        code=code,
        time=ordered[0].time,
        message=top.message,
        evidence=top.evidence,
        source=index.rules.source(code),
        last_seen=ordered[-1].time,
        active=active,
    )


# -- renal -------------------------------------------------------------------------------------


def creatinine_grade(index: CourseIndex, obs: Observation) -> int:
    """Return the CTCAE v5 grade of a creatinine value (0-4): the higher of the grade against
    ULN (lab's limit, else the site's) and against the course's first creatinine (baseline).

    Grade 1 needs a value above ULN; the baseline bands start at grade 2 (CTCAE has no
    baseline-based grade 1 or 4). Upper bounds are inclusive, as CTCAE prints "> 1.5 - 3.0".
    """
    rule = index.rules.rule("creatinine.grade")
    value = float(obs.value)
    grade = 0
    uln = index.uln(obs)
    if uln is not None and criteria.exact(value / uln) > 1:
        grade = 1 + _bands_above(criteria.exact(value / uln), rule.nums("uln_bounds"))
    baseline = index.first(CREATININE)
    if baseline is not None and float(baseline.value) > 0:
        above = _bands_above(
            criteria.exact(value / float(baseline.value)), rule.nums("baseline_bounds")
        )
        if above:
            grade = max(grade, 1 + above)
    return grade


def _bands_above(times: float, bounds: Iterable[float]) -> int:
    return sum(1 for bound in bounds if times > bound)


def _renal(index: CourseIndex) -> Flag | None:
    """Return the `renal.injury` flag: creatinine at least 2.5 mg/dL (critical from 3.0), or a
    urine record below 160 mL/8 h pro-rated (critical below 80).

    A urine record at or above 0.5 mL/kg/h (`patient.weight_kg`) never raises it: the rule
    says never while urine clears that rate. Above 40 kg every record below 160 mL/8 h is also
    below 0.5 mL/kg/h, so this matters only for very light patients.
    """
    rule = index.rules.rule("renal.injury")
    hits: list[Hit] = []
    active = False
    creatinine = index.get(CREATININE)
    for i, obs in enumerate(creatinine):
        hit = _creatinine_hit(index, rule, obs)
        if hit is not None:
            hits.append(hit)
            active = active or i == len(creatinine) - 1
    urine = index.get(URINE)
    for i, obs in enumerate(urine):
        hit = _urine_hit(index, rule, obs)
        if hit is not None:
            hits.append(hit)
            active = active or i == len(urine) - 1
    return _flag(index, "renal", "renal.injury", hits, active)


def _creatinine_hit(index: CourseIndex, rule: Rule, obs: Observation) -> Hit | None:
    value = criteria.exact(float(obs.value))
    if value < rule.num("creatinine_at_least"):
        return None
    hold = index.rules.rule("hold.creatinine").num("at_least")
    severity = "critical" if value >= hold else "warning"
    grade = creatinine_grade(index, obs)
    message = (
        f"Renal: creatinine {criteria.show(value)} mg/dL ≥ "
        f"{criteria.show(rule.num('creatinine_at_least'))} (CTCAE grade {grade})"
    )
    return Hit(obs.time, severity, message, (Evidence.of(obs),))


def _urine_hit(index: CourseIndex, rule: Rule, obs: Observation) -> Hit | None:
    basis_h = index.rules.rule("advice.lookback").num("volume_basis_h")
    period_h = obs.period_h or basis_h
    per_8h = criteria.exact(float(obs.value) * basis_h / period_h)
    per_kg_h = criteria.exact(float(obs.value) / period_h / index.baseline_weight_kg)
    if per_8h >= rule.num("urine_below") or per_kg_h >= rule.num("clear_ml_kg_h"):
        return None
    hold = index.rules.rule("hold.urine_output").num("below")
    severity = "critical" if per_8h < hold else "warning"
    message = (
        f"Renal: urine {criteria.show(per_8h)} mL/8 h < {criteria.show(rule.num('urine_below'))}"
        f" ({criteria.show(per_kg_h, 2)} mL/kg/h)"
    )
    return Hit(obs.time, severity, message, (Evidence.of(obs),))
