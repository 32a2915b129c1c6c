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

from dataclasses import dataclass, field
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

    def read(self, concept: str, obs: Observation) -> tuple[bool, bool]:
        """Return (abnormal, absolute-level) for one observation of a sign's item."""
        if concept == RALES:
            value = str(obs.value)
            return value in self.rales, value in self.rales_hold
        number = exact(float(obs.value))
        if concept == SBP:
            low = number < self.target
            return low, low  # below target is itself a hold criterion
        if concept == PHENYLEPHRINE:
            return number > self.pressor_above, number > self.pressor_hold
        if concept == WEIGHT:
            return weight_gain_pct(self.index, obs) >= self.weight_pct, False
        if concept == URINE:
            rate = self.urine_per_8h(obs)
            return rate < self.urine_below, rate < self.urine_hold
        if concept == ALBUMIN:
            return number < self.albumin_below, False
        return number >= self.flow_at_least, number > self.flow_hold  # O2 flow

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


def _abnormal_readings(
    judge: _Judge, index: CourseIndex
) -> list[tuple[datetime, int, str, Observation, bool]]:
    """Return (time, order, channel, observation, absolute-level) for every abnormal
    observation of a sign, in time order."""
    merged: list[tuple[datetime, int, str, Observation, bool]] = []
    for order, concept in enumerate(SIGN_OF):
        # `read` depends on the value alone, except a urine record's (its period too): each
        # value is read once per course, most readings repeat one seen before.
        by_value = concept != URINE
        judged: dict[float | str, tuple[bool, bool]] = {}
        for obs in index.get(concept):
            if not by_value:
                abnormal, absolute = judge.read(concept, obs)
            elif (found := judged.get(obs.value)) is not None:
                abnormal, absolute = found
            else:
                abnormal, absolute = judged[obs.value] = judge.read(concept, obs)
            if abnormal:
                merged.append((obs.time, order, concept, obs, absolute))
    merged.sort(key=lambda item: (item[0], item[1]))
    return merged


@dataclass
class _State:
    """The latest abnormal observation of each channel, and the latest absolute-level one."""

    last: dict[str, Observation] = field(default_factory=dict)
    last_absolute: dict[str, Observation] = field(default_factory=dict)

    def signs(self, since: datetime) -> set[str]:
        """Return the signs with an abnormal observation at or after `since`."""
        return {SIGN_OF[concept] for concept, obs in self.last.items() if obs.time >= since}

    def any_absolute(self, since: datetime) -> bool:
        return any(obs.time >= since for obs in self.last_absolute.values())

    def shown(self, since: datetime) -> dict[str, Observation]:
        """Return the observation to show for each channel abnormal since `since`: its
        absolute-level one when that is recent enough, else its latest."""
        out: dict[str, Observation] = {}
        for concept, obs in self.last.items():
            if obs.time < since:
                continue
            worst = self.last_absolute.get(concept)
            out[concept] = worst if worst is not None and worst.time >= since else obs
        return out


def flags(index: CourseIndex) -> list[Flag]:
    """Return the `cls.syndrome` flag, or nothing when two signs never coincided."""
    rule = index.rules.rule(CODE)
    min_signs, critical_signs = int(rule.num("min_signs")), int(rule.num("critical_signs"))
    window = timedelta(hours=rule.num("together_h"))
    judge = _Judge(index)
    state = _State()
    first: datetime | None = None
    last_seen: datetime | None = None
    best: tuple[str, dict[str, Observation]] | None = None
    for at, group in groupby(_abnormal_readings(judge, index), key=lambda item: item[0]):
        for _, _, concept, obs, absolute in group:
            state.last[concept] = obs
            if absolute:
                state.last_absolute[concept] = obs
        since = at - window
        signs = state.signs(since)
        if len(signs) < min_signs:
            continue
        first = first or at
        last_seen = at
        critical = len(signs) >= critical_signs or state.any_absolute(since)
        if best is None or (critical and best[0] == "warning"):
            best = ("critical" if critical else "warning", state.shown(since))
    if first is None or best is None or last_seen is None:
        return []
    severity, shown = best
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
        if latest.time >= index.as_of - window and judge.read(concept, latest)[0]:
            signs.add(sign)
    return len(signs) >= min_signs
