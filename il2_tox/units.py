"""Observation codes, their units, conversions to canonical units and physiologic hard limits.

Every code of the course format (`il2-tox-course/1`) is described once here. A value is converted
to its code's canonical unit (the first unit listed in the spec) exactly once, when it is read;
the unit as entered is kept beside it so that nothing the user typed is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Conversion factors from the course format spec (and REFERENCE.md §9).
CREATININE_UMOL_PER_MG_DL = 88.4
BILIRUBIN_UMOL_PER_MG_DL = 17.1
LB_TO_KG = 0.45359237


def identity(value: float) -> float:
    """Return the value unchanged: the conversion of a canonical unit to itself."""
    return value


def _divide_by(factor: float) -> Callable[[float], float]:
    def convert(value: float) -> float:
        return value / factor

    return convert


def _multiply_by(factor: float) -> Callable[[float], float]:
    def convert(value: float) -> float:
        return value * factor

    return convert


def fahrenheit_to_celsius(value: float) -> float:
    """Return °F converted to °C."""
    return (value - 32.0) * 5.0 / 9.0


def celsius_to_fahrenheit(value: float) -> float:
    """Return °C converted to °F."""
    return value * 9.0 / 5.0 + 32.0


@dataclass(frozen=True)
class Unit:
    """A unit a code accepts, with the functions to and from the code's canonical unit."""

    ucum: str
    to_canonical: Callable[[float], float] = identity
    from_canonical: Callable[[float], float] = identity
    label: str = ""

    @property
    def display(self) -> str:
        return self.label or self.ucum


@dataclass(frozen=True)
class CodeSpec:
    """What one observation code means, which units or values it accepts, and its hard limits."""

    code: str
    name: str
    short: str
    kind: str  # "quantity" | "coded"
    units: tuple[Unit, ...] = ()
    values: tuple[str, ...] = ()
    low: float | None = None  # physiologic hard limits, canonical unit, inclusive
    high: float | None = None
    volume: bool = False  # needs period_h
    concept: str = ""  # canonical code when this code is an alias (2708-6 -> 59408-5)

    @property
    def canonical_unit(self) -> str | None:
        return self.units[0].ucum if self.units else None

    def unit(self, ucum: str) -> Unit | None:
        for unit in self.units:
            if unit.ucum == ucum:
                return unit
        return None


MMHG = Unit("mm[Hg]", label="mmHg")
PER_MIN = Unit("/min")
PERCENT = Unit("%")
U_PER_L = Unit("U/L")
ML = Unit("mL")
MMOL_L = Unit("mmol/L")
MEQ_L = Unit("meq/L", label="mEq/L")
K_PER_UL = Unit("10*3/uL", label="×10³/µL")
G_PER_L_COUNT = Unit("10*9/L", label="×10⁹/L")


def _q(
    code: str,
    name: str,
    short: str,
    units: tuple[Unit, ...],
    low: float,
    high: float,
    *,
    volume: bool = False,
    concept: str = "",
) -> CodeSpec:
    return CodeSpec(code, name, short, "quantity", units, (), low, high, volume, concept)


def _c(code: str, name: str, short: str, values: tuple[str, ...]) -> CodeSpec:
    return CodeSpec(code, name, short, "coded", (), values)


# Hard limits are what a living adult on a ward can show; anything outside is a typing or
# unit error and is refused (not a clinical threshold: those live in data/rules.toml).
_SPECS: tuple[CodeSpec, ...] = (
    _q("8867-4", "heart rate", "HR", (PER_MIN,), 0, 300),
    _q("8480-6", "systolic blood pressure", "SBP", (MMHG,), 0, 300),
    _q("8462-4", "diastolic blood pressure", "DBP", (MMHG,), 0, 250),
    _q("8478-0", "mean arterial pressure", "MAP", (MMHG,), 0, 280),
    _q("9279-1", "respiratory rate", "RR", (PER_MIN,), 0, 80),
    _q("59408-5", "SpO2", "SpO2", (PERCENT,), 0, 100),
    _q("2708-6", "SpO2", "SpO2", (PERCENT,), 0, 100, concept="59408-5"),
    _q("3151-8", "inhaled oxygen flow rate", "O2 flow", (Unit("L/min"),), 0, 60),
    _q("3150-0", "inhaled oxygen concentration", "FiO2", (PERCENT,), 21, 100),
    _q(
        "8310-5",
        "body temperature",
        "Temp",
        (
            Unit("Cel", label="°C"),
            Unit("[degF]", fahrenheit_to_celsius, celsius_to_fahrenheit, label="°F"),
        ),
        25,
        45,
    ),
    _q(
        "29463-7",
        "body weight",
        "Weight",
        (Unit("kg"), Unit("[lb_av]", _multiply_by(LB_TO_KG), _divide_by(LB_TO_KG), label="lb")),
        1,
        500,
    ),
    _q("9187-6", "urine output", "Urine", (ML,), 0, 20000, volume=True),
    _q("1742-6", "ALT", "ALT", (U_PER_L,), 0, 50000),
    _q("1920-8", "AST", "AST", (U_PER_L,), 0, 50000),
    _q("6768-6", "alkaline phosphatase", "ALP", (U_PER_L,), 0, 20000),
    _q(
        "1975-2",
        "total bilirubin",
        "Bilirubin",
        (
            Unit("mg/dL"),
            Unit(
                "umol/L",
                _divide_by(BILIRUBIN_UMOL_PER_MG_DL),
                _multiply_by(BILIRUBIN_UMOL_PER_MG_DL),
                label="µmol/L",
            ),
        ),
        0,
        80,
    ),
    _q(
        "2160-0",
        "creatinine",
        "Creatinine",
        (
            Unit("mg/dL"),
            Unit(
                "umol/L",
                _divide_by(CREATININE_UMOL_PER_MG_DL),
                _multiply_by(CREATININE_UMOL_PER_MG_DL),
                label="µmol/L",
            ),
        ),
        0,
        40,
    ),
    _q(
        "1751-7",
        "albumin",
        "Albumin",
        (Unit("g/dL"), Unit("g/L", _divide_by(10.0), _multiply_by(10.0))),
        0,
        10,
    ),
    _q("777-3", "platelets", "Platelets", (K_PER_UL, G_PER_L_COUNT), 0, 5000),
    _q("1963-8", "bicarbonate", "HCO3", (MMOL_L, MEQ_L), 0, 80),
    _q("2951-2", "sodium", "Sodium", (MMOL_L, MEQ_L), 70, 220),
    _q("2823-3", "potassium", "Potassium", (MMOL_L, MEQ_L), 0.5, 15),
    _q("2524-7", "lactate", "Lactate", (MMOL_L,), 0, 50),
    _q("10839-9", "troponin I", "Troponin I", (Unit("ng/mL"),), 0, 2000),
    _q("89579-7", "troponin I, high sensitivity", "hs-TnI", (Unit("ng/L"),), 0, 2_000_000),
    _q("3016-3", "TSH", "TSH", (Unit("m[IU]/L", label="mIU/L"),), 0, 1000),
    _q(
        "718-7",
        "hemoglobin",
        "Hb",
        (Unit("g/dL"), Unit("g/L", _divide_by(10.0), _multiply_by(10.0))),
        0,
        30,
    ),
    _q("6690-2", "leukocytes", "WBC", (K_PER_UL, G_PER_L_COUNT), 0, 1000),
    _c("il2tox:acvpu", "consciousness (ACVPU)", "ACVPU", ("A", "C", "V", "P", "U")),
    _q(
        "il2tox:phenylephrine",
        "phenylephrine infusion rate",
        "Phenylephrine",
        (Unit("ug/kg/min", label="µg/kg/min"),),
        0,
        20,
    ),
    _q("il2tox:stool-volume", "diarrhea volume", "Stool", (ML,), 0, 20000, volume=True),
    _c("il2tox:rales", "crackles extent", "Rales", ("none", "bases", "third", "half")),
    _c("il2tox:cognition", "serial 7s / WORLD backwards", "Cognition", ("pass", "fail")),
    _c(
        "il2tox:skin",
        "skin",
        "Skin",
        ("normal", "erythema", "moist_desquamation", "bullous"),
    ),
    _c(
        "il2tox:rhythm",
        "cardiac rhythm",
        "Rhythm",
        ("sinus", "af", "svt", "vt", "ischemic_changes"),
    ),
    _c("il2tox:concern", "nurse concern", "Concern", ("none", "some", "high")),
)

CODES: dict[str, CodeSpec] = {spec.code: spec for spec in _SPECS}


# Observation codes by meaning (course format, il2-tox-course/1); aliases such as SpO2 2708-6
# are folded into their concept by `concept_of`.
HR = "8867-4"
SBP = "8480-6"
DBP = "8462-4"
MAP = "8478-0"
RR = "9279-1"
SPO2 = "59408-5"
O2_FLOW = "3151-8"
FIO2 = "3150-0"
TEMP = "8310-5"
WEIGHT = "29463-7"
URINE = "9187-6"
ALT = "1742-6"
AST = "1920-8"
ALP = "6768-6"
BILIRUBIN = "1975-2"
CREATININE = "2160-0"
ALBUMIN = "1751-7"
PLATELETS = "777-3"
BICARBONATE = "1963-8"
SODIUM = "2951-2"
POTASSIUM = "2823-3"
LACTATE = "2524-7"
TROPONIN = "10839-9"
TROPONIN_HS = "89579-7"
TSH = "3016-3"
HEMOGLOBIN = "718-7"
WBC = "6690-2"
ACVPU = "il2tox:acvpu"
PHENYLEPHRINE = "il2tox:phenylephrine"
STOOL = "il2tox:stool-volume"
RALES = "il2tox:rales"
COGNITION = "il2tox:cognition"
SKIN = "il2tox:skin"
RHYTHM = "il2tox:rhythm"
CONCERN = "il2tox:concern"

# Longest collection period a volume may cover (hours); over a day is a typing error.
MAX_PERIOD_H = 24.0


def spec_for(code: str) -> CodeSpec | None:
    """Return the description of an observation code, or None when the format does not know it."""
    return CODES.get(code)


def concept_of(code: str) -> str:
    """Return the canonical code for a code (SpO2 2708-6 becomes 59408-5; others unchanged)."""
    spec = CODES.get(code)
    return spec.concept if spec is not None and spec.concept else code


def to_canonical(code: str, value: float, unit: str) -> float:
    """Return a value in its code's canonical unit; raise KeyError for an unknown code or unit."""
    spec = CODES[code]
    found = spec.unit(unit)
    if found is None:
        raise KeyError(unit)
    return found.to_canonical(value)


def from_canonical(code: str, value: float, unit: str) -> float:
    """Return a canonical value expressed in another accepted unit of the same code."""
    spec = CODES[code]
    found = spec.unit(unit)
    if found is None:
        raise KeyError(unit)
    return found.from_canonical(value)


def display_unit(ucum: str | None) -> str:
    """Return a unit as a nurse reads it (mm[Hg] -> mmHg, Cel -> °C)."""
    if ucum is None:
        return ""
    for spec in _SPECS:
        found = spec.unit(ucum)
        if found is not None:
            return found.display
    return ucum


# Plausible ranges: values a living adult on an IL-2 ward can show but rarely does, so a value
# outside is more often a slip (a digit doubled, °F typed as °C, the wrong patient) than the
# truth. The bedside form asks the nurse to confirm such a value, never refuses it (the hard
# limits above refuse). Canonical unit, inclusive; None = no bound on that side.
# These are not clinical thresholds (those live in data/rules.toml with their sources).
PLAUSIBLE: dict[str, tuple[float | None, float | None]] = {
    "8867-4": (40, 180),  # heart rate /min
    "8480-6": (60, 220),  # systolic BP mmHg
    "8462-4": (30, 130),  # diastolic BP mmHg
    "9279-1": (8, 40),  # respiratory rate /min
    "59408-5": (80, None),  # SpO2 %: below 80 on a ward is usually a probe off a finger
    "3151-8": (None, 15),  # O2 flow L/min: above 15 is high-flow, not a ward mask
    "8310-5": (34, 41),  # temperature °C (35.6–41 °C is IL-2 fever territory)
    "il2tox:phenylephrine": (None, 5),  # µg/kg/min: above 5 is beyond ward pressor doses
    "9187-6": (None, 3000),  # urine mL in one collection period
    "il2tox:stool-volume": (None, 3000),  # stool mL in one collection period
}
# A weight this far (fraction) above or below the pre-treatment weight is asked about: IL-2
# capillary leak adds 10-15 %, rarely more; a 25 % change is more likely kg typed as lb.
PLAUSIBLE_WEIGHT_CHANGE = 0.25


def implausible(code: str, canonical: float, baseline_weight_kg: float | None = None) -> str | None:
    """Return why a canonical value is unusual enough to confirm, or None when it is not.

    Weight (29463-7) is judged against the pre-treatment weight when one is given; codes
    without a plausible range are never unusual.
    """
    spec = CODES.get(code)
    if spec is None or spec.kind != "quantity":
        return None
    shown = spec.units[0].display
    if spec.code == "29463-7":
        if baseline_weight_kg is None or baseline_weight_kg <= 0:
            return None
        change = canonical / baseline_weight_kg - 1
        if abs(change) > PLAUSIBLE_WEIGHT_CHANGE:
            return (
                f"{change:+.0%} from the pre-treatment weight {baseline_weight_kg:g} kg "
                f"(usual within ±{PLAUSIBLE_WEIGHT_CHANGE:.0%})"
            )
        return None
    low, high = PLAUSIBLE.get(concept_of(code), (None, None))
    if low is not None and canonical < low:
        return f"below {low:g} {shown}, which is unusual"
    if high is not None and canonical > high:
        return f"above {high:g} {shown}, which is unusual"
    return None
