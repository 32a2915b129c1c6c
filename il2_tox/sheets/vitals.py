"""The vitals sheet: the classic printable table, time down the side and measurements across,
for one cycle, with the doses (held ones marked) and the flags raised at each time.

A pure function of the course and its assessment. Values are canonical (the unit in each
column's header: a temperature typed in °F shows in °C, as on the chart); the unit as entered
stays in the record and in the course export. Labs are not on this sheet (they are on the
chart and in the handoff), only what is measured at the bedside.

Which cycle an entry belongs to: the cycle of the latest dose at or before it; entries before
the first dose belong to cycle 1 (the pre-treatment baseline), entries in the rest after a
cycle to that cycle.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, tzinfo

from il2_tox.assess import Assessment
from il2_tox.course import Course, Dose, Observation
from il2_tox.rules.base import Flag, fmt
from il2_tox.units import (
    ACVPU,
    COGNITION,
    CONCERN,
    DBP,
    FIO2,
    HR,
    MAP,
    O2_FLOW,
    PHENYLEPHRINE,
    RALES,
    RHYTHM,
    RR,
    SBP,
    SKIN,
    SPO2,
    STOOL,
    TEMP,
    URINE,
    WEIGHT,
    concept_of,
    spec_for,
)


@dataclass(frozen=True)
class Column:
    """One measurement column: the code (concept), its short header and its canonical unit."""

    code: str
    header: str
    unit: str  # as a nurse reads it; "" for coded items

    @property
    def title(self) -> str:
        """The header with its unit, e.g. "SBP (mmHg)"."""
        return f"{self.header} ({self.unit})" if self.unit else self.header


def _column(code: str, header: str | None = None) -> Column:
    spec = spec_for(code)
    assert spec is not None, code
    unit = spec.units[0].display if spec.units else ""
    return Column(code, header or spec.short, unit)


# The bedside measurements, in the order a paper observation chart has them.
COLUMNS: tuple[Column, ...] = (
    _column(TEMP),
    _column(HR),
    _column(SBP),
    _column(DBP),
    _column(MAP),
    _column(RR),
    _column(SPO2),
    _column(O2_FLOW),
    _column(FIO2),
    _column(ACVPU),
    _column(PHENYLEPHRINE, "Phenyl."),
    _column(URINE),
    _column(STOOL),
    _column(WEIGHT),
    _column(RALES),
    _column(RHYTHM),
    _column(SKIN),
    _column(COGNITION),
    _column(CONCERN),
)
# Always on the printed sheet, measured or not (empty cells are what was not measured).
CORE_CODES = frozenset({TEMP, HR, SBP, DBP, RR, SPO2})
_COLUMN_CODES = frozenset(c.code for c in COLUMNS)


@dataclass(frozen=True)
class VitalsRow:
    """One time on the sheet: the values measured then, the dose given or held then, the flags
    raised then."""

    time: datetime
    values: dict[str, str]  # column code -> the cell as shown ("" when not measured)
    doses: tuple[Dose, ...]
    flags: tuple[Flag, ...]

    @property
    def held(self) -> bool:
        return any(d.status != "given" for d in self.doses)

    def dose_text(self) -> str:
        """E.g. "dose 4 given", "dose 5 HELD: SBP 84 mmHg..."."""
        parts = []
        for d in self.doses:
            if d.status == "given":
                parts.append(f"dose {d.number} given")
            else:
                word = "HELD" if d.status == "held" else "NOT GIVEN"
                parts.append(f"dose {d.number} {word}" + (f": {d.reason}" if d.reason else ""))
        return "; ".join(parts)

    def flag_text(self) -> str:
        """E.g. "critical cls.syndrome; warning liver.alt" (the codes; messages below the table)."""
        return "; ".join(f"{f.severity} {f.code}" for f in self.flags)


@dataclass(frozen=True)
class VitalsSheet:
    """One cycle of one patient as a table."""

    patient_id: str
    name: str
    bed: str
    cycle: int
    cycles: tuple[int, ...]  # every cycle the course has, for "cycle 1 of 2"
    columns: tuple[Column, ...]  # every column (the CSV has them all)
    rows: tuple[VitalsRow, ...]
    flags: tuple[Flag, ...]  # every flag raised in the cycle, by time

    def printed_columns(self) -> tuple[Column, ...]:
        """The columns a printed page shows: the core vitals, and any other measured here."""
        measured = {code for row in self.rows for code, cell in row.values.items() if cell}
        return tuple(c for c in self.columns if c.code in CORE_CODES or c.code in measured)


def cycles_of(course: Course) -> tuple[int, ...]:
    """Return the cycles of a course (1 when no dose is recorded yet), in order."""
    return tuple(sorted({d.cycle for d in course.doses} or {1}))


def _cycle_at(doses: list[Dose], moment: datetime) -> int:
    cycle = 1
    for dose in doses:  # sorted by time
        if dose.time > moment:
            break
        cycle = dose.cycle
    return cycle


def number_text(concept: str, value: float, digits: int = 4) -> str:
    """Return a measured number as the sheets print it: `digits` significant digits (74.25 kg,
    1030 mL), and a temperature always with its tenth (37.0, not 37: read by its decimal)."""
    return f"{value:.1f}" if concept == TEMP else fmt(value, digits)


def _cell(obs: Observation) -> str:
    """Return a value as its cell shows it (`number_text`; coded values as words)."""
    if isinstance(obs.value, str):
        return obs.value.replace("_", " ")
    text = number_text(obs.concept, obs.value)
    if obs.period_h is not None:
        text += f" /{obs.period_h:g} h"
    return text


def vitals_sheet(course: Course, assessment: Assessment, cycle: int | None = None) -> VitalsSheet:
    """Return the vitals sheet of one cycle (default: the latest); raise ValueError naming the
    cycles the course has when `cycle` is not one of them."""
    cycles = cycles_of(course)
    chosen = cycles[-1] if cycle is None else cycle
    if chosen not in cycles:
        have = ", ".join(str(c) for c in cycles)
        raise ValueError(f"cycle {chosen} is not in {course.patient.id}'s course (cycles: {have})")
    doses = sorted(course.doses, key=lambda d: (d.time, d.cycle, d.number))
    values: dict[datetime, dict[str, list[str]]] = {}
    for obs in course.observations:
        code = concept_of(obs.code)
        if code not in _COLUMN_CODES or _cycle_at(doses, obs.time) != chosen:
            continue
        values.setdefault(obs.time, {}).setdefault(code, []).append(_cell(obs))
    dose_at: dict[datetime, list[Dose]] = {}
    for dose in doses:
        if dose.cycle == chosen:
            dose_at.setdefault(dose.time, []).append(dose)
    flags = tuple(
        sorted(
            (f for f in assessment.flags if _cycle_at(doses, f.time) == chosen),
            key=lambda f: (f.time, f.code),
        )
    )
    flag_at: dict[datetime, list[Flag]] = {}
    for flag in flags:
        flag_at.setdefault(flag.time, []).append(flag)
    rows = tuple(
        VitalsRow(
            time=moment,
            values={c.code: " / ".join(values.get(moment, {}).get(c.code, [])) for c in COLUMNS},
            doses=tuple(dose_at.get(moment, ())),
            flags=tuple(flag_at.get(moment, ())),
        )
        for moment in sorted(set(values) | set(dose_at) | set(flag_at))
    )
    return VitalsSheet(
        patient_id=course.patient.id,
        name=course.patient.name or course.patient.id,
        bed=course.admission.bed or "",
        cycle=chosen,
        cycles=cycles,
        columns=COLUMNS,
        rows=rows,
        flags=flags,
    )


CSV_FIXED = ("time", "dose", "flags")


def vitals_csv(sheet: VitalsSheet, tz: tzinfo) -> str:
    """Return the sheet as CSV text: a header row (units in brackets), then one row per time.

    `time` is the ward's local time with its UTC offset (ISO 8601), so a spreadsheet sorts it
    and nobody has to guess the zone. Every column is written, measured in this cycle or not.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_FIXED, *(c.title for c in sheet.columns)])
    for row in sheet.rows:
        writer.writerow(
            [
                row.time.astimezone(tz).isoformat(),
                row.dose_text(),
                row.flag_text(),
                *(row.values[c.code] for c in sheet.columns),
            ]
        )
    return out.getvalue()
