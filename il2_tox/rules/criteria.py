"""The hold (absolute) and caution (relative) criteria of REFERENCE.md §2.5, one item at a time.

Each check takes the observation(s) of one item and returns the criterion it meets, or None.
Dose advice applies the checks to the latest values before a dose; the organ flags apply them
to every observation, so a threshold is read in one place only. Thresholds come from the rules
file (`hold.*`, `caution.*`); an item meeting its hold band never also reports its caution band.

Values are compared after rounding to 9 decimals: unit conversion leaves binary noise
(265.2 umol/L / 88.4 = 2.9999999999999996 mg/dL) that must not move a value across a boundary,
while real differences survive (265 umol/L = 2.998 mg/dL stays below 3.0).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from il2_tox.course import Observation
from il2_tox.rules.base import (
    STOOL,
    URINE,
    CourseIndex,
    Criterion,
    Evidence,
    by_value,
    fmt,
    rounded,
)
from il2_tox.rules.config import Rules

ABSOLUTE = "absolute"
RELATIVE = "relative"


def exact(value: float) -> float:
    """Return a value rounded to 9 decimals, free of unit-conversion noise.

    Decimals, not significant digits: as precise for every clinical magnitude here (0.04
    ng/mL to 20,000 mL) and several times faster, which matters at one call per reading.
    """
    return round(value, 9)


def show(value: float, digits: int = 4) -> str:
    """Return a number as a message shows it (same text for SI and conventional input)."""
    number = rounded(value)
    assert isinstance(number, float)
    return fmt(number, digits)


# (kind, source) of each criterion code, per rules object: read once, not once per reading.
_DESCRIPTIONS: dict[int, tuple[Rules, dict[str, tuple[str, str]]]] = {}


def _describe(rules: Rules, code: str) -> tuple[str, str]:
    held = _DESCRIPTIONS.get(id(rules))
    if held is None or held[0] is not rules:
        held = (rules, {})
        _DESCRIPTIONS[id(rules)] = held
    found = held[1].get(code)
    if found is None:
        found = (str(rules.rule(code)["kind"]), rules.source(code))
        held[1][code] = found
    return found


def _met(index: CourseIndex, code: str, message: str, *evidence: Observation) -> Criterion:
    kind, source = _describe(index.rules, code)
    return Criterion(
        code=code,
        kind=kind,
        message=message,
        evidence=tuple(Evidence.of(obs) for obs in evidence),
        source=source,
    )


def _num(obs: Observation) -> float:
    return round(float(obs.value), 9)  # `exact`, inlined: called once per reading checked


# -- vitals ------------------------------------------------------------------------------------


@by_value
def heart_rate(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return hold above 130/min, caution above 100 and up to 130 (from the rules)."""
    return heart_rate_hold(index, obs) or _heart_rate_caution(index, obs)


@by_value
def heart_rate_hold(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return hold above 130/min (the hold band alone)."""
    rate = _num(obs)
    hold = index.rules.rule("hold.heart_rate").num("above")
    if rate > hold:
        return _met(index, "hold.heart_rate", f"HR {show(rate)}/min > {show(hold)}", obs)
    return None


def _heart_rate_caution(index: CourseIndex, obs: Observation) -> Criterion | None:
    rate = _num(obs)
    caution = index.rules.rule("caution.heart_rate")
    if caution.num("above") < rate <= caution.num("at_most"):
        limit = show(caution.num("above"))
        return _met(index, "caution.heart_rate", f"HR {show(rate)}/min > {limit}", obs)
    return None


@by_value
def sbp(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return hold when SBP is below the patient's target T (SBP = T meets the target)."""
    pressure = _num(obs)
    target = index.target_sbp
    if pressure < target:
        message = f"SBP {show(pressure)} mmHg < target {show(target)}"
        return _met(index, "hold.sbp", message, obs)
    return None


@by_value
def phenylephrine(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return hold above 0.8 ug/kg/min, caution above 0.5 and up to 0.8.

    A lower rate is not a dose criterion (it is still a capillary-leak sign).
    """
    rate = _num(obs)
    hold = index.rules.rule("hold.phenylephrine").num("above")
    if rate > hold:
        message = f"phenylephrine {show(rate)} ug/kg/min > {show(hold)}"
        return _met(index, "hold.phenylephrine", message, obs)
    caution = index.rules.rule("caution.phenylephrine")
    if caution.num("above") < rate <= caution.num("at_most"):
        message = f"phenylephrine {show(rate)} ug/kg/min > {show(caution.num('above'))}"
        return _met(index, "caution.phenylephrine", message, obs)
    return None


@by_value
def spo2(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return hold when SpO2 is below 90 % (90 itself is not a criterion)."""
    saturation = _num(obs)
    below = index.rules.rule("hold.spo2").num("below")
    if saturation < below:
        return _met(index, "hold.spo2", f"SpO2 {show(saturation)}% < {show(below)}", obs)
    return None


def oxygen(
    index: CourseIndex, flow: Observation | None, fio2: Observation | None
) -> Criterion | None:
    """Return hold for O2 above 4 L/min or FiO2 at or above 40 %, caution for 3-4 L/min.

    Either input may be None. Both met: one hold criterion with both as evidence.
    """
    hold = index.rules.rule("hold.oxygen")
    parts: list[str] = []
    evidence: list[Observation] = []
    if flow is not None and _num(flow) > hold.num("flow_above"):
        parts.append(f"O2 {show(_num(flow))} L/min > {show(hold.num('flow_above'))}")
        evidence.append(flow)
    if fio2 is not None and _num(fio2) >= hold.num("fio2_at_least"):
        parts.append(f"FiO2 {show(_num(fio2))}% ≥ {show(hold.num('fio2_at_least'))}")
        evidence.append(fio2)
    if parts:
        return _met(index, "hold.oxygen", ", ".join(parts), *evidence)
    caution = index.rules.rule("caution.oxygen")
    if flow is not None:
        rate = _num(flow)
        low, high = caution.num("flow_at_least"), caution.num("flow_at_most")
        if low <= rate <= high:
            message = f"O2 {show(rate)} L/min ({show(low)}–{show(high)})"
            return _met(index, "caution.oxygen", message, flow)
    return None


@by_value
def oxygen_flow(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return `oxygen` for an O2 flow record alone (no FiO2 at its time)."""
    return oxygen(index, obs, None)


@by_value
def oxygen_fio2(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return `oxygen` for a FiO2 record alone (no O2 flow at its time)."""
    return oxygen(index, None, obs)


# -- nursing items -----------------------------------------------------------------------------


@by_value
def rales(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return hold for crackles half-way up the chest, caution for a third."""
    extent = str(obs.value)
    if extent in index.rules.rule("hold.rales").strs("values"):
        return _met(index, "hold.rales", f"rales {extent}", obs)
    if extent in index.rules.rule("caution.rales").strs("values"):
        return _met(index, "caution.rales", f"rales {extent}", obs)
    return None


@by_value
def consciousness(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return hold when ACVPU is anything but A."""
    level = str(obs.value)
    if level in index.rules.rule("hold.consciousness").strs("values"):
        return _met(index, "hold.consciousness", f"consciousness {level}, not alert", obs)
    return None


@by_value
def cognition(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return hold when serial 7s / WORLD backwards fails."""
    result = str(obs.value)
    if result in index.rules.rule("hold.cognition").strs("values"):
        message = f"cognition {result} (serial 7s / WORLD backwards)"
        return _met(index, "hold.cognition", message, obs)
    return None


@by_value
def rhythm(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return hold for any rhythm but sinus; for VT or ischaemic changes the message says the
    label's permanent discontinuation."""
    found = str(obs.value)
    rule = index.rules.rule("hold.rhythm")
    if found not in rule.strs("values"):
        return None
    message = f"rhythm {found}, not sinus"
    if found in rule.strs("discontinue_values"):
        message += ": label says permanently discontinue"
    return _met(index, "hold.rhythm", message, obs)


@by_value
def skin(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return hold for moist desquamation or bullous skin."""
    finding = str(obs.value)
    if finding in index.rules.rule("hold.skin").strs("values"):
        return _met(index, "hold.skin", f"skin {finding}", obs)
    return None


# -- labs and weight ---------------------------------------------------------------------------


@by_value
def creatinine(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return hold at or above 3.0 mg/dL, caution from 2.5 to below 3.0 (265.2 umol/L holds)."""
    value = _num(obs)
    hold = index.rules.rule("hold.creatinine").num("at_least")
    if value >= hold:
        message = f"creatinine {show(value)} mg/dL ≥ {show(hold)}"
        return _met(index, "hold.creatinine", message, obs)
    caution = index.rules.rule("caution.creatinine")
    if caution.num("at_least") <= value < caution.num("below"):
        message = f"creatinine {show(value)} mg/dL ≥ {show(caution.num('at_least'))}"
        return _met(index, "caution.creatinine", message, obs)
    return None


@by_value
def platelets(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return hold below 30 x10^9/L, caution from 30 to 50 inclusive."""
    count = _num(obs)
    hold = index.rules.rule("hold.platelets").num("below")
    if count < hold:
        message = f"platelets {show(count)} ×10⁹/L < {show(hold)}"
        return _met(index, "hold.platelets", message, obs)
    caution = index.rules.rule("caution.platelets")
    if caution.num("at_least") <= count <= caution.num("at_most"):
        message = f"platelets {show(count)} ×10⁹/L ≤ {show(caution.num('at_most'))}"
        return _met(index, "caution.platelets", message, obs)
    return None


@by_value
def bilirubin(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return caution when total bilirubin is above 7 mg/dL (7 itself is not)."""
    value = _num(obs)
    above = index.rules.rule("caution.bilirubin").num("above")
    if value > above:
        message = f"bilirubin {show(value)} mg/dL > {show(above)}"
        return _met(index, "caution.bilirubin", message, obs)
    return None


def weight_gain_pct(index: CourseIndex, obs: Observation) -> float:
    """Return the weight's gain over the pre-treatment weight, in % (negative for a loss)."""
    baseline = index.baseline_weight_kg
    return exact((float(obs.value) - baseline) / baseline * 100.0)


@by_value
def weight_gain(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return caution when weight is more than 15 % over `patient.weight_kg` (15 % is not)."""
    gain = weight_gain_pct(index, obs)
    above = index.rules.rule("caution.weight_gain").num("above_pct")
    if gain > above:
        message = f"weight +{show(gain, 3)}% over baseline > {show(above)}%"
        return _met(index, "caution.weight_gain", message, obs)
    return None


def troponin(index: CourseIndex, obs: Observation) -> Criterion | None:
    """Return hold when troponin I (either assay) is above the lab's limit, else the site's."""
    limit = index.uln(obs)
    if limit is None:
        return None
    value, top = _num(obs), exact(limit)
    if value > top:
        name = "hs troponin I" if obs.unit == "ng/L" else "troponin I"
        message = f"{name} {show(value)} {obs.unit} > limit {show(top)}"
        return _met(index, "hold.troponin", message, obs)
    return None


# -- volumes -----------------------------------------------------------------------------------


def _volume_rule(index: CourseIndex) -> tuple[float, float]:
    lookback = index.rules.rule("advice.lookback")
    return lookback.num("volume_window_h"), lookback.num("volume_basis_h")


def urine_output(index: CourseIndex, at: datetime) -> Criterion | None:
    """Return hold below 80 mL/8 h, caution from 80 to 160 inclusive, over the latest
    collection period(s) ending in the 12 h up to `at`, pro-rated to 8 h.

    No period ending in the window: no criterion (nothing to judge on).
    """
    window_h, basis_h = _volume_rule(index)
    found = index.volume_per_8h(URINE, at, window_h, basis_h)
    if found is None:
        return None
    volume, records = exact(found[0]), found[1]
    hold = index.rules.rule("hold.urine_output").num("below")
    if volume < hold:
        message = f"urine {show(volume)} mL/8 h < {show(hold)}"
        return _met(index, "hold.urine_output", message, *records)
    caution = index.rules.rule("caution.urine_output")
    if caution.num("at_least") <= volume <= caution.num("at_most"):
        message = f"urine {show(volume)} mL/8 h ≤ {show(caution.num('at_most'))}"
        return _met(index, "caution.urine_output", message, *records)
    return None


def stool_periods(
    index: CourseIndex, at: datetime
) -> tuple[tuple[float, Sequence[Observation]], tuple[float, Sequence[Observation]] | None] | None:
    """Return the latest 8 h stool period before `at` and the one before it (volume per 8 h and
    the records used), or None when no period ends in the 12 h up to `at`.

    The latest period is built like the urine's. The previous one is built the same way from
    the records ending in the 12 h before the latest period began, so overlapping records are
    never counted twice; it is None when there is none.
    """
    window_h, basis_h = _volume_rule(index)
    latest = index.volume_per_8h(STOOL, at, window_h, basis_h)
    if latest is None:
        return None
    began = min(r.time - index.span(r.period_h or 0.0) for r in latest[1])
    previous = index.volume_per_8h(STOOL, began, window_h, basis_h)
    return latest, previous


def stool(index: CourseIndex, at: datetime) -> Criterion | None:
    """Return hold for stool at or above 1000 mL in each of the two latest 8 h periods, caution
    for the latest period only."""
    periods = stool_periods(index, at)
    if periods is None:
        return None
    (latest, latest_records), previous = periods
    latest = exact(latest)
    hold = index.rules.rule("hold.stool").num("at_least")
    if previous is not None and latest >= hold and exact(previous[0]) >= hold:
        message = (
            f"stool {show(exact(previous[0]))} then {show(latest)} mL/8 h, "
            f"≥ {show(hold)} in two periods"
        )
        return _met(index, "hold.stool", message, *previous[1], *latest_records)
    caution = index.rules.rule("caution.stool").num("at_least")
    if latest >= caution:
        message = f"stool {show(latest)} mL/8 h ≥ {show(caution)}"
        return _met(index, "caution.stool", message, *latest_records)
    return None
