"""Capillary leak syndrome (CLS): one `cls.syndrome` flag when two or more signs coincide.

The five signs (REFERENCE §3; the rule entries `cls.sign.*`):
  hypotension   SBP below the patient's target T, or any phenylephrine (rate above 0)
  weight gain   weight at least 10 % over the pre-treatment weight (`patient.weight_kg`)
  oliguria      a urine record below 160 mL/8 h, pro-rated per record
  albumin       albumin below 3.0 g/dL
  lung          rales `third` / `half`, or O2 flow at least 3 L/min

The syndrome is present at a time t when abnormal observations of at least two different signs
lie in the 12 h up to t (so every pair is measured together, at most 12 h apart). An abnormal
value counts for 12 h even if a normal one follows: the rule errs toward flagging, because
"two signs measured together" is what the guarantee says.

Grading (design choice, rule `cls.syndrome`): `warning` with 2 or 3 signs; `critical` from 4
signs, or when a sign present is itself an absolute dose criterion (SBP below target,
phenylephrine above 0.8, urine below 80 mL/8 h, rales half, O2 above 4 L/min): a leak that
already forbids the next dose is the dangerous one. One flag per course: `time` = when the
syndrome was first present; `severity` = the highest reached, with the message and evidence of
the moment it first reached it; `last_seen` = the last observation time at which it was
present; `active` = present at `as_of` counting only signs whose latest value is still abnormal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from il2_tox.course import Observation
from il2_tox.rules.base import (
    ALBUMIN,
    O2_FLOW,
    PHENYLEPHRINE,
    RALES,
    SBP,
    URINE,
    WEIGHT,
    CourseIndex,
    Flag,
    make_flag,
)
from il2_tox.rules.criteria import exact, show, weight_gain_pct

CODE = "cls.syndrome"

# Channels: one per observed item, each belonging to one sign.
SIGN_OF = {
    SBP: "hypotension",
    PHENYLEPHRINE: "hypotension",
    WEIGHT: "weight_gain",
    URINE: "oliguria",
    ALBUMIN: "albumin",
    RALES: "lung",
    O2_FLOW: "lung",
}
# Message order (the spec's example reads weight, pressure, urine).
MESSAGE_ORDER = (WEIGHT, SBP, PHENYLEPHRINE, URINE, ALBUMIN, RALES, O2_FLOW)


@dataclass(frozen=True)
class _Reading:
    """One observation judged against its sign: abnormal, and absolute-level or not."""

    obs: Observation
    abnormal: bool
    absolute: bool


class _Judge:
    """Judge observations against the sign thresholds, read once from the rules."""

    def __init__(self, index: CourseIndex) -> None:
        rules = index.rules
        self.index = index
        self.target = index.target_sbp
        self.pressor_above = rules.rule("cls.sign.hypotension").num("phenylephrine_above")
        self.pressor_hold = rules.rule("hold.phenylephrine").num("above")
        self.weight_pct = rules.rule("cls.sign.weight_gain").num("at_least_pct")
        self.urine_below = rules.rule("cls.sign.oliguria").num("below")
        self.urine_hold = rules.rule("hold.urine_output").num("below")
        self.basis_h = rules.rule("advice.lookback").num("volume_basis_h")
        self.albumin_below = rules.rule("cls.sign.hypoalbuminemia").num("below")
        lung = rules.rule("cls.sign.lung")
        self.rales = lung.strs("values")
        self.rales_hold = rules.rule("hold.rales").strs("values")
        self.flow_at_least = lung.num("flow_at_least")
        self.flow_hold = rules.rule("hold.oxygen").num("flow_above")

    def urine_per_8h(self, obs: Observation) -> float:
        return exact(float(obs.value) * self.basis_h / (obs.period_h or self.basis_h))

    def read(self, concept: str, obs: Observation) -> _Reading:
        if concept == RALES:
            value = str(obs.value)
            return _Reading(obs, value in self.rales, value in self.rales_hold)
        number = exact(float(obs.value))
        if concept == SBP:
            low = number < self.target
            return _Reading(obs, low, low)  # below target is itself a hold criterion
        if concept == PHENYLEPHRINE:
            return _Reading(obs, number > self.pressor_above, number > self.pressor_hold)
        if concept == WEIGHT:
            return _Reading(obs, weight_gain_pct(self.index, obs) >= self.weight_pct, False)
        if concept == URINE:
            rate = self.urine_per_8h(obs)
            return _Reading(obs, rate < self.urine_below, rate < self.urine_hold)
        if concept == ALBUMIN:
            return _Reading(obs, number < self.albumin_below, False)
        return _Reading(obs, number >= self.flow_at_least, number > self.flow_hold)  # O2 flow

    def describe(self, readings: dict[str, Observation]) -> str:
        """Return "Capillary leak: weight +11.2% from baseline, SBP 84 on phenylephrine ..."."""
        parts: list[str] = []
        for concept in MESSAGE_ORDER:
            obs = readings.get(concept)
            if obs is None:
                continue
            if concept == WEIGHT:
                parts.append(f"weight +{show(weight_gain_pct(self.index, obs), 3)}% from baseline")
            elif concept == SBP:
                pressor = readings.get(PHENYLEPHRINE)
                if pressor is not None:
                    parts.append(
                        f"SBP {show(float(obs.value))} on phenylephrine "
                        f"{show(float(pressor.value))} ug/kg/min"
                    )
                else:
                    parts.append(f"SBP {show(float(obs.value))} < target {show(self.target)}")
            elif concept == PHENYLEPHRINE:
                if SBP not in readings:
                    parts.append(f"phenylephrine {show(float(obs.value))} ug/kg/min")
            elif concept == URINE:
                parts.append(f"urine {show(self.urine_per_8h(obs))} mL/8 h")
            elif concept == ALBUMIN:
                parts.append(f"albumin {show(float(obs.value))} g/dL")
            elif concept == RALES:
                parts.append(f"rales {obs.value}")
            else:
                parts.append(f"O2 {show(float(obs.value))} L/min")
        return "Capillary leak: " + ", ".join(parts)


def _abnormal_readings(judge: _Judge, index: CourseIndex) -> Iterator[tuple[str, _Reading]]:
    """Yield (channel, reading) for every abnormal observation of a sign, in time order."""
    merged: list[tuple[datetime, int, str, _Reading]] = []
    for order, concept in enumerate(SIGN_OF):
        for obs in index.get(concept):
            reading = judge.read(concept, obs)
            if reading.abnormal:
                merged.append((obs.time, order, concept, reading))
    merged.sort(key=lambda item: (item[0], item[1]))
    for _, _, concept, reading in merged:
        yield concept, reading


@dataclass
class _State:
    """The latest abnormal reading of each channel, and the latest absolute-level one."""

    last: dict[str, _Reading]
    last_absolute: dict[str, _Reading]

    def present(self, at: datetime, window: timedelta) -> dict[str, Observation]:
        """Return the channels abnormal in the window up to `at`, each with the reading to
        show: its absolute-level one when that is in the window, else its latest."""
        shown: dict[str, Observation] = {}
        for concept, reading in self.last.items():
            if reading.obs.time < at - window:
                continue
            worst = self.last_absolute.get(concept)
            use_worst = worst is not None and worst.obs.time >= at - window
            shown[concept] = worst.obs if use_worst and worst is not None else reading.obs
        return shown

    def any_absolute(self, at: datetime, window: timedelta) -> bool:
        return any(r.obs.time >= at - window for r in self.last_absolute.values())


def flags(index: CourseIndex) -> list[Flag]:
    """Return the `cls.syndrome` flag, or nothing when two signs never coincided."""
    rule = index.rules.rule(CODE)
    min_signs, critical_signs = int(rule.num("min_signs")), int(rule.num("critical_signs"))
    window = timedelta(hours=rule.num("together_h"))
    judge = _Judge(index)
    state = _State({}, {})
    first: datetime | None = None
    last_seen: datetime | None = None
    best: tuple[str, datetime, dict[str, Observation]] | None = None
    for at, group in groupby(_abnormal_readings(judge, index), key=lambda cr: cr[1].obs.time):
        for concept, reading in group:
            state.last[concept] = reading
            if reading.absolute:
                state.last_absolute[concept] = reading
        shown = state.present(at, window)
        signs = {SIGN_OF[concept] for concept in shown}
        if len(signs) < min_signs:
            continue
        critical = len(signs) >= critical_signs or state.any_absolute(at, window)
        severity = "critical" if critical else "warning"
        first = first or at
        last_seen = at
        if best is None or (severity == "critical" and best[0] == "warning"):
            best = (severity, at, shown)
    if first is None or best is None or last_seen is None:
        return []
    severity, _, shown = best
    evidence = [shown[c] for c in MESSAGE_ORDER if c in shown]
    return [
        make_flag(
            index,
            category="capillary_leak",
            severity=severity,
            code=CODE,
            time=first,
            message=judge.describe(shown),
            evidence=evidence,
            source=index.rules.source(CODE),
            last_seen=last_seen,
            active=_active(index, judge, window, min_signs),
        )
    ]


def _active(index: CourseIndex, judge: _Judge, window: timedelta, min_signs: int) -> bool:
    """Return whether, at `as_of`, at least `min_signs` signs have their latest value abnormal
    and measured in the 12 h up to `as_of`."""
    signs: set[str] = set()
    for concept, sign in SIGN_OF.items():
        series = index.get(concept)
        if not series:
            continue
        latest = series[-1]
        if latest.time >= index.as_of - window and judge.read(concept, latest).abnormal:
            signs.add(sign)
    return len(signs) >= min_signs
