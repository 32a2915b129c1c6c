"""Possible recurrence of a prior checkpoint-inhibitor toxicity (REFERENCE.md §5).

For each organ of the course's prior toxicities that has a signal (§5.2), watch that signal
during the whole admission (before the first dose included) and raise one `ici_recurrence`
flag per organ, code `ici.<organ>`, from the first time the signal is present. The flag carries
a differential: short findings computed from this course for each side. Neither side is a
verdict, and the liver pattern is never read as the cause.

Severity (design choice): `critical` when the signal itself is severe, i.e. it is also an
absolute dose criterion (hold) or, for the liver, the hepatitis flag is critical (CTCAE grade
>= 3 or Hy's law); otherwise `warning`. So: hepatitis critical from grade 3 or Hy's law;
colitis when stool >= 1000 mL in two consecutive 8 h periods; pneumonitis when SpO2 < 90 % or
O2 > 4 L/min; thyroiditis always warning (no hold criterion); hypophysitis and adrenal
insufficiency always critical (SBP below target is itself a hold, and an adrenal crisis is the
worry); nephritis when creatinine >= 3.0 mg/dL; myocarditis always critical (troponin above
limit and non-sinus rhythm are holds); dermatitis always critical (both skin values are holds).

Capillary-leak signs for the differential are computed here from the index (within the
`cls.syndrome` together window of the signal), not imported from the capillary-leak rule.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from il2_tox.course import Observation, PriorToxicity
from il2_tox.rules import liver
from il2_tox.rules.base import (
    ALBUMIN,
    CREATININE,
    HR,
    O2_FLOW,
    PHENYLEPHRINE,
    RALES,
    RHYTHM,
    SBP,
    SKIN,
    SODIUM,
    SPO2,
    STOOL,
    TROPONIN,
    TROPONIN_HS,
    TSH,
    URINE,
    WEIGHT,
    CourseIndex,
    Differential,
    Flag,
    LiverRow,
    fmt,
    make_flag,
)
from il2_tox.rules.config import Rule

RULE_OF_ORGAN = {
    "hepatitis": "ici.hepatitis",
    "colitis": "ici.colitis",
    "pneumonitis": "ici.pneumonitis",
    "thyroiditis": "ici.thyroiditis",
    "hypophysitis": "ici.endocrine",
    "adrenal_insufficiency": "ici.endocrine",
    "nephritis": "ici.nephritis",
    "myocarditis": "ici.myocarditis",
    "dermatitis": "ici.dermatitis",
}


@dataclass
class Signal:
    """The organ's signal: when first present, on what, how severe, and what to say."""

    time: datetime
    finding: str
    evidence: list[Observation]
    critical: bool
    favors_ici: list[str] = field(default_factory=list)
    favors_il2: list[str] = field(default_factory=list)


def _num(obs: Observation) -> float:
    return float(f"{float(obs.value):.9g}")


# ---------------------------------------------------------------------------------------------
# Capillary-leak signs near a time (for the differential)


def _window(
    index: CourseIndex, concept: str, moment: datetime, hours: float
) -> Sequence[Observation]:
    items = index.get(concept)
    reach = timedelta(hours=hours)
    lo = bisect_left(items, moment - reach, key=lambda o: o.time)
    hi = bisect_right(items, moment + reach, key=lambda o: o.time)
    return items[lo:hi]


def leak_signs(index: CourseIndex, moment: datetime, *, skip: Sequence[str] = ()) -> list[str]:
    """Return the capillary-leak signs present within the together window of `moment`.

    Signs (cls.sign.*): SBP below target or phenylephrine; weight gain; urine below the limit
    per 8 h; albumin below the limit; rales or oxygen flow. `skip` leaves out signs that are
    the organ's own signal ("hypotension", "oxygen").
    """
    rules = index.rules
    hours = rules.rule("cls.syndrome").num("together_h")
    found: list[str] = []
    if "hypotension" not in skip:
        low = [o for o in _window(index, SBP, moment, hours) if _num(o) < index.target_sbp]
        if low:
            found.append(
                f"SBP {fmt(min(_num(o) for o in low))} below target {fmt(index.target_sbp)}"
            )
        above = rules.rule("cls.sign.hypotension").num("phenylephrine_above")
        pressor = [o for o in _window(index, PHENYLEPHRINE, moment, hours) if _num(o) > above]
        if pressor:
            found.append(f"phenylephrine {fmt(max(_num(o) for o in pressor))} ug/kg/min")
    gain_pct = rules.rule("cls.sign.weight_gain").num("at_least_pct")
    gains = [
        (_num(o) / index.baseline_weight_kg - 1) * 100
        for o in _window(index, WEIGHT, moment, hours)
    ]
    if gains and max(gains) >= gain_pct:
        found.append(f"weight +{fmt(max(gains))}%")
    urine_below = rules.rule("cls.sign.oliguria").num("below")
    urine = _lowest_per_8h(index, URINE, moment, hours)
    if urine is not None and urine < urine_below:
        found.append(f"urine {fmt(urine)} mL/8 h")
    albumin_below = rules.rule("cls.sign.hypoalbuminemia").num("below")
    albumin = [_num(o) for o in _window(index, ALBUMIN, moment, hours)]
    if albumin and min(albumin) < albumin_below:
        found.append(f"albumin {fmt(min(albumin))} g/dL")
    lung = rules.rule("cls.sign.lung")
    rales = [o for o in _window(index, RALES, moment, hours) if o.value in lung.strs("values")]
    if rales:
        found.append(f"rales {rales[-1].value}")
    if "oxygen" not in skip:
        flows = [_num(o) for o in _window(index, O2_FLOW, moment, hours)]
        if flows and max(flows) >= lung.num("flow_at_least"):
            found.append(f"O2 {fmt(max(flows))} L/min")
    return found


def _lowest_per_8h(
    index: CourseIndex, concept: str, moment: datetime, hours: float
) -> float | None:
    """Return the lowest 8 h-rate of the collection periods ending near `moment`."""
    basis_h = index.rules.rule("advice.lookback").num("volume_basis_h")
    rates = [_rate(o, basis_h) for o in _window(index, concept, moment, hours) if o.period_h]
    return min(rates) if rates else None


def _leak_settled(index: CourseIndex, moment: datetime) -> bool:
    """Return True when leak signs were present one window earlier but none are near `moment`."""
    hours = index.rules.rule("cls.syndrome").num("together_h")
    if leak_signs(index, moment):
        return False
    return bool(leak_signs(index, moment - timedelta(hours=2 * hours)))


# ---------------------------------------------------------------------------------------------
# Timing against the doses


def _last_given_before(index: CourseIndex, moment: datetime) -> datetime | None:
    last = None
    for dose in index.doses:
        if dose.time > moment:
            break
        if dose.status == "given":
            last = dose.time
    return last


def _timing(index: CourseIndex, signal: Signal, il2_side: bool = True) -> None:
    """Add onset-timing findings: before the first dose, late, or during dosing."""
    late_h = index.rules.rule("ici.differential").num("late_after_last_dose_h")
    last = _last_given_before(index, signal.time)
    if last is None:
        signal.favors_ici.append("present before the first IL-2 dose")
        return
    hours = (signal.time - last).total_seconds() / 3600
    if hours > late_h:
        signal.favors_ici.append(f"onset {fmt(hours)} h after the last IL-2 dose")
    elif il2_side:
        signal.favors_il2.append(f"onset during dosing ({fmt(hours)} h after a given dose)")


# ---------------------------------------------------------------------------------------------
# Signals, one function per organ


def _hepatitis(index: CourseIndex, rule: Rule, rows: Sequence[LiverRow]) -> Signal | None:
    min_grade = int(rule.num("min_grade"))
    hits = [row for row in rows if liver.meets_hepatitis(row, min_grade)]
    if not hits:
        return None
    first = hits[0]
    critical_grade = index.rules.rule("hepatitis.grade").num("critical_grade")
    critical = any(row.hys_law or liver.row_grade(row) >= critical_grade for row in hits)
    evidence = [
        obs
        for concept in liver.TESTS
        if (obs := liver.at_time(index, concept, first.time)) is not None
    ]
    signal = Signal(first.time, liver.describe(first), evidence, critical)
    r_rule = index.rules.rule("liver.r_ratio")
    patterned = [row for row in hits if row.r_ratio is not None and row.pattern is not None]
    if patterned:
        row = patterned[0]
        assert row.r_ratio is not None
        if row.r_ratio >= r_rule.num("hepatocellular_at_least"):
            signal.favors_ici.append(f"hepatocellular pattern (R {fmt(row.r_ratio)})")
        elif row.r_ratio <= r_rule.num("cholestatic_at_most"):
            signal.favors_il2.append(f"cholestatic pattern (R {fmt(row.r_ratio)})")
    amino_led = any(
        (row.alt_grade or 0) >= min_grade or (row.ast_grade or 0) >= min_grade for row in hits
    )
    bili_led = (first.bilirubin_grade or 0) >= min_grade and not amino_led
    signs = leak_signs(index, first.time)
    if signs:
        signal.favors_il2.append("concurrent capillary-leak signs: " + "; ".join(signs))
    elif amino_led:
        signal.favors_ici.append("aminotransferase rise without capillary-leak signs")
    if bili_led:
        signal.favors_il2.append("bilirubin-led rise")
    if _leak_settled(index, first.time):
        signal.favors_ici.append("onset after capillary-leak signs settled")
    _timing(index, signal)
    last_dose = _last_given_before(index, index.as_of)
    late_h = index.rules.rule("ici.differential").num("late_after_last_dose_h")
    if last_dose is not None and _rising_after(rows, last_dose + timedelta(hours=late_h)):
        signal.favors_ici.append(f"still rising more than {fmt(late_h)} h after the last dose")
    return signal


def _rising_after(rows: Sequence[LiverRow], since: datetime) -> bool:
    """Return True when the worst multiple of ULN rose between two rows both after `since`."""
    values = []
    for row in rows:
        multiples = [m for m in (row.alt_x_uln, row.ast_x_uln, row.bilirubin_x_uln) if m]
        if row.time > since and multiples:
            values.append(max(multiples))
    return any(later > earlier for earlier, later in itertools.pairwise(values))


def _colitis(index: CourseIndex, rule: Rule) -> Signal | None:
    at_least = rule.num("stool_at_least")
    lookback = index.rules.rule("advice.lookback")
    window_h, basis_h = lookback.num("volume_window_h"), lookback.num("volume_basis_h")
    stool = index.get(STOOL)
    hits: list[tuple[Observation, float, tuple[Observation, ...]]] = []
    for obs in stool:
        found = index.volume_per_8h(STOOL, obs.time, window_h, basis_h)
        if found is not None and found[0] >= at_least:
            hits.append((obs, found[0], found[1]))
    if not hits:
        return None
    hold_at = index.rules.rule("hold.stool").num("at_least")
    rates = [_rate(o, basis_h) for o in stool]
    consecutive = any(a >= hold_at and b >= hold_at for a, b in itertools.pairwise(rates))
    first, volume, used = hits[0]
    signal = Signal(first.time, f"stool {fmt(volume)} mL/8 h", list(used), consecutive)
    agents = {t.agent for t in index.course.prior_toxicities if t.irae == "colitis"}
    ctla4 = index.rules.rule("ici.ctla4_agents").strs("values")
    for agent in sorted(agents):
        if any(name.lower() in agent.lower() for name in ctla4):
            signal.favors_ici.append(f"prior colitis on anti-CTLA-4 ({agent})")
    late_h = index.rules.rule("ici.differential").num("late_after_last_dose_h")
    last_dose = _last_given_before(index, index.as_of)
    if last_dose is not None:
        persisting = [h for h in hits if h[0].time > last_dose + timedelta(hours=late_h)]
        if persisting:
            hours = (persisting[-1][0].time - last_dose).total_seconds() / 3600
            signal.favors_ici.append(f"diarrhoea persisting {fmt(hours)} h after the last dose")
    building = _building(index, stool, first.time)
    if building:
        signal.favors_il2.append(building)
    signs = leak_signs(index, first.time)
    if signs:
        signal.favors_il2.append("concurrent capillary-leak signs: " + "; ".join(signs))
    _timing(index, signal)
    return signal


def _rate(obs: Observation, basis_h: float) -> float:
    """Return a collected volume pro-rated to `basis_h` hours (0 without a period)."""
    return float(obs.value) * basis_h / obs.period_h if obs.period_h else 0.0


def _building(index: CourseIndex, stool: Sequence[Observation], until: datetime) -> str:
    """Return a note when the highest per-8 h stool volume after each dose grew dose by dose
    (at least `liver.trend` `rising_doses` doses in a row up to `until`)."""
    needed = int(index.rules.rule("liver.trend").num("rising_doses"))
    basis_h = index.rules.rule("advice.lookback").num("volume_basis_h")
    per_dose: dict[tuple[int, int], float] = {}
    for obs in stool:
        position = index.dose_position(obs.time)
        if obs.time > until or position[1] == 0:
            continue
        per_dose[position] = max(per_dose.get(position, 0.0), _rate(obs, basis_h))
    values = [per_dose[k] for k in sorted(per_dose)]
    run = liver.rising_run(values)
    if run < needed:
        return ""
    return f"diarrhoea building with each dose ({fmt(values[-run])}→{fmt(values[-1])} mL/8 h)"


def _pneumonitis(index: CourseIndex, rule: Rule) -> Signal | None:
    spo2_below = rule.num("spo2_below")
    flow_at_least = rule.num("flow_at_least")
    low_spo2 = next((o for o in index.get(SPO2) if _num(o) < spo2_below), None)
    high_flow = next((o for o in index.get(O2_FLOW) if _num(o) >= flow_at_least), None)
    candidates = [o for o in (low_spo2, high_flow) if o is not None]
    if not candidates:
        return None
    first = min(candidates, key=lambda o: o.time)
    hold_spo2 = index.rules.rule("hold.spo2").num("below")
    hold_flow = index.rules.rule("hold.oxygen").num("flow_above")
    critical = any(_num(o) < hold_spo2 for o in index.get(SPO2)) or any(
        _num(o) > hold_flow for o in index.get(O2_FLOW)
    )
    finding = (
        f"SpO2 {fmt(_num(first))}%" if first.concept == SPO2 else f"O2 {fmt(_num(first))} L/min"
    )
    signal = Signal(first.time, finding, [first], critical)
    signs = leak_signs(index, first.time, skip=("hypotension", "oxygen"))
    if signs:
        signal.favors_il2.append("concurrent capillary-leak signs: " + "; ".join(signs))
    else:
        signal.favors_ici.append("hypoxia without weight gain, rales, low albumin or oliguria")
    _timing(index, signal)
    return signal


def _thyroiditis(index: CourseIndex, rule: Rule) -> Signal | None:
    for obs in index.get(TSH):
        low, high = index.lln(obs), index.uln(obs)
        value = _num(obs)
        if low is not None and value < low:
            signal = Signal(obs.time, f"TSH {fmt(value)} mIU/L (below limit)", [obs], False)
            signal.favors_ici.append("suppressed TSH: a thyrotoxic phase, as in ICI thyroiditis")
            _timing(index, signal, il2_side=False)
            return signal
        if high is not None and value > high:
            signal = Signal(obs.time, f"TSH {fmt(value)} mIU/L (above limit)", [obs], False)
            _timing(index, signal, il2_side=False)
            return signal
    return None


def _endocrine(index: CourseIndex, rule: Rule) -> Signal | None:
    """Sodium below the limit with SBP below target, measured together; first time both known."""
    sodium_below = rule.num("sodium_below")
    reach = timedelta(hours=rule.num("together_h"))
    low_sbp = [o for o in index.get(SBP) if _num(o) < index.target_sbp]
    best: tuple[datetime, Observation, Observation] | None = None
    for na in index.get(SODIUM):
        if _num(na) >= sodium_below:
            continue
        i = bisect_left(low_sbp, na.time - reach, key=lambda o: o.time)
        if i == len(low_sbp) or low_sbp[i].time > na.time + reach:
            continue
        sbp = low_sbp[i]
        when = max(na.time, sbp.time)
        if best is None or when < best[0]:
            best = (when, na, sbp)
    if best is None:
        return None
    when, na, sbp = best
    finding = (
        f"sodium {fmt(_num(na))} mmol/L with SBP {fmt(_num(sbp))} "
        f"below target {fmt(index.target_sbp)}"
    )
    signal = Signal(when, finding, [na, sbp], True)
    signs = leak_signs(index, when, skip=("hypotension",))
    if signs:
        signal.favors_il2.append("concurrent capillary-leak signs: " + "; ".join(signs))
    _timing(index, signal)
    return signal


def creatinine_grade(index: CourseIndex, obs: Observation) -> int:
    """Return the CTCAE creatinine grade: the higher of the ULN- and baseline-based grades.

    Baseline = the first creatinine of the course; the baseline bounds give grade 2 above the
    first bound and grade 3 above the second. A zero baseline is not used.
    """
    rule = index.rules.rule("creatinine.grade")
    value = float(obs.value)
    uln = index.uln(obs)
    by_uln = 0
    if uln is not None and value > uln:
        by_uln = liver.band_grade(liver.multiple(value, uln), rule.nums("uln_bounds"))
    first = index.first(CREATININE)
    by_baseline = 0
    if first is not None and float(first.value) > 0:
        times = liver.multiple(value, float(first.value))
        above = bisect_left(list(rule.nums("baseline_bounds")), times)
        by_baseline = above + 1 if above > 0 else 0
    return max(by_uln, by_baseline)


def _nephritis(index: CourseIndex, rule: Rule) -> Signal | None:
    min_grade = rule.num("min_grade")
    hits = [o for o in index.get(CREATININE) if creatinine_grade(index, o) >= min_grade]
    if not hits:
        return None
    first = hits[0]
    hold_at = index.rules.rule("hold.creatinine").num("at_least")
    critical = any(_num(o) >= hold_at for o in hits)
    grade = creatinine_grade(index, first)
    signal = Signal(
        first.time, f"creatinine {fmt(_num(first))} mg/dL (grade {grade})", [first], critical
    )
    oliguria = leak_signs(index, first.time)
    urine_or_pressure = [s for s in oliguria if s.startswith(("urine", "SBP", "phenylephrine"))]
    if urine_or_pressure:
        signal.favors_il2.append("oliguria or pressor need: " + "; ".join(urine_or_pressure))
    else:
        signal.favors_ici.append("creatinine rising without oliguria or hypotension")
    _timing(index, signal)
    return signal


def _myocarditis(index: CourseIndex, rule: Rule) -> Signal | None:
    rhythms = rule.strs("values")
    troponin = [
        o
        for concept in (TROPONIN, TROPONIN_HS)
        for o in index.get(concept)
        if (uln := index.uln(o)) is not None and _num(o) > uln
    ]
    rhythm = [o for o in index.get(RHYTHM) if o.value in rhythms]
    troponin.sort(key=lambda o: o.time)  # two assays: merge their time orders
    candidates = troponin[:1] + rhythm[:1]
    if not candidates:
        return None
    first = min(candidates, key=lambda o: o.time)
    if first.concept in (TROPONIN, TROPONIN_HS):
        finding = f"troponin I {fmt(_num(first))} {first.unit} above limit"
    else:
        finding = f"rhythm {first.value}"
    signal = Signal(first.time, finding, [first], True)
    if any(o.value == "ischemic_changes" for o in rhythm):
        signal.favors_ici.append("ischaemic ECG changes")
    if _troponin_rising(index):
        signal.favors_ici.append("troponin still rising")
    _supraventricular_with_leak(index, signal, rhythm)
    _timing(index, signal)
    return signal


def _troponin_rising(index: CourseIndex) -> bool:
    for concept in (TROPONIN, TROPONIN_HS):
        above = [
            _num(o) for o in index.get(concept) if (u := index.uln(o)) is not None and _num(o) > u
        ]
        if len(above) >= 2 and above[-1] > above[-2]:
            return True
    return False


def _supraventricular_with_leak(
    index: CourseIndex, signal: Signal, rhythm: Sequence[Observation]
) -> None:
    """Favour IL-2 for AF/SVT with tachycardia and hypotension measured together."""
    hours = index.rules.rule("cls.syndrome").num("together_h")
    tachy_above = index.rules.rule("caution.heart_rate").num("above")
    for obs in rhythm:
        if obs.value not in ("af", "svt"):
            continue
        fast = any(_num(o) > tachy_above for o in _window(index, HR, obs.time, hours))
        low = any(_num(o) < index.target_sbp for o in _window(index, SBP, obs.time, hours))
        if fast and low:
            signal.favors_il2.append(
                f"supraventricular rhythm ({obs.value}) with tachycardia and hypotension"
            )
            return


def _dermatitis(index: CourseIndex, rule: Rule) -> Signal | None:
    values = rule.strs("values")
    skin = index.get(SKIN)
    first = next((o for o in skin if o.value in values), None)
    if first is None:
        return None
    signal = Signal(first.time, f"skin {first.value}", [first], True)
    if any(o.value == "bullous" for o in skin):
        signal.favors_ici.append("bullous skin: look for SJS/TEN or DRESS")
    erythema_first = any(o.value == "erythema" and o.time < first.time for o in skin)
    if erythema_first and index.first_dose_time() is not None:
        signal.favors_il2.append("erythema moving to desquamation during dosing")
    _timing(index, signal)
    return signal


SignalFinder = Callable[[CourseIndex, Rule], Signal | None]
FINDERS: dict[str, SignalFinder] = {
    "colitis": _colitis,
    "pneumonitis": _pneumonitis,
    "thyroiditis": _thyroiditis,
    "hypophysitis": _endocrine,
    "adrenal_insufficiency": _endocrine,
    "nephritis": _nephritis,
    "myocarditis": _myocarditis,
    "dermatitis": _dermatitis,
}


# ---------------------------------------------------------------------------------------------
# Flags


def flags(index: CourseIndex, liver_rows: list[LiverRow]) -> list[Flag]:
    """Return one `ici_recurrence` flag per prior-toxicity organ whose signal is present.

    Organs without a signal in format 1 (arthritis, diabetes, other) never flag. Two prior
    toxicities of one organ give one flag, described by the worse (higher grade) of them.
    """
    out = []
    for organ, priors in _priors_by_organ(index.course.prior_toxicities).items():
        code = RULE_OF_ORGAN.get(organ)
        if code is None:
            continue
        rule = index.rules.rule(code)
        if organ == "hepatitis":
            signal = _hepatitis(index, rule, liver_rows)
        else:
            signal = FINDERS[organ](index, rule)
        if signal is None:
            continue
        severe_grade = index.rules.rule("ici.differential").num("severe_prior_grade")
        worst = max(priors, key=lambda t: t.grade)
        if worst.grade >= severe_grade:
            signal.favors_ici.insert(0, f"prior {organ} grade {worst.grade}")
        out.append(_flag(index, organ, code, worst, signal))
    return out


def _priors_by_organ(priors: Sequence[PriorToxicity]) -> dict[str, list[PriorToxicity]]:
    grouped: dict[str, list[PriorToxicity]] = {}
    for toxicity in priors:
        grouped.setdefault(toxicity.irae, []).append(toxicity)
    return grouped


def _flag(index: CourseIndex, organ: str, code: str, prior: PriorToxicity, signal: Signal) -> Flag:
    resolved = f"resolved {prior.resolved.isoformat()}" if prior.resolved else "not resolved"
    label = organ.replace("_", " ")
    message = (
        f"Possible recurrence of prior ICI {label} "
        f"(grade {prior.grade}, {prior.agent}, {resolved}): {signal.finding}"
    )
    return make_flag(
        index,
        category="ici_recurrence",
        severity="critical" if signal.critical else "warning",
        code=f"ici.{organ}",
        time=signal.time,
        message=message,
        evidence=signal.evidence,
        source=index.rules.source(code, "ici.differential"),
        irae=organ,
        differential=Differential(
            favors_ici=tuple(signal.favors_ici), favors_il2=tuple(signal.favors_il2)
        ),
    )
