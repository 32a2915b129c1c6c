"""Synthetic high-dose IL-2 courses: a seeded simulator of the physiology, and the demo ward.

`simulate_course(scenario, seed=..., start=..., patient_id=...)` returns a `Course` as a ward
chart would hold it: doses every 8 h (held when the simulator's own simple check sees a hold
criterion), vital signs every 4 h and 30 min before each dose, nursing items before each dose,
urine per 8 h, weight and labs daily. The same seed gives the same course; nothing global is
touched (one `random.Random(seed)` per call). Every observation is built exactly as
`course.parse_observation` would build it from the chart value, so
`parse_course(course_to_dict(c)) == c`.

`demo_ward(now)` returns the synthetic ward of `python -m il2_tox demo`, placed relative to
`now` so that it looks live. All names and numbers are invented; none is a real patient.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from il2_tox import units
from il2_tox.course import (
    Admission,
    Course,
    Dose,
    History,
    Observation,
    Patient,
    PriorToxicity,
)
from il2_tox.units import (
    ACVPU,
    ALBUMIN,
    ALP,
    ALT,
    AST,
    BICARBONATE,
    BILIRUBIN,
    COGNITION,
    CONCERN,
    CREATININE,
    DBP,
    HEMOGLOBIN,
    HR,
    LACTATE,
    MAP,
    O2_FLOW,
    PHENYLEPHRINE,
    PLATELETS,
    POTASSIUM,
    RALES,
    RHYTHM,
    RR,
    SBP,
    SKIN,
    SODIUM,
    SPO2,
    STOOL,
    TEMP,
    TROPONIN_HS,
    TSH,
    URINE,
    WBC,
    WEIGHT,
)
from il2_tox.units import (
    TROPONIN as TROPONIN_I,
)

__all__ = ["SCENARIOS", "PriorIrae", "Scenario", "demo_ward", "simulate_course"]


DOSE_INTERVAL_MIN = 8 * 60
MAX_DOSES_PER_CYCLE = 14
# Label schedule: cycle 2 starts on day 15, i.e. 9-10 days' rest after the last dose of cycle 1;
# the patient is readmitted 14 days after the first admission.
CYCLE_2_AFTER_MIN = 14 * 24 * 60
FIRST_DOSE_AFTER_ADMISSION_MIN = 4 * 60 + 30
POST_CYCLE_WATCH_SLOTS = 3  # the day after the last dose, watched like a dosing day

LIVER_PATTERNS = ("none", "cholestatic", "hepatocellular")


# ---------------------------------------------------------------------------------------------
# Scenario


@dataclass(frozen=True)
class PriorIrae:
    """A prior checkpoint-inhibitor toxicity, dated in days before admission.

    Relative dates keep a scenario usable at any start time; `resolved_days_before=None` means
    not resolved (an eligibility flag in its own right).
    """

    agent: str
    irae: str
    grade: int
    onset_days_before: int
    resolved_days_before: int | None
    steroids: bool | None = None
    note: str | None = None


_DEFAULT_HISTORY = History(
    brain_metastases="none", systemic_steroids=False, ecog=0, prior_therapies=("nivolumab",)
)


@dataclass(frozen=True)
class Scenario:
    """The knobs of one simulated course; every field has a sensible default.

    `leak` is the capillary-leak severity: 0 none, about 0.35 a usual course (weight +3-5 %),
    1.0 or more a severe leak (weight over 10 %, hypotension on phenylephrine, oliguria, held
    doses). `diarrhoea` 0.2 is the usual loose stool; 1.0 reaches 1000 mL per 8 h after about
    six doses. `oxygen` is hypoxaemia that the leak does not explain (pneumonitis-like): 1.0
    needs 3-5 L/min within two days. `doses_so_far` stops the last cycle after that many dose
    slots, with the next dose's pre-dose check done and the dose not yet recorded (None: every
    cycle runs to its end and a day of watch after it). `si_units` reports creatinine and
    bilirubin in umol/L, albumin and Hb in g/L, counts in 10*9/L and troponin as hs-TnI ng/L.
    """

    leak: float = 0.35
    liver: str = "none"
    diarrhoea: float = 0.2
    oxygen: float = 0.0
    cycles: int = 1
    doses_so_far: int | None = None
    doses_per_cycle: int = MAX_DOSES_PER_CYCLE
    si_units: bool = False
    weight_unit: str = "kg"
    temperature_unit: str = "Cel"
    sex: str | None = None
    usual_sbp_mmhg: float | None = None
    history: History | None = _DEFAULT_HISTORY
    prior_toxicities: tuple[PriorIrae, ...] = ()

    def __post_init__(self) -> None:
        if self.liver not in LIVER_PATTERNS:
            raise ValueError(f"liver must be one of {', '.join(LIVER_PATTERNS)}: {self.liver!r}")
        if self.cycles not in (1, 2):
            raise ValueError(f"cycles must be 1 or 2: {self.cycles}")
        if not 1 <= self.doses_per_cycle <= MAX_DOSES_PER_CYCLE:
            raise ValueError(f"doses_per_cycle must be 1-14: {self.doses_per_cycle}")
        if self.doses_so_far is not None and not 0 <= self.doses_so_far <= self.doses_per_cycle:
            raise ValueError(f"doses_so_far must be 0-{self.doses_per_cycle}: {self.doses_so_far}")
        if self.weight_unit not in ("kg", "[lb_av]"):
            raise ValueError(f"weight_unit must be kg or [lb_av]: {self.weight_unit!r}")
        if self.temperature_unit not in ("Cel", "[degF]"):
            raise ValueError(f"temperature_unit must be Cel or [degF]: {self.temperature_unit!r}")


SCENARIOS: dict[str, Scenario] = {
    "uneventful": Scenario(),
    "capillary_leak": Scenario(leak=1.6, diarrhoea=0.3),
    "cholestatic": Scenario(leak=0.6, liver="cholestatic"),
    "hepatocellular": Scenario(leak=0.45, liver="hepatocellular"),
    "colitis": Scenario(leak=0.45, diarrhoea=1.1),
    "pneumonitis": Scenario(leak=0.4, oxygen=1.3),
    "two_cycles": Scenario(cycles=2),
    "si_units": Scenario(si_units=True),
}
"""Named scenarios; `simulate_course("capillary_leak", ...)` is `SCENARIOS[...]`."""


# ---------------------------------------------------------------------------------------------
# Lab reference limits and chart rounding


@dataclass(frozen=True)
class _Item:
    """How one quantity is charted: unit, decimals, and the reporting lab's limits (as entered)."""

    unit: str
    decimals: int
    ref_low: float | None = None
    ref_high: float | None = None


# A plausible US hospital lab (conventional units).
_US_LAB: dict[str, _Item] = {
    ALT: _Item("U/L", 0, 7, 40),
    AST: _Item("U/L", 0, 10, 40),
    ALP: _Item("U/L", 0, 40, 130),
    BILIRUBIN: _Item("mg/dL", 1, 0.2, 1.2),
    CREATININE: _Item("mg/dL", 2, 0.6, 1.2),
    ALBUMIN: _Item("g/dL", 1, 3.4, 5.0),
    PLATELETS: _Item("10*3/uL", 0, 150, 400),
    SODIUM: _Item("mmol/L", 0, 135, 145),
    POTASSIUM: _Item("mmol/L", 1, 3.5, 5.1),
    BICARBONATE: _Item("mmol/L", 0, 22, 29),
    LACTATE: _Item("mmol/L", 1, 0.5, 2.0),
    TSH: _Item("m[IU]/L", 2, 0.4, 4.0),
    TROPONIN_I: _Item("ng/mL", 2, None, 0.04),
    HEMOGLOBIN: _Item("g/dL", 1, 12.0, 16.0),
    WBC: _Item("10*3/uL", 1, 4.0, 11.0),
}

# A plausible European lab (SI units).
_SI_LAB: dict[str, _Item] = {
    **_US_LAB,
    ALT: _Item("U/L", 0, None, 41),
    AST: _Item("U/L", 0, None, 40),
    ALP: _Item("U/L", 0, 40, 129),
    BILIRUBIN: _Item("umol/L", 0, 3, 21),
    CREATININE: _Item("umol/L", 0, 53, 106),
    ALBUMIN: _Item("g/L", 0, 35, 52),
    PLATELETS: _Item("10*9/L", 0, 150, 400),
    SODIUM: _Item("mmol/L", 0, 136, 145),
    TSH: _Item("m[IU]/L", 2, 0.27, 4.2),
    TROPONIN_HS: _Item("ng/L", 0, None, 26),
    HEMOGLOBIN: _Item("g/L", 0, 120, 160),
    WBC: _Item("10*9/L", 1, 4.0, 10.0),
}

_VITALS: dict[str, _Item] = {
    HR: _Item("/min", 0),
    SBP: _Item("mm[Hg]", 0),
    DBP: _Item("mm[Hg]", 0),
    MAP: _Item("mm[Hg]", 0),
    RR: _Item("/min", 0),
    SPO2: _Item("%", 0),
    O2_FLOW: _Item("L/min", 1),
    PHENYLEPHRINE: _Item("ug/kg/min", 2),
    URINE: _Item("mL", 0),
    STOOL: _Item("mL", 0),
}


def _converters(code: str, unit: str) -> tuple[Callable[[float], float], Callable[[float], float]]:
    found = units.CODES[code].unit(unit)
    if found is None:
        raise KeyError(f"{code} does not accept {unit}")
    return found.to_canonical, found.from_canonical


# ---------------------------------------------------------------------------------------------
# The simulation

_BASELINE, _LABS, _CREATININE_ONLY, _PRE_DOSE, _DOSE, _VITALS_CHECK = range(6)


def _target_sbp(usual_sbp: float) -> int:
    """Return the target SBP on therapy from the usual SBP (REFERENCE.md §2.3)."""
    if usual_sbp < 100:
        return 80
    if usual_sbp <= 120:
        return 85
    return 90


def _fever_shape(hours_since_dose: float) -> float:
    """Return the fraction of the post-dose fever present this long after a dose.

    Fever rises within 1-2 h, peaks 2-4 h after the dose and fades before the next one [DUT-T2].
    """
    h = hours_since_dose
    if h < 0.75:
        return 0.0
    if h < 2.0:
        return (h - 0.75) / 1.25
    if h <= 4.0:
        return 1.0
    if h <= 8.0:
        return 1.0 - 0.9 * (h - 4.0) / 4.0
    return 0.1 * math.exp(-(h - 8.0) / 4.0)


class _Simulation:
    """One run of the simulator: state that evolves event by event, and the chart it writes."""

    def __init__(self, scenario: Scenario, rng: random.Random, start: datetime) -> None:
        self.s = scenario
        self.rng = rng
        self.start = start
        self.lab = _SI_LAB if scenario.si_units else _US_LAB
        self.observations: list[Observation] = []
        self.doses: list[Dose] = []
        self._conv: dict[tuple[str, str], tuple[Callable[[float], float], ...]] = {}
        self._times: dict[int, datetime] = {}

        u = rng.uniform
        self.sex = scenario.sex or rng.choice(("female", "male"))
        female = self.sex == "female"
        self.age = rng.randint(34, 68)
        self.height_cm = round(u(158, 174) if female else u(168, 190))
        bmi = u(21.5, 29.0)
        self.weight_kg = round(bmi * (self.height_cm / 100) ** 2, 1)
        self.usual_sbp = scenario.usual_sbp_mmhg or float(round(u(104, 132)))
        self.target_sbp = _target_sbp(self.usual_sbp)
        # Pre-treatment physiology of this patient.
        self.hr0 = u(64, 82)
        self.temp0 = u(36.5, 36.9)
        self.urine0 = u(560, 860)  # mL per 8 h
        self.alt0 = u(14, 30)
        self.ast0 = u(16, 30)
        self.alp0 = u(55, 100)
        self.bili0 = u(0.3, 0.7)
        self.creat0 = u(0.62, 0.85) if female else u(0.75, 1.0)
        self.alb0 = u(3.7, 4.2)
        self.plt0 = u(190, 320)
        self.na0 = u(137, 141)
        self.k0 = u(3.8, 4.4)
        self.hco3_0 = u(24, 27)
        self.hb0 = u(12.6, 14.0) if female else u(13.6, 15.6)
        self.wbc0 = u(5.0, 8.0)
        self.tsh0 = u(0.8, 3.0)
        self.rr0 = u(13, 16)
        self.spo2_0 = u(96.5, 98.5)

        # State that the doses drive.
        self.t = 0.0  # hours since admission of the simulated moment
        self.leak_load = 0.0  # decays between doses, so holding lets the patient recover
        self.dose_load = 0.0  # given doses, fading over days: albumin, platelets, stool
        self.weight_gain = 0.0  # fraction over dry weight; lost only once dosing stops
        self.last_given_h: float | None = None
        self.fever_amplitude = 0.0
        self.given_this_cycle = 0
        self.hepatitis_onset_h: float | None = None
        self.pneumonitis_onset_h: float | None = None
        self.phenylephrine = 0.0
        self.o2_flow = 0.0
        self.skin = "normal"
        self.last_urine_h = 0.0
        self.stool_periods: list[float] = []
        # What the bedside check sees at the next dose.
        self.latest: dict[str, float | str] = {}

    # --- recording ---------------------------------------------------------------------------

    def _time(self, minute: int) -> datetime:
        when = self._times.get(minute)
        if when is None:
            when = self._times[minute] = self.start + timedelta(minutes=minute)
        return when

    def _record(
        self,
        minute: int,
        code: str,
        canonical: float,
        item: _Item,
        period_h: float | None = None,
    ) -> float:
        """Chart a quantity as a nurse or lab would enter it; return the canonical value kept."""
        key = (code, item.unit)
        conv = self._conv.get(key)
        if conv is None:
            conv = self._conv[key] = _converters(code, item.unit)
        to_canonical, from_canonical = conv
        entered_float = round(from_canonical(canonical), item.decimals)
        entered: float = int(entered_float) if item.decimals == 0 else entered_float
        value = to_canonical(float(entered))
        self.observations.append(
            Observation(
                time=self._time(minute),
                code=code,
                value=value,
                unit=units.CODES[code].canonical_unit,
                entered_value=entered,
                entered_unit=item.unit,
                ref_low=None if item.ref_low is None else to_canonical(float(item.ref_low)),
                ref_high=None if item.ref_high is None else to_canonical(float(item.ref_high)),
                period_h=period_h,
            )
        )
        return value

    def _coded(self, minute: int, code: str, value: str) -> None:
        self.observations.append(
            Observation(time=self._time(minute), code=code, value=value, entered_value=value)
        )

    # --- physiology --------------------------------------------------------------------------

    def _advance(self, minute: int) -> None:
        """Move the state forward to `minute`: leak and dose effects fade with time."""
        t = minute / 60.0
        dt = t - self.t
        if dt <= 0:
            return
        self.leak_load *= math.exp(-dt / 40.0)
        self.dose_load *= math.exp(-dt / 96.0)
        if self.last_given_h is None or t - self.last_given_h > 24.0:
            # Diuresis once dosing has stopped: the gained fluid goes over 2-3 days.
            self.weight_gain *= math.exp(-dt / 48.0)
        self.t = t

    def _fever_fraction(self) -> float:
        if self.last_given_h is None:
            return 0.0
        return _fever_shape(self.t - self.last_given_h)

    def _lung(self) -> float:
        """Lung congestion from the leak, 0 (none) to about 1 (rales half-way up)."""
        return max(0.0, self.leak_load - 0.55) * 1.5

    def _pneumonitis(self) -> float:
        if self.pneumonitis_onset_h is None:
            return 0.0
        # Time-driven, not dose-driven: it keeps rising when doses are held (favours the ICI).
        return self.s.oxygen * min(1.6, max(0.0, (self.t - self.pneumonitis_onset_h) / 48.0))

    def _hepatitis(self) -> float:
        if self.hepatitis_onset_h is None:
            return 0.0
        ramp = min(1.3, max(0.0, (self.t - self.hepatitis_onset_h) / 60.0))
        return float(ramp**1.2)

    # --- chart events ------------------------------------------------------------------------

    def vitals(self, minute: int) -> None:
        """Chart one set of vital signs, then titrate phenylephrine and oxygen to what was seen."""
        self._advance(minute)
        g = self.rng.gauss
        leak = self.leak_load
        fever = self._fever_fraction()
        temp = self.temp0 + self.fever_amplitude * fever + 0.25 * leak + g(0, 0.12)
        temp_item = _Item(self.s.temperature_unit, 1)
        temp = self._record(minute, TEMP, min(41.5, temp), temp_item)
        hr = self.hr0 + 26 * leak + 11 * max(0.0, temp - 37.2) + g(0, 4)
        hr = self._record(minute, HR, min(165.0, hr), _VITALS[HR])
        intrinsic_sbp = self.usual_sbp - 40 * leak - 7 * fever + g(0, 5)
        sbp = max(55.0, intrinsic_sbp + 18 * self.phenylephrine)
        sbp = self._record(minute, SBP, sbp, _VITALS[SBP])
        dbp = self._record(minute, DBP, 0.5 * sbp + 11 + g(0, 3), _VITALS[DBP])
        self._record(minute, MAP, (sbp + 2 * dbp) / 3, _VITALS[MAP])
        lung = self._lung()
        pneumonitis = self._pneumonitis()
        rr = self.rr0 + 5 * lung + 6 * pneumonitis + 2 * fever + g(0, 1.2)
        self._record(minute, RR, min(40.0, rr), _VITALS[RR])
        # Oxygen helps less when the lung itself is inflamed.
        o2_benefit = self.o2_flow * (2.2 - 1.4 * min(1.0, pneumonitis))
        spo2 = self.spo2_0 - 4 * lung - 8 * pneumonitis + o2_benefit + g(0, 0.8)
        spo2 = self._record(minute, SPO2, max(80.0, min(100.0, spo2)), _VITALS[SPO2])
        self._record(minute, O2_FLOW, self.o2_flow, _VITALS[O2_FLOW])
        self._coded(minute, ACVPU, "A")
        if self.phenylephrine > 0 or self.latest.get("phenylephrine", 0.0) != 0.0:
            self._record(minute, PHENYLEPHRINE, self.phenylephrine, _VITALS[PHENYLEPHRINE])
        self.latest.update(
            sbp=sbp, hr=hr, spo2=spo2, o2=self.o2_flow, phenylephrine=self.phenylephrine
        )
        self._titrate(sbp, spo2)

    def _titrate(self, sbp: float, spo2: float) -> None:
        """Adjust phenylephrine and oxygen as a nurse would after reading the numbers."""
        if sbp < self.target_sbp:
            # Small steps: a severe leak outruns the titration, as it does on a real ward.
            step = 0.2 if sbp < self.target_sbp - 10 else 0.1
            self.phenylephrine = min(1.2, round(self.phenylephrine + step, 2))
        elif sbp > self.target_sbp + 12 and self.phenylephrine > 0:
            self.phenylephrine = max(0.0, round(self.phenylephrine - 0.1, 2))
        if spo2 < 94:
            # Nasal cannula tops out at 5 L/min; beyond that a mask, which format 1 does not chart.
            self.o2_flow = min(5.0, 2.0 if self.o2_flow == 0 else self.o2_flow + 1.0)
        elif spo2 >= 97 and self.o2_flow > 0:
            self.o2_flow = max(0.0, self.o2_flow - 1.0)

    def nursing(self, minute: int) -> None:
        """Chart the bedside items checked before a dose."""
        lung = self._lung()
        rales = "none" if lung < 0.12 else "bases" if lung < 0.45 else "third"
        if lung >= 1.0:
            rales = "half"
        self._coded(minute, RALES, rales)
        if self.skin == "normal" and self.rng.random() < min(0.8, self.dose_load / 8.0):
            self.skin = "erythema"
        self._coded(minute, SKIN, self.skin)
        self._coded(minute, RHYTHM, "sinus")
        self._coded(minute, COGNITION, "pass")
        self.latest["rales"] = rales
        absolute, n_relative, _ = self._hold_reasons()
        worries = n_relative + 3 * len(absolute)
        concern = "none" if worries == 0 else "some" if worries < 3 else "high"
        self._coded(minute, CONCERN, concern)

    def outputs(self, minute: int) -> None:
        """Chart urine (and stool, when there is diarrhoea) collected since the last check."""
        self._advance(minute)
        rng = self.rng
        # Charted against the nominal shift length, not the minutes of charting jitter.
        period = max(1, round(minute / 60.0 - self.last_urine_h))
        self.last_urine_h = minute / 60.0
        # Less urine as the leak grows, and less again while the kidneys are underperfused.
        sbp = float(self.latest.get("sbp", self.usual_sbp))
        perfusion = min(1.0, max(0.5, 1.0 - 0.025 * (self.target_sbp + 10 - sbp)))
        leak = max(0.04, 1.0 - 0.78 * self.leak_load)
        fraction = leak * perfusion * rng.uniform(0.88, 1.12)
        volume = self.urine0 * fraction * period / 8.0
        if period == 8 and volume < 200:
            # Oliguria: the nurse measures every 4 h.
            first = round(volume * rng.uniform(0.4, 0.6) / 5) * 5
            self._record(minute - 240, URINE, first, _VITALS[URINE], 4.0)
            second = round((volume - first) / 5) * 5
            volume = first + self._record(minute, URINE, max(0, second), _VITALS[URINE], 4.0)
        else:
            rounded = round(volume / 10) * 10
            volume = self._record(minute, URINE, rounded, _VITALS[URINE], float(period))
        self.latest["urine_8h"] = volume * 8.0 / period
        ramp = min(1.25, self.dose_load / 5.0)
        stool = self.s.diarrhoea * 1250 * ramp * rng.uniform(0.85, 1.15)
        if stool >= 100:
            stool = self._record(minute, STOOL, round(stool / 10) * 10, _VITALS[STOOL], 8.0)
            self.stool_periods.append(stool)
        else:
            self.stool_periods.append(0.0)

    def weight(self, minute: int) -> None:
        """Chart the daily weight."""
        self._advance(minute)
        kg = self.weight_kg * (1.0 + self.weight_gain) + self.rng.gauss(0, 0.15)
        item = _Item(self.s.weight_unit, 1)
        kg = self._record(minute, WEIGHT, kg, item)
        self.latest["weight_gain"] = kg / self.weight_kg - 1.0

    def labs(self, minute: int, *, baseline: bool, creatinine_only: bool = False) -> None:
        """Chart the daily labs (or only the creatinine and potassium of the evening draw)."""
        self._advance(minute)
        g = self.rng.gauss
        lab = self.lab
        leak = self.leak_load
        load = self.dose_load
        creat = self.creat0 * (1 + 0.35 * leak + 1.45 * leak * leak) * (1 + g(0, 0.03))
        self.latest["creatinine"] = self._record(minute, CREATININE, creat, lab[CREATININE])
        diarrhoea = self.s.diarrhoea * min(1.25, load / 5.0)
        k = self.k0 - 0.03 * load - 0.5 * diarrhoea + g(0, 0.12)
        self._record(minute, POTASSIUM, max(2.6, k), lab[POTASSIUM])
        if creatinine_only:
            return
        alt, ast, alp, bili = self._liver()
        self._record(minute, ALT, alt, lab[ALT])
        self._record(minute, AST, ast, lab[AST])
        self._record(minute, ALP, alp, lab[ALP])
        self.latest["bilirubin"] = self._record(minute, BILIRUBIN, bili, lab[BILIRUBIN])
        fall = 1.0 - math.exp(-(0.09 + 0.08 * self.s.leak) * load)
        albumin = self.alb0 - (self.alb0 - 2.1) * fall + g(0, 0.06)
        self._record(minute, ALBUMIN, albumin, lab[ALBUMIN])
        drop = 0.5 * (1.0 - math.exp(-load / 5.0)) * (0.7 + 0.4 * min(1.5, self.s.leak))
        plt = self.plt0 * (1.0 - drop) * (1 + g(0, 0.04))
        self.latest["platelets"] = self._record(minute, PLATELETS, plt, lab[PLATELETS])
        self._record(minute, SODIUM, self.na0 - 0.25 * load + g(0, 0.8), lab[SODIUM])
        hco3 = self.hco3_0 - 3.5 * leak - 4 * diarrhoea + g(0, 0.8)
        self._record(minute, BICARBONATE, max(12.0, hco3), lab[BICARBONATE])
        hb = self.hb0 - 1.0 * leak - 0.06 * load + g(0, 0.15)
        self._record(minute, HEMOGLOBIN, hb, lab[HEMOGLOBIN])
        self._record(minute, WBC, max(1.5, self.wbc0 + 2.5 * leak + g(0, 0.5)), lab[WBC])
        if baseline:
            self._record(minute, TSH, self.tsh0, lab[TSH])
        hypotensive = self.phenylephrine > 0 or float(self.latest.get("sbp", 999)) < self.target_sbp
        if hypotensive:
            lactate = 1.1 + 1.2 * leak + g(0, 0.2)
            self._record(minute, LACTATE, max(0.5, lactate), lab[LACTATE])
        if hypotensive or float(self.latest.get("hr", 0)) > 120:
            # Tachycardia or pressor need: troponin to look for myocardial injury.
            if self.s.si_units:
                self._record(minute, TROPONIN_HS, self.rng.uniform(3, 14), lab[TROPONIN_HS])
            else:
                self._record(minute, TROPONIN_I, self.rng.uniform(0.0, 0.025), lab[TROPONIN_I])

    def _liver(self) -> tuple[float, float, float, float]:
        """Return ALT, AST, ALP (U/L) and bilirubin (mg/dL) now."""
        g = self.rng.gauss
        leak = self.leak_load
        alt = self.alt0 * (1 + 0.5 * leak)
        ast = self.ast0 * (1 + 0.6 * leak)
        alp = self.alp0 * (1 + 0.25 * leak)
        bili = self.bili0 * (1 + 1.0 * leak)
        if self.s.liver == "cholestatic":
            # IL-2 intrahepatic cholestasis: ALP and bilirubin lead, transaminases barely move.
            ramp = min(1.15, self.dose_load / 6.0) ** 1.4
            alp += self.alp0 * 3.2 * ramp
            bili += 3.8 * ramp
            alt += 22 * ramp
            ast += 24 * ramp
        elif self.s.liver == "hepatocellular":
            hepatitis = self._hepatitis()
            alt += 250 * hepatitis
            ast += 190 * hepatitis
            alp += 18 * hepatitis
            bili += 0.5 * hepatitis
        noise = 1 + g(0, 0.04)
        return alt * noise, ast * noise, alp * (1 + g(0, 0.03)), bili * (1 + g(0, 0.05))

    # --- doses -------------------------------------------------------------------------------

    def _hold_reasons(self) -> tuple[list[str], int, list[str]]:
        """Return (absolute criteria, count of relative ones, relative criteria) seen now."""
        latest = self.latest
        absolute: list[str] = []
        relative: list[str] = []
        sbp = float(latest.get("sbp", 999))
        rate = float(latest.get("phenylephrine", 0))
        hr = float(latest.get("hr", 0))
        spo2 = float(latest.get("spo2", 100))
        o2 = float(latest.get("o2", 0))
        urine = float(latest.get("urine_8h", 999))
        creat = float(latest.get("creatinine", 0))
        plt = float(latest.get("platelets", 999))
        bili = float(latest.get("bilirubin", 0))
        gain = float(latest.get("weight_gain", 0))
        if sbp < self.target_sbp:
            on = f" on phenylephrine {rate:.1f} µg/kg/min" if rate > 0 else ""
            absolute.append(f"SBP {sbp:.0f} mmHg < target {self.target_sbp}{on}")
        elif rate > 0.8:
            absolute.append(f"phenylephrine {rate:.1f} µg/kg/min")
        elif rate > 0.5:
            relative.append(f"phenylephrine {rate:.1f} µg/kg/min")
        if hr > 130:
            absolute.append(f"HR {hr:.0f}/min")
        elif hr > 100:
            relative.append(f"HR {hr:.0f}/min")
        if spo2 < 90:
            absolute.append(f"SpO2 {spo2:.0f}%")
        if o2 > 4:
            absolute.append(f"O2 {o2:g} L/min")
        elif o2 >= 3:
            relative.append(f"O2 {o2:g} L/min")
        if latest.get("rales") == "half":
            absolute.append("rales half-way up the chest")
        elif latest.get("rales") == "third":
            relative.append("rales a third up the chest")
        if urine < 80:
            absolute.append(f"urine {urine:.0f} mL/8 h")
        elif urine <= 160:
            relative.append(f"urine {urine:.0f} mL/8 h")
        creat_text = self._creatinine_text(creat)
        if creat >= 3.0:
            absolute.append(f"creatinine {creat_text}")
        elif creat >= 2.5:
            relative.append(f"creatinine {creat_text}")
        if plt < 30:
            absolute.append(f"platelets {plt:.0f}")
        elif plt <= 50:
            relative.append(f"platelets {plt:.0f}")
        if bili > 7:
            relative.append("bilirubin > 7 mg/dL")
        if gain > 0.15:
            relative.append(f"weight +{gain * 100:.0f}%")
        last_two = self.stool_periods[-2:]
        if len(last_two) == 2 and min(last_two) >= 1000:
            absolute.append(f"stool {last_two[0]:.0f} and {last_two[1]:.0f} mL/8 h")
        elif last_two and last_two[-1] >= 1000:
            relative.append(f"stool {last_two[-1]:.0f} mL/8 h")
        return absolute, len(relative), relative

    def _creatinine_text(self, mg_dl: float) -> str:
        if self.s.si_units:
            return f"{mg_dl * units.CREATININE_UMOL_PER_MG_DL:.0f} µmol/L"
        return f"{mg_dl:.2f} mg/dL"

    def dose(self, minute: int, cycle: int, number: int) -> None:
        """Give the dose, or hold it when the simulator's bedside check finds a criterion."""
        self._advance(minute)
        absolute, n_relative, relative = self._hold_reasons()
        reason: str | None = None
        if absolute:
            reason = "; ".join(absolute)
        elif n_relative >= 3:
            reason = f"{n_relative} relative criteria: " + ", ".join(relative)
        status = "held" if reason else "given"
        self.doses.append(Dose(cycle, number, self._time(minute), status, reason))
        if reason:
            return
        rng = self.rng
        # The leak builds up over the first few doses rather than starting at full strength.
        build_up = 0.5 + 0.5 * min(1.0, self.given_this_cycle / 6.0)
        self.leak_load += self.s.leak * 0.24 * build_up * rng.uniform(0.85, 1.15)
        self.dose_load += 1.0
        self.weight_gain += self.s.leak * 0.0095 * rng.uniform(0.8, 1.2)
        self.last_given_h = self.t
        self.given_this_cycle += 1
        peak = rng.uniform(38.5, 39.5)
        antipyretic = rng.uniform(0.0, 0.6)
        self.fever_amplitude = max(0.5, peak - antipyretic - self.temp0)
        if self.given_this_cycle == 2 and self.s.oxygen > 0:
            self.pneumonitis_onset_h = self.pneumonitis_onset_h or self.t
        if self.given_this_cycle == 3 and self.s.liver == "hepatocellular":
            self.hepatitis_onset_h = self.hepatitis_onset_h or self.t

    def start_cycle(self) -> None:
        self.given_this_cycle = 0
        self.stool_periods.clear()
        self.latest.clear()


def _schedule(scenario: Scenario, rng: random.Random) -> list[tuple[int, int, int, int]]:
    """Return the chart events as (minute after admission, kind, cycle, dose number), in order.

    Times carry a few minutes of jitter, as real charting does; a dose is given 0-10 min after
    its scheduled time and its pre-dose check is 25-35 min before.
    """
    events: list[tuple[int, int, int, int]] = []
    for cycle in range(1, scenario.cycles + 1):
        admitted = (cycle - 1) * CYCLE_2_AFTER_MIN
        first_dose = admitted + FIRST_DOSE_AFTER_ADMISSION_MIN
        last_cycle = cycle == scenario.cycles
        slots = scenario.doses_per_cycle
        if last_cycle and scenario.doses_so_far is not None:
            slots = scenario.doses_so_far
        events.append((admitted + 10, _BASELINE, cycle, 0))
        events.append((admitted + 20, _LABS, cycle, 1))
        for k in range(slots):
            scheduled = first_dose + k * DOSE_INTERVAL_MIN
            events.append((scheduled - 30 + rng.randint(-5, 5), _PRE_DOSE, cycle, k + 1))
            events.append((scheduled + rng.randint(0, 10), _DOSE, cycle, k + 1))
            events.append((scheduled + 120 + rng.randint(-5, 10), _VITALS_CHECK, cycle, 0))
            events.append((scheduled + 360 + rng.randint(-5, 10), _VITALS_CHECK, cycle, 0))
        if last_cycle and scenario.doses_so_far is not None and slots < scenario.doses_per_cycle:
            # Stop at the next dose's pre-dose check: the chart a nurse has as the dose falls due.
            end = first_dose + slots * DOSE_INTERVAL_MIN - 30
            events.append((end, _PRE_DOSE, cycle, slots + 1))
        else:
            for k in range(slots, slots + POST_CYCLE_WATCH_SLOTS):
                scheduled = first_dose + k * DOSE_INTERVAL_MIN
                # The day after the last dose: the same checks, no dose.
                events.append((scheduled - 30 + rng.randint(-5, 5), _PRE_DOSE, cycle, 0))
                events.append((scheduled + 120 + rng.randint(-5, 10), _VITALS_CHECK, cycle, 0))
                events.append((scheduled + 360 + rng.randint(-5, 10), _VITALS_CHECK, cycle, 0))
            end = first_dose + (slots + POST_CYCLE_WATCH_SLOTS - 1) * DOSE_INTERVAL_MIN + 360
        last_dose = first_dose + (slots - 1) * DOSE_INTERVAL_MIN
        day = 0
        while (draw := admitted + 20 + day * 1440) <= end:
            if day:
                events.append((draw, _LABS, cycle, 0))
            # Creatinine twice daily while dosing [TIL-T2].
            evening = draw + 720
            if first_dose <= evening <= last_dose and evening <= end:
                events.append((evening, _CREATININE_ONLY, cycle, 0))
            day += 1
    events.sort(key=lambda e: (e[0], e[1]))
    return events


# ---------------------------------------------------------------------------------------------
# Public API


def simulate_course(
    scenario: Scenario | str,
    *,
    seed: int,
    start: datetime,
    patient_id: str,
    name: str | None = None,
    ward: str | None = "7B",
    bed: str | None = None,
    until: datetime | None = None,
) -> Course:
    """Simulate one HD IL-2 course admitted at `start`; the same seed gives the same course.

    `scenario` is a `Scenario` or the name of one in `SCENARIOS` (KeyError otherwise). `start`
    must be timezone-aware (ValueError otherwise); it is taken to the minute. `until` cuts the
    chart: nothing after it is included, as if it were now (the physiology before it does not
    depend on where the cut falls).
    """
    if isinstance(scenario, str):
        scenario = SCENARIOS[scenario]
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    admitted = start.astimezone(UTC).replace(second=0, microsecond=0)
    rng = random.Random(seed)
    sim = _Simulation(scenario, rng, admitted)
    events = _schedule(scenario, rng)
    until_minute = None
    if until is not None:
        until_minute = math.floor((until - admitted).total_seconds() / 60)

    for minute, kind, cycle, number in events:
        if until_minute is not None and minute > until_minute:
            break
        if kind == _BASELINE:
            if cycle > 1:
                sim.start_cycle()
            sim.last_urine_h = (minute - 10) / 60.0
            sim.vitals(minute)
            sim.weight(minute)
            sim.nursing(minute)
        elif kind == _LABS:
            if number != 1:  # the morning weight; the baseline one is charted on arrival
                sim.weight(minute - 10)
            sim.labs(minute, baseline=number == 1)
        elif kind == _CREATININE_ONLY:
            sim.labs(minute, baseline=False, creatinine_only=True)
        elif kind == _PRE_DOSE:
            sim.vitals(minute)
            sim.outputs(minute)
            sim.nursing(minute)
        elif kind == _VITALS_CHECK:
            sim.vitals(minute)
        elif kind == _DOSE:
            sim.dose(minute, cycle, number)

    observations = sorted(sim.observations, key=lambda o: o.time)
    birth = _birth_date(rng, admitted.date(), sim.age)
    history = scenario.history
    return Course(
        patient=Patient(
            id=patient_id,
            weight_kg=sim.weight_kg,
            name=name,
            sex=sim.sex,
            birth_date=birth,
            height_cm=float(sim.height_cm),
        ),
        admission=Admission(
            admitted_at=admitted,
            ward=ward,
            bed=bed,
            usual_sbp_mmhg=sim.usual_sbp,
        ),
        history=history,
        prior_toxicities=tuple(_prior(t, admitted.date()) for t in scenario.prior_toxicities),
        doses=tuple(sim.doses),
        observations=tuple(observations),
    )


def _birth_date(rng: random.Random, today: date, age: int) -> date:
    return today - timedelta(days=age * 365 + rng.randint(0, 364) + age // 4)


def _prior(t: PriorIrae, admitted: date) -> PriorToxicity:
    resolved = t.resolved_days_before
    return PriorToxicity(
        agent=t.agent,
        irae=t.irae,
        grade=t.grade,
        onset=admitted - timedelta(days=t.onset_days_before),
        resolved=None if resolved is None else admitted - timedelta(days=resolved),
        steroids=t.steroids,
        note=t.note,
    )


# ---------------------------------------------------------------------------------------------
# The demo ward


def next_dose_minute(scenario: Scenario) -> int:
    """Return when the next dose falls due, in minutes after the first admission.

    Meaningful when `doses_so_far` is set: the slot after the last simulated one, in the last
    cycle. With `doses_so_far` None it is the slot after the last of the course.
    """
    done = scenario.doses_per_cycle if scenario.doses_so_far is None else scenario.doses_so_far
    first_dose = (scenario.cycles - 1) * CYCLE_2_AFTER_MIN + FIRST_DOSE_AFTER_ADMISSION_MIN
    return first_dose + done * DOSE_INTERVAL_MIN


DEMO_WARD = "7B"


@dataclass(frozen=True)
class _DemoPatient:
    """One bed of the demo ward: who, which scenario and seed, and when the next dose is due."""

    patient_id: str
    name: str
    bed: str
    scenario: Scenario
    seed: int
    due_in_min: int  # when the next dose falls due after `now`

    def course(self, now: datetime) -> Course:
        start = now + timedelta(minutes=self.due_in_min - next_dose_minute(self.scenario))
        return simulate_course(
            self.scenario,
            seed=self.seed,
            start=start,
            patient_id=self.patient_id,
            name=self.name,
            ward=DEMO_WARD,
            bed=self.bed,
            until=now,
        )


def _history(*therapies: str, ecog: int = 0, brain: str = "none") -> History:
    return History(
        brain_metastases=brain, systemic_steroids=False, ecog=ecog, prior_therapies=therapies
    )


_DEMO: tuple[_DemoPatient, ...] = (
    _DemoPatient(
        "DEMO-001",
        "Demo, Ada",
        "1",
        replace(
            SCENARIOS["uneventful"],
            sex="female",
            doses_so_far=0,
            history=_history("pembrolizumab"),
            prior_toxicities=(
                PriorIrae("pembrolizumab", "dermatitis", 1, 300, 270, False, "maculopapular rash"),
            ),
        ),
        seed=101,
        due_in_min=150,
    ),
    _DemoPatient(
        "DEMO-002",
        "Demo, Ben",
        "2",
        replace(
            SCENARIOS["uneventful"],
            sex="male",
            doses_so_far=7,
            history=_history("nivolumab", "ipilimumab+nivolumab"),
        ),
        seed=202,
        due_in_min=20,
    ),
    _DemoPatient(
        "DEMO-003",
        "Demo, Cora",
        "3",
        replace(
            SCENARIOS["capillary_leak"],
            sex="female",
            usual_sbp_mmhg=104,
            doses_so_far=9,
            history=_history("pembrolizumab", "ipilimumab+nivolumab"),
        ),
        seed=58,
        due_in_min=15,
    ),
    _DemoPatient(
        "DEMO-004",
        "Demo, Dev",
        "4",
        replace(
            SCENARIOS["cholestatic"],
            sex="male",
            doses_so_far=10,
            history=_history("nivolumab"),
        ),
        seed=404,
        due_in_min=70,
    ),
    _DemoPatient(
        "DEMO-005",
        "Demo, Elin",
        "5",
        replace(
            SCENARIOS["hepatocellular"],
            sex="female",
            doses_so_far=9,
            history=_history("ipilimumab+nivolumab"),
            prior_toxicities=(
                PriorIrae(
                    "ipilimumab+nivolumab",
                    "hepatitis",
                    3,
                    240,
                    170,
                    True,
                    "ALT peak 12x ULN; prednisone 1 mg/kg, tapered over 6 weeks",
                ),
            ),
        ),
        seed=505,
        due_in_min=25,
    ),
    _DemoPatient(
        "DEMO-006",
        "Demo, Finn",
        "6",
        replace(
            SCENARIOS["colitis"],
            sex="male",
            doses_so_far=8,
            history=_history("ipilimumab+nivolumab", "nivolumab"),
            prior_toxicities=(
                PriorIrae(
                    "ipilimumab+nivolumab",
                    "colitis",
                    3,
                    330,
                    280,
                    True,
                    "8-10 stools a day; methylprednisolone, then one dose of infliximab",
                ),
            ),
        ),
        seed=606,
        due_in_min=30,
    ),
    _DemoPatient(
        "DEMO-007",
        "Demo, Gita",
        "7",
        replace(
            SCENARIOS["pneumonitis"],
            sex="female",
            doses_so_far=7,
            history=_history("pembrolizumab"),
            prior_toxicities=(
                PriorIrae(
                    "pembrolizumab",
                    "pneumonitis",
                    2,
                    200,
                    150,
                    True,
                    "ground-glass change on CT, exertional dyspnoea; prednisone 1 mg/kg",
                ),
            ),
        ),
        seed=2,
        due_in_min=20,
    ),
    _DemoPatient(
        "DEMO-008",
        "Demo, Hugo",
        "8",
        replace(
            SCENARIOS["two_cycles"],
            sex="male",
            doses_so_far=4,
            history=_history("pembrolizumab", "ipilimumab"),
            prior_toxicities=(
                PriorIrae("ipilimumab", "arthritis", 1, 260, 200, False, "knee and wrist pain"),
            ),
        ),
        seed=808,
        due_in_min=90,
    ),
    _DemoPatient(
        "DEMO-009",
        "Demo, Ines",
        "9",
        replace(
            SCENARIOS["si_units"],
            sex="female",
            doses_so_far=5,
            history=_history("nivolumab+relatlimab", ecog=1),
            prior_toxicities=(
                PriorIrae(
                    "nivolumab+relatlimab",
                    "thyroiditis",
                    2,
                    180,
                    120,
                    False,
                    "thyrotoxic phase, then hypothyroid; on levothyroxine",
                ),
            ),
        ),
        seed=909,
        due_in_min=40,
    ),
    _DemoPatient(
        "DEMO-010",
        "Demo, Jack",
        "10",
        replace(
            SCENARIOS["uneventful"],
            sex="male",
            doses_so_far=3,
            weight_unit="[lb_av]",
            temperature_unit="[degF]",
            history=_history("pembrolizumab", ecog=1, brain="treated_stable"),
        ),
        seed=1010,
        due_in_min=50,
    ),
)


def demo_ward(now: datetime) -> list[Course]:
    """Return the synthetic demo ward, placed so that `now` falls inside each course.

    Each patient's latest chart entry is within about 2 h before `now` and the next dose is
    due soon after it; the physiology comes from fixed seeds, so it does not depend on `now`
    (only the clock times do). `now` must be timezone-aware (ValueError otherwise).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC).replace(second=0, microsecond=0)
    return [patient.course(now) for patient in _DEMO]
