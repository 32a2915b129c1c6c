"""Bedside imports: a CSV of observations for one admission, or a whole course file, by a
signed-in nurse or physician.

A CSV has a header row with the columns `time,code,value,unit` and optionally `period_h`,
`ref_low`, `ref_high` (any order; no others). Each row is checked exactly like a course file's
observation (times with an offset, codes, units, hard limits); rows at the same time form one
set, as `record_observations` would store them. Every fault names its row (the file's line
number, header = row 1) and field, e.g. `row 3.value`; one fault anywhere and nothing is
written: the whole file is stored in one transaction or not at all.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from il2_tox import course as c
from il2_tox import units
from il2_tox.course import CourseError, format_time
from il2_tox.rules.base import DoseAdvice
from il2_tox.rules.config import Rules
from il2_tox.services.bedside import (
    BACKDATED_AFTER,
    RECORDING_ROLES,
    _admission,
    _check_time,
    _checked_key,
    _next_dose,
)
from il2_tox.services.course_io import (
    ImportResult,
    _import,
    _observation_row,
    _refuse_unstorable_text,
)
from il2_tox.services.errors import Refused
from il2_tox.services.users import SignedIn, acting_user
from il2_tox.store import models as m
from il2_tox.store.engine import Database
from il2_tox.store.records import record_event
from il2_tox.store.retry import retrying

CSV_REQUIRED = ("time", "code", "value", "unit")
CSV_OPTIONAL = ("period_h", "ref_low", "ref_high")
# A file larger than this is not a bedside upload (a whole lab export): refused, not read.
MAX_CSV_ROWS = 5000


@dataclass(frozen=True)
class CsvRow:
    """One checked row: its line in the file and the observation it holds."""

    row: int
    observation: c.Observation


@dataclass(frozen=True)
class CsvImport:
    """What `import_observation_csv` stored: sets by time, and the advice for the next dose."""

    admission_id: int
    observation_ids: tuple[int, ...]
    sets: tuple[tuple[datetime, int], ...]  # (observed at, number of values), by time
    backdated: bool  # some set was observed more than BACKDATED_AFTER before now
    next_dose: DoseAdvice | None
    replayed: bool = False


def parse_observation_csv(text: str) -> list[CsvRow]:
    """Return the checked rows of a CSV of observations; raise Refused naming every fault.

    Blank lines are skipped. Quantities are read as numbers (a comma decimal too); coded
    values (ACVPU, crackles, ...) as text. A blank unit, period or limit is absent.
    """
    try:
        return _parse_csv(text)
    except csv.Error as error:  # a stray quote or line break the csv module cannot read
        raise Refused({"file": f"cannot be read as CSV ({error})"}) from None


def _parse_csv(text: str) -> list[CsvRow]:
    # newline="": the csv module does its own line endings (a lone CR inside a cell is text).
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [name.strip() for name in reader.fieldnames or ()]
    missing = [name for name in CSV_REQUIRED if name not in header]
    unknown = [name for name in header if name not in CSV_REQUIRED + CSV_OPTIONAL]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)}")
        raise Refused(
            {
                "row 1": "; ".join(problems)
                + f" (expected {','.join(CSV_REQUIRED)}[,{','.join(CSV_OPTIONAL)}])"
            }
        )
    reader.fieldnames = header
    errors: dict[str, str] = {}
    rows: list[CsvRow] = []
    for raw in reader:
        line = reader.line_num
        if len(rows) + len(errors) >= MAX_CSV_ROWS:
            raise Refused({"file": f"has more than {MAX_CSV_ROWS} rows; split it"})
        cells = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        if None in raw:
            errors[f"row {line}"] = "has more cells than the header has columns"
            continue
        if not any(cells.values()):
            continue
        where = f"row {line}"
        item: dict[str, Any] = {"time": cells["time"], "code": cells["code"]}
        spec = units.spec_for(cells["code"])
        value = cells["value"]
        item["value"] = _number(value) if spec is not None and spec.kind == "quantity" else value
        if cells["unit"]:
            item["unit"] = cells["unit"]
        fault = False
        for name in CSV_OPTIONAL:
            cell = cells.get(name, "")
            if not cell:
                continue
            number = _number(cell)
            if not isinstance(number, int | float):
                errors[f"{where}.{name}"] = f"{cell!r} is not a number"
                fault = True
            else:
                item[name] = number
        if fault:
            continue
        if "period_h" in item and not 0 < item["period_h"] <= units.MAX_PERIOD_H:
            errors[f"{where}.period_h"] = (
                f"must be a number of hours above 0 and at most {units.MAX_PERIOD_H:g}"
            )
            continue
        try:
            rows.append(CsvRow(line, c.parse_observation(item, where)))
        except CourseError as error:
            errors[error.field] = error.message
    if not rows and not errors:
        errors["file"] = "has no observations (only a header or nothing)"
    if errors:
        raise Refused(errors)
    return rows


def _number(text: str) -> object:
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        return text
    integral = number.is_integer() and "." not in text and "," not in text and "e" not in text
    return int(number) if integral else number


def import_observation_csv(
    db: Database,
    admission_id: int,
    text: str,
    actor: SignedIn | None,
    idempotency_key: str,
    *,
    rules: Rules | None = None,
) -> CsvImport:
    """Store every row of a CSV of observations for one admission, all or nothing.

    Refused (nothing written), naming the row and field: any row `parse_observation_csv`
    refuses; a time in the future, before the admission or after the discharge; one code twice
    at one time. Sending the same `idempotency_key` again stores nothing and returns the first
    import (`replayed`). Nurses and physicians only.
    """
    key = _checked_key(idempotency_key)
    parsed: list[CsvRow] | None = None
    refusal: Refused | None = None
    try:
        parsed = parse_observation_csv(text)
    except Refused as error:
        refusal = error  # raised once the actor is checked: a stranger learns nothing

    def store() -> tuple[tuple[int, ...], bool]:
        try:
            return _store_csv(db, admission_id, parsed, refusal, actor, key)
        except IntegrityError:
            return _store_csv(db, admission_id, parsed, refusal, actor, key)

    ids, replayed = retrying(store, idempotent=True)  # the key makes a rerun safe
    with db.read_session() as session:
        stored = session.execute(
            select(m.Observation.observed_at, m.Observation.recorded_at).where(
                m.Observation.id.in_(ids)
            )
        ).all()
    counts: dict[datetime, int] = defaultdict(int)
    for observed, _ in stored:
        counts[observed] += 1
    return CsvImport(
        admission_id=admission_id,
        observation_ids=ids,
        sets=tuple(sorted(counts.items())),
        backdated=any(observed < recorded - BACKDATED_AFTER for observed, recorded in stored),
        next_dose=_next_dose(db, admission_id, rules),
        replayed=replayed,
    )


def _store_csv(
    db: Database,
    admission_id: int,
    parsed: list[CsvRow] | None,
    refusal: Refused | None,
    actor: SignedIn | None,
    key: str,
) -> tuple[tuple[int, ...], bool]:
    with db.write_session() as session:
        user = acting_user(session, actor, RECORDING_ROLES, "import observations")
        earlier = session.execute(
            select(m.Observation.id, m.Observation.admission_id)
            .where(m.Observation.idempotency_key.startswith(f"{key}/", autoescape=True))
            .order_by(m.Observation.id)
        ).all()
        if earlier:
            if any(row.admission_id != admission_id for row in earlier):
                raise Refused({"idempotency_key": "was already used for another patient"})
            return tuple(row.id for row in earlier), True
        if refusal is not None or parsed is None:
            raise refusal or Refused({"file": "has no observations"})
        admission = _admission(session, admission_id)
        now = m.utcnow()
        errors: dict[str, str] = {}
        seen: dict[tuple[datetime, str], int] = {}
        checked_times: set[datetime] = set()
        for item in parsed:
            o = item.observation
            where = f"row {item.row}"
            if o.time not in checked_times:
                time_errors: dict[str, str] = {}
                _check_time(time_errors, "time", o.time, now, admission)
                if time_errors:
                    errors[f"{where}.time"] = time_errors["time"]
                    continue
                checked_times.add(o.time)
            first = seen.setdefault((o.time, units.concept_of(o.code)), item.row)
            if first != item.row:
                errors[f"{where}.code"] = f"{o.code} is already in row {first} at the same time"
        if errors:
            raise Refused(errors)
        rows = [
            {
                **_observation_row(item.observation, admission_id, user.id, now),
                "idempotency_key": f"{key}/{i}",
            }
            for i, item in enumerate(parsed)
        ]
        ids = tuple(session.scalars(insert(m.Observation).returning(m.Observation.id), rows))
        record_event(
            session,
            actor=user.username,
            action="import_observations",
            entity="admission",
            entity_id=admission_id,
            after={
                "observations": len(rows),
                "times": sorted({format_time(item.observation.time) for item in parsed}),
                "rows": [
                    {"row": item.row, **c.observation_to_dict(item.observation)} for item in parsed
                ],
            },
        )
        return ids, False


def import_course_text(
    db: Database, text: str, actor: SignedIn | None, source: str | None = None
) -> ImportResult:
    """Store a course file (JSON text) uploaded by a nurse or physician, recorded as theirs.

    As `import_course`: identical and already stored changes nothing (`already_loaded`);
    Refused, naming the field, for an invalid file, an MRN stored with other demographics or
    an admission stored with other content. Nothing is written unless it all is.
    """
    refusal: Refused | None = None
    course: c.Course | None = None
    try:
        course = c.parse_course_text(text)
        _refuse_unstorable_text(course)
    except CourseError as error:
        refusal = Refused({error.field: error.message})
    try:
        with db.write_session() as session:
            user = acting_user(session, actor, RECORDING_ROLES, "import course files")
            if refusal is not None or course is None:
                raise refusal or Refused({"file": "is not a course file"})
            return _import(session, course, user.username, source)
    except CourseError as error:
        raise Refused({error.field: error.message}) from None
    except IntegrityError:
        raise Refused(
            {"patient.id": "was stored by someone else at the same moment: import again"}
        ) from None


def decode_upload(data: bytes) -> str:
    """Return an uploaded file's text (UTF-8, with or without a byte-order mark); raise Refused
    for anything else."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Refused(
            {"file": f"is not UTF-8 text (byte {error.start}); save it as UTF-8 CSV or JSON"}
        ) from None


__all__ = [
    "CSV_OPTIONAL",
    "CSV_REQUIRED",
    "CsvImport",
    "CsvRow",
    "decode_upload",
    "import_course_text",
    "import_observation_csv",
    "parse_observation_csv",
]
