"""What the bedside entry forms are made of, without drawing them: their fields (label, code,
unit), the set they make, where each refusal belongs, and what is unusual enough to confirm.

Pure: no Streamlit here, so the pages stay UI only and this is unit-tested without a browser.
A field's label names the measurement and its unit ("Heart rate (/min)"): people and browser
checks find fields by it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo

from il2_tox import units
from il2_tox.rules.base import DoseAdvice
from il2_tox.services.bedside import Entry

# Where a refusal that belongs to no single field is shown (top of the form, by Save).
GENERAL = "_general"
TIME = "time"  # the observation (or sample) time: date and time inputs
NOT_ASSESSED = "not assessed"


@dataclass(frozen=True)
class NumberField:
    """A measured value: typed as a number in `unit` (UCUM); blank means not measured."""

    key: str
    code: str
    label: str
    unit: str
    step: float = 1.0
    # Shown as typed: 8 stays "8", 37.25 stays "37.25" (a fixed "%.1f" would show "8.0" and
    # round what was typed on screen).
    fmt: str = "%g"
    period_key: str | None = None  # the field holding its collection period (volumes)


@dataclass(frozen=True)
class PeriodField:
    """The hours a volume was collected over (`period_h`)."""

    key: str
    label: str
    volume_key: str


@dataclass(frozen=True)
class ChoiceField:
    """A coded assessment (ACVPU, crackles, ...): one of `options`, or not assessed."""

    key: str
    code: str
    label: str
    options: tuple[tuple[str, str], ...]  # (stored value, what the nurse reads)

    def shown(self, value: str) -> str:
        return dict(self.options).get(value, value)


Field = NumberField | PeriodField | ChoiceField

# The pre-dose form's rows: each volume beside its period, the vitals a monitor shows together.
VITAL_ROWS: tuple[tuple[str, ...], ...] = (
    ("hr", "sbp", "dbp", "rr"),
    ("spo2", "o2_flow", "fio2", "temperature"),
    ("urine", "urine_period", "stool", "stool_period"),
    ("weight", "phenylephrine"),
)

TEMPERATURE_UNITS = ("Cel", "[degF]")
WEIGHT_UNITS = ("kg", "[lb_av]")
LAB_SYSTEMS = ("conventional", "SI")


def unit_shown(ucum: str) -> str:
    return units.display_unit(ucum)


def vital_fields(temperature_unit: str = "Cel", weight_unit: str = "kg") -> tuple[Field, ...]:
    """Return the pre-dose set's fields in form order, temperature and weight in the units
    chosen (°C or °F; kg or lb)."""
    if temperature_unit not in TEMPERATURE_UNITS:
        raise ValueError(f"temperature unit {temperature_unit!r}")
    if weight_unit not in WEIGHT_UNITS:
        raise ValueError(f"weight unit {weight_unit!r}")
    return (
        NumberField("hr", "8867-4", "Heart rate (/min)", "/min"),
        NumberField("sbp", "8480-6", "Systolic BP (mmHg)", "mm[Hg]"),
        NumberField("dbp", "8462-4", "Diastolic BP (mmHg)", "mm[Hg]"),
        NumberField("rr", "9279-1", "Respiratory rate (/min)", "/min"),
        NumberField("spo2", "59408-5", "SpO2 (%)", "%"),
        NumberField("o2_flow", "3151-8", "O2 flow (L/min)", "L/min", 0.5, "%g"),
        NumberField("fio2", "3150-0", "FiO2 (%)", "%"),
        NumberField(
            "temperature",
            "8310-5",
            f"Temperature ({unit_shown(temperature_unit)})",
            temperature_unit,
            0.1,
            "%g",
        ),
        NumberField(
            "weight", "29463-7", f"Weight ({unit_shown(weight_unit)})", weight_unit, 0.1, "%g"
        ),
        NumberField("urine", "9187-6", "Urine volume (mL)", "mL", period_key="urine_period"),
        PeriodField("urine_period", "Urine period (h)", "urine"),
        NumberField(
            "stool", "il2tox:stool-volume", "Stool volume (mL)", "mL", period_key="stool_period"
        ),
        PeriodField("stool_period", "Stool period (h)", "stool"),
        NumberField(
            "phenylephrine",
            "il2tox:phenylephrine",
            "Phenylephrine (µg/kg/min)",
            "ug/kg/min",
            0.05,
            "%g",
        ),
    )


ASSESSMENT_FIELDS: tuple[ChoiceField, ...] = (
    ChoiceField(
        "acvpu",
        "il2tox:acvpu",
        "Consciousness (ACVPU)",
        (
            ("A", "A alert"),
            ("C", "C new confusion"),
            ("V", "V voice"),
            ("P", "P pain"),
            ("U", "U unresponsive"),
        ),
    ),
    ChoiceField(
        "rales",
        "il2tox:rales",
        "Crackles",
        (("none", "none"), ("bases", "bases"), ("third", "lower third"), ("half", "half or more")),
    ),
    ChoiceField(
        "skin",
        "il2tox:skin",
        "Skin",
        (
            ("normal", "normal"),
            ("erythema", "erythema"),
            ("moist_desquamation", "moist desquamation"),
            ("bullous", "bullous"),
        ),
    ),
    ChoiceField(
        "rhythm",
        "il2tox:rhythm",
        "Rhythm",
        (
            ("sinus", "sinus"),
            ("af", "AF"),
            ("svt", "SVT"),
            ("vt", "VT"),
            ("ischemic_changes", "ischaemic changes"),
        ),
    ),
    ChoiceField(
        "cognition",
        "il2tox:cognition",
        "Cognition check (serial 7s / WORLD backwards)",
        (("pass", "pass"), ("fail", "fail")),
    ),
    ChoiceField(
        "concern",
        "il2tox:concern",
        "Nurse concern",
        (("none", "none"), ("some", "some"), ("high", "high")),
    ),
)


def lab_fields(system: str = "conventional") -> tuple[NumberField, ...]:
    """Return the lab fields, in conventional (mg/dL, g/dL, ×10³/µL) or SI units."""
    if system not in LAB_SYSTEMS:
        raise ValueError(f"lab units {system!r}")
    si = system == "SI"

    def lab(key: str, code: str, name: str, unit: str, step: float, fmt: str) -> NumberField:
        return NumberField(key, code, f"{name} ({unit_shown(unit)})", unit, step, fmt)

    return (
        lab("alt", "1742-6", "ALT", "U/L", 1, "%g"),
        lab("ast", "1920-8", "AST", "U/L", 1, "%g"),
        lab("alp", "6768-6", "ALP", "U/L", 1, "%g"),
        lab("bilirubin", "1975-2", "Bilirubin", "umol/L" if si else "mg/dL", *_dp(si, 0, 1)),
        lab("creatinine", "2160-0", "Creatinine", "umol/L" if si else "mg/dL", *_dp(si, 0, 2)),
        lab("albumin", "1751-7", "Albumin", "g/L" if si else "g/dL", *_dp(si, 0, 1)),
        lab("platelets", "777-3", "Platelets", "10*9/L" if si else "10*3/uL", 1, "%g"),
        lab("sodium", "2951-2", "Sodium", "mmol/L", 1, "%g"),
        lab("potassium", "2823-3", "Potassium", "mmol/L", 0.1, "%g"),
        lab("troponin", "10839-9", "Troponin I", "ng/mL", 0.01, "%g"),
        lab("troponin_hs", "89579-7", "hs-Troponin I", "ng/L", 1, "%g"),
        lab("tsh", "3016-3", "TSH", "m[IU]/L", 0.01, "%g"),
        lab("hb", "718-7", "Hb", "g/L" if si else "g/dL", *_dp(si, 0, 1)),
        lab("wbc", "6690-2", "WBC", "10*9/L" if si else "10*3/uL", 0.1, "%g"),
    )


def _dp(si: bool, si_places: int, conventional_places: int) -> tuple[float, str]:
    places = si_places if si else conventional_places
    return (1.0, "%g") if places == 0 else (10.0**-places, "%g")


# ---------------------------------------------------------------------------------------------
# From what was typed to a set, and back


def observed_at(day: date | None, clock: time | None, tz: tzinfo) -> datetime | None:
    """Return the date and time typed on the ward clock as an aware UTC time (None if either is
    blank)."""
    if day is None or clock is None:
        return None
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and (not value.strip() or value == NOT_ASSESSED)


def entries(values: Mapping[str, object], fields: Sequence[Field]) -> list[Entry]:
    """Return the set's entries from the typed values (by field key); blanks are left out."""
    out: list[Entry] = []
    for f in fields:
        value = values.get(f.key)
        if isinstance(f, PeriodField) or _blank(value):
            continue
        if isinstance(f, ChoiceField):
            out.append(Entry(f.code, value))
            continue
        period = values.get(f.period_key) if f.period_key else None
        out.append(Entry(f.code, _whole(value), f.unit, None if _blank(period) else _float(period)))
    return out


def _whole(value: object) -> object:
    """Return 92.0 from a number box as 92: stored as the nurse typed it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def local_errors(values: Mapping[str, object], fields: Sequence[Field]) -> dict[str, str]:
    """Return faults the service cannot see: a period typed without its volume (it would be
    dropped silently)."""
    errors: dict[str, str] = {}
    for f in fields:
        typed = isinstance(f, PeriodField) and not _blank(values.get(f.key))
        if isinstance(f, PeriodField) and typed and _blank(values.get(f.volume_key)):
            errors[f.key] = "a period without a volume: enter the volume or clear the period"
    return errors


def field_message(label: str, message: str) -> str:
    """Return a refusal as read under its field: a message that starts with its verb ("is
    required ...") gets the field's name in front ("Urine period is required ...")."""
    if message.split(" ", 1)[0] in ("is", "must", "contains", "was", "a"):
        return (
            f"{label.rsplit(' (', 1)[0]} {message}"
            if not message.startswith("a ")
            else (f"{label.rsplit(' (', 1)[0]}: {message}")
        )
    return message


def summary(errors: Mapping[str, str], fields: Sequence[Field]) -> list[str]:
    """Return one line per refused field, named by its label, for beside the Save button (the
    field itself may be scrolled out of sight)."""
    labels = {f.key: f.label for f in fields}
    labels[TIME] = "Observation time"
    return [f"{labels[name]}: {message}" for name, message in errors.items() if name in labels]


def errors_by_field(errors: Mapping[str, str], fields: Sequence[Field]) -> dict[str, str]:
    """Return a service refusal (`8867-4.value`, `9187-6.period_h`, `observed_at`, ...) keyed by
    the form field it belongs to; anything else under GENERAL (messages joined)."""
    by_code = {f.code: f for f in fields if not isinstance(f, PeriodField)}
    out: dict[str, str] = {}
    general: list[str] = []
    for name, message in errors.items():
        code, _, part = name.rpartition(".")
        f = by_code.get(code)
        if name in ("observed_at", "time"):
            out[TIME] = message
        elif isinstance(f, NumberField) and part == "period_h" and f.period_key:
            out[f.period_key] = message
        elif f is not None:
            out[f.key] = message
        else:
            general.append(f"{name}: {message}")
    if general:
        out[GENERAL] = "; ".join(general)
    return out


def unusual(
    values: Mapping[str, object], fields: Sequence[Field], baseline_weight_kg: float | None
) -> dict[str, str]:
    """Return, by field key, each typed value that is possible but unusual (units.PLAUSIBLE).

    Values that are not numbers or are outside the hard limits are not judged here: the
    service refuses them.
    """
    out: dict[str, str] = {}
    for f in fields:
        if not isinstance(f, NumberField):
            continue
        value = _float(values.get(f.key))
        spec = units.spec_for(f.code)
        if value is None or spec is None or not math.isfinite(value):
            continue
        canonical = units.to_canonical(f.code, value, f.unit)
        assert spec.low is not None and spec.high is not None
        if not spec.low <= canonical <= spec.high:
            continue
        why = units.implausible(f.code, canonical, baseline_weight_kg)
        if why is not None:
            out[f.key] = f"{format_number(value)} {unit_shown(f.unit)}: {why}"
    return out


def format_number(value: object) -> str:
    """Return a typed number as typed (72, 37.5), not as Python prints floats (72.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def stored_lines(stored: Sequence[Entry], fields: Sequence[Field]) -> list[str]:
    """Return what was stored, one line per value with its unit (and period), as typed."""
    by_code = {f.code: f for f in fields if not isinstance(f, PeriodField)}
    lines = []
    for e in stored:
        f = by_code.get(e.code)
        if isinstance(f, ChoiceField):
            lines.append(f"{f.label}: {f.shown(str(e.value))}")
            continue
        name = f.label.rsplit(" (", 1)[0] if f is not None else e.code
        line = f"{name}: {format_number(e.value)} {unit_shown(e.unit or '')}".rstrip()
        if e.period_h is not None:
            line += f" over {format_number(e.period_h)} h"
        lines.append(line)
    return lines


def submission(entries_: Sequence[Entry], when: datetime | None) -> tuple[object, ...]:
    """Return a comparable picture of a submission: a confirmation holds for these values
    only (change one and it is asked again)."""
    return (when, tuple(entries_))


# ---------------------------------------------------------------------------------------------
# Advice


ADVICE_WORD = {"give": "GIVE", "caution": "CAUTION", "hold": "HOLD"}


def advice_headline(advice: DoseAdvice | None) -> str:
    """Return e.g. "Next dose 5 of cycle 1" (or that the cycle is complete); the advice word
    itself is shown beside it as a coloured badge."""
    if advice is None:
        return "No next dose: the cycle has its 14 doses recorded."
    return f"Next dose {advice.number} of cycle {advice.cycle}"


def advice_criteria(advice: DoseAdvice | None) -> list[str]:
    """Return each criterion met, hold or caution, with its source; empty when none is met."""
    if advice is None:
        return []
    return [
        f"• {c.message} ({'hold' if c.kind == 'absolute' else 'caution'} criterion"
        + (f"; {c.source})" if c.source else ")")
        for c in advice.criteria
    ]
