"""Helpers for the dose-advice, capillary-leak and organ-flag tests: one dose, a few readings.

    advice = judged(hr(135))                 # dose 1 at hour 12, the reading at hour 11
    flags = organ_flags(course(creatinine(2.5)))

Each reading helper returns (code, value, unit, fields); fields may hold `at` (hours after
admission) and `period_h`. Courses go through the real parser (CourseBuilder.build).
"""

from __future__ import annotations

from typing import Any

from il2_tox.rules import capillary_leak, dose_advice, organs
from il2_tox.rules.base import CourseIndex, DoseAdvice, Flag
from il2_tox.rules.config import load_rules
from tests.builders import CourseBuilder

DOSE_AT = 12.0
BEFORE = 11.0
CREAT_UMOL = 88.4  # µmol/L per mg/dL (course format)
BILI_UMOL = 17.1
LB = 0.45359237  # kg per lb

Reading = tuple[str, float | str, str | None, dict[str, Any]]


def reading(code: str, value: float | str, unit: str | None = None, **fields: Any) -> Reading:
    return code, value, unit, fields


def hr(v: float, **f: Any) -> Reading:
    return reading("8867-4", v, "/min", **f)


def sbp(v: float, **f: Any) -> Reading:
    return reading("8480-6", v, "mm[Hg]", **f)


def phenylephrine(v: float, **f: Any) -> Reading:
    return reading("il2tox:phenylephrine", v, "ug/kg/min", **f)


def spo2(v: float, code: str = "59408-5", **f: Any) -> Reading:
    return reading(code, v, "%", **f)


def o2_flow(v: float, **f: Any) -> Reading:
    return reading("3151-8", v, "L/min", **f)


def fio2(v: float, **f: Any) -> Reading:
    return reading("3150-0", v, "%", **f)


def rales(v: str, **f: Any) -> Reading:
    return reading("il2tox:rales", v, **f)


def urine(ml: float, period_h: float = 8, **f: Any) -> Reading:
    return reading("9187-6", ml, "mL", period_h=period_h, **f)


def stool(ml: float, period_h: float = 8, **f: Any) -> Reading:
    return reading("il2tox:stool-volume", ml, "mL", period_h=period_h, **f)


def creatinine(v: float, unit: str = "mg/dL", **f: Any) -> Reading:
    return reading("2160-0", v, unit, **f)


def platelets(v: float, unit: str = "10*3/uL", **f: Any) -> Reading:
    return reading("777-3", v, unit, **f)


def bilirubin(v: float, unit: str = "mg/dL", **f: Any) -> Reading:
    return reading("1975-2", v, unit, **f)


def albumin(v: float, unit: str = "g/dL", **f: Any) -> Reading:
    return reading("1751-7", v, unit, **f)


def alt(v: float, **f: Any) -> Reading:
    return reading("1742-6", v, "U/L", **f)


def weight(v: float, unit: str = "kg", **f: Any) -> Reading:
    return reading("29463-7", v, unit, **f)


def temperature(v: float, unit: str = "Cel", **f: Any) -> Reading:
    return reading("8310-5", v, unit, **f)


def troponin(v: float, **f: Any) -> Reading:
    return reading("10839-9", v, "ng/mL", **f)


def hs_troponin(v: float, **f: Any) -> Reading:
    return reading("89579-7", v, "ng/L", **f)


def acvpu(v: str, **f: Any) -> Reading:
    return reading("il2tox:acvpu", v, **f)


def cognition(v: str, **f: Any) -> Reading:
    return reading("il2tox:cognition", v, **f)


def rhythm(v: str, **f: Any) -> Reading:
    return reading("il2tox:rhythm", v, **f)


def skin(v: str, **f: Any) -> Reading:
    return reading("il2tox:skin", v, **f)


def course(*readings: Reading, dose: bool = True, **builder: Any) -> CourseBuilder:
    """Return a builder with dose 1 at hour 12 (unless `dose=False`) and the readings, each at
    hour 11 unless it says `at=`."""
    b = CourseBuilder(**builder)
    if dose:
        b.dose(1, 1, at=DOSE_AT)
    for code, value, unit, fields in readings:
        extra = dict(fields)
        at = extra.pop("at", BEFORE)
        b.obs(code, value, unit, at=at, **extra)
    return b


def index_of(b: CourseBuilder) -> CourseIndex:
    return CourseIndex(b.build(), load_rules())


def advice_list(b: CourseBuilder) -> list[DoseAdvice]:
    return dose_advice.advise(index_of(b))


def judged(*readings: Reading, **builder: Any) -> DoseAdvice:
    """Return the advice for dose 1 (at hour 12) given the readings."""
    return advice_list(course(*readings, **builder))[0]


def verdict(advice: DoseAdvice) -> tuple[str, list[str]]:
    """Return (advice, criterion codes): what a test about one criterion checks at once."""
    return advice.advice, [c.code for c in advice.criteria]


def cls_flags(b: CourseBuilder) -> list[Flag]:
    return capillary_leak.flags(index_of(b))


def organ_flags(b: CourseBuilder) -> list[Flag]:
    return organs.flags(index_of(b))


def by_code(flags: list[Flag], code: str) -> Flag | None:
    found = [f for f in flags if f.code == code]
    assert len(found) <= 1, f"more than one {code} flag"
    return found[0] if found else None


def severity_of(flags: list[Flag], code: str) -> str | None:
    """Return the severity of the flag with this code, or None when there is none."""
    flag = by_code(flags, code)
    return flag.severity if flag is not None else None
