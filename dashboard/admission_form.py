"""What the admission form makes, without drawing it: the patient, admission, history and prior
toxicities from what was typed, and where each refusal belongs.

Pure: no Streamlit. Checks beyond "is it there" are the service's (`admit_patient` checks a
new admission exactly as a course file); this only turns the form's values into the course's
types, keeping every typed value (nothing trimmed beyond surrounding spaces).

The table of prior toxicities across an idle sign-out: its editor's session value is an edit
delta, which cannot be kept as a form value nor set back. So the draft keeps the table's rows
(`rows_to_draft`: plain data under `TOXICITY_DRAFT`), and after the sign-in the page starts a
fresh editor (`table_key`) from them (`rows_from_draft`). A kept cell that cannot be put back
in its column (an organ no longer offered, text that is not a date) is not dropped: it goes into
the row's note, and a warning names the row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from numbers import Integral, Real
from typing import Any

from il2_tox import course as c
from il2_tox.services.errors import Refused

TOXICITY_COLUMNS = ("agent", "organ", "grade", "onset", "resolved", "steroids", "note")
GEN = "admit.gen"  # the form's generation: each admission made starts a new, empty form
# The table's rows kept by an idle sign-out (see `rows_to_draft`); while the session holds them
# they are the table editor's starting rows.
TOXICITY_DRAFT = "admit.toxicity_rows"
TABLE_STATE = re.compile(r"^admit\.\d+\.toxicity_table(\.restored)?$")
NOT_READ_BACK = "Not read back from the draft:"
_TOXICITY_FIELD = re.compile(r"prior_toxicities\[(\d+)\](?:\.(\w+))?")
# Course field names as the form's columns call them.
_COLUMN_OF = {"irae": "organ"}


@dataclass(frozen=True)
class NewAdmission:
    """What `admit_patient` takes, and which table row each prior toxicity came from."""

    patient: c.Patient
    admission: c.Admission
    history: c.History
    prior_toxicities: tuple[c.PriorToxicity, ...]
    toxicity_rows: tuple[int, ...]  # 1-based row of the table, per prior toxicity


def _missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if type(value).__name__ in ("NaTType", "NAType"):
        return True
    return isinstance(value, str) and not value.strip()


def _text(value: object) -> str | None:
    return None if _missing(value) else str(value).strip()


def _date(value: object, field: str) -> date | None:
    """Return a typed date; raise Refused naming `field` for text that is not a date."""
    if _missing(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):  # the table editor's state holds ISO text
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            raise Refused({field: f"{value.strip()[:40]!r} is not a date (YYYY-MM-DD)"}) from None
    to_pydatetime = getattr(value, "to_pydatetime", None)  # a pandas Timestamp
    if to_pydatetime is not None:
        moment: datetime = to_pydatetime()
        return moment.date()
    return None


def _as_typed(value: object) -> Any:
    """Return a value as typed, whatever its type: `admit_patient` checks it (a course file's
    checks) and refuses it naming the field, rather than this guessing."""
    return value


def _whole(value: object) -> Any:
    """Return a whole float as an int (a table's number column gives 3.0 for 3)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def prior_toxicities(
    rows: Sequence[Mapping[str, object]],
) -> tuple[tuple[c.PriorToxicity, ...], tuple[int, ...]]:
    """Return the prior toxicities of the table's rows, and the row (1-based) of each.

    A row left entirely blank is skipped (the editor's empty last row); any other row is
    kept as typed, for the service to check (a missing grade is its refusal to make). A date
    that cannot be read raises Refused naming it (`prior_toxicities[0].onset`).
    """
    out: list[c.PriorToxicity] = []
    where: list[int] = []
    for number, row in enumerate(rows, start=1):
        if all(
            _missing(row.get(column)) or row.get(column) is False for column in TOXICITY_COLUMNS
        ):
            continue
        steroids = row.get("steroids")
        field = f"prior_toxicities[{len(out)}]"
        out.append(
            c.PriorToxicity(
                agent=_as_typed(_text(row.get("agent"))),
                irae=_as_typed(_text(row.get("organ"))),
                grade=_as_typed(None if _missing(row.get("grade")) else _whole(row.get("grade"))),
                onset=_date(row.get("onset"), f"{field}.onset"),
                resolved=_date(row.get("resolved"), f"{field}.resolved"),
                steroids=None if _missing(steroids) else bool(steroids),
                note=_text(row.get("note")),
            )
        )
        where.append(number)
    return tuple(out), tuple(where)


def field_of(name: str, toxicity_rows: Sequence[int]) -> tuple[str, str]:
    """Return (form field, readable label) for a refusal's field name.

    `prior_toxicities[0].grade` becomes ("prior_toxicities", "Prior toxicity row 2, grade");
    other names are their own field (`patient.weight_kg`).
    """
    found = _TOXICITY_FIELD.fullmatch(name) or _TOXICITY_FIELD.match(name)
    if found is None:
        return name, name
    index = int(found.group(1))
    row = toxicity_rows[index] if index < len(toxicity_rows) else index + 1
    column = found.group(2)
    label = f"Prior toxicity row {row}"
    if column:
        label += f", {_COLUMN_OF.get(column, column)}"
    return "prior_toxicities", label


def toxicity_rows(rows: Sequence[Mapping[str, object]]) -> tuple[int, ...]:
    """Return the table rows (1-based) that hold a prior toxicity (not left blank)."""
    return tuple(
        number
        for number, row in enumerate(rows, start=1)
        if not all(
            _missing(row.get(column)) or row.get(column) is False for column in TOXICITY_COLUMNS
        )
    )


def prior_therapies(text: object) -> tuple[str, ...]:
    """Return the prior therapies typed as a comma- or line-separated list, in order."""
    if _missing(text):
        return ()
    return tuple(part.strip() for part in re.split(r"[,\n;]", str(text)) if part.strip())


def required_missing(values: Mapping[str, object]) -> dict[str, str]:
    """Return the required fields left blank: MRN, pre-treatment weight, admission time."""
    errors = {}
    if _missing(values.get("patient.id")):
        errors["patient.id"] = "is required"
    if _missing(values.get("patient.weight_kg")):
        errors["patient.weight_kg"] = "is required: the baseline for weight gain"
    if values.get("admission.admitted_at") is None:
        errors["admission.admitted_at"] = "is required (date and time)"
    return errors


def new_admission(
    values: Mapping[str, object], toxicity_table: Sequence[Mapping[str, object]]
) -> NewAdmission:
    """Return the admission typed in the form (call `required_missing` first); raise Refused
    naming the field for a date that cannot be read."""
    weight = values["patient.weight_kg"]
    admitted_at = values["admission.admitted_at"]
    assert isinstance(weight, int | float) and isinstance(admitted_at, datetime)
    toxicities, rows = prior_toxicities(toxicity_table)
    steroids = values.get("history.systemic_steroids")
    return NewAdmission(
        patient=c.Patient(
            id=str(values["patient.id"]).strip(),
            weight_kg=float(weight),
            name=_text(values.get("patient.name")),
            sex=_text(values.get("patient.sex")),
            birth_date=_date(values.get("patient.birth_date"), "patient.birth_date"),
            height_cm=None
            if _missing(values.get("patient.height_cm"))
            else _as_typed(values["patient.height_cm"]),
        ),
        admission=c.Admission(
            admitted_at=admitted_at,
            ward=_text(values.get("admission.ward")),
            bed=_text(values.get("admission.bed")),
            regimen_iu_per_kg=_whole(values.get("admission.regimen_iu_per_kg") or 600_000),
            usual_sbp_mmhg=None
            if _missing(values.get("admission.usual_sbp_mmhg"))
            else _as_typed(values["admission.usual_sbp_mmhg"]),
            spo2_target=str(values.get("admission.spo2_target") or "94-98"),
        ),
        history=c.History(
            brain_metastases=_text(values.get("history.brain_metastases")),
            systemic_steroids=None if steroids is None else steroids == "yes",
            ecog=None
            if _missing(values.get("history.ecog"))
            else _as_typed(values["history.ecog"]),
            prior_therapies=prior_therapies(values.get("history.prior_therapies")),
        ),
        prior_toxicities=toxicities,
        toxicity_rows=rows,
    )


# ---------------------------------------------------------------------------------------------
# The table of prior toxicities, kept across an idle sign-out


def table_key(state: Mapping[str, object]) -> str:
    """Return the session key of the table editor in `state`: a fresh key while the table
    starts from kept rows (`TOXICITY_DRAFT`), so no earlier editor's delta applies to them."""
    gen = state.get(GEN, 0)
    suffix = ".restored" if TOXICITY_DRAFT in state else ""
    return f"admit.{gen}.toxicity_table{suffix}"


def edited_rows(
    state: object, base: Sequence[Mapping[str, object]] = ()
) -> list[dict[str, object]]:
    """Return the table's rows: the editor's starting rows `base` with its delta `state` applied.

    As Streamlit applies it: cell edits and deletions by position in `base`, then the added
    rows. A position outside `base` (not made by the editor) is ignored; a `state` that is not
    a delta leaves `base` as it is.
    """
    rows = [dict(row) for row in base]
    if not isinstance(state, Mapping):
        return rows
    edited = state.get("edited_rows")
    for index, changes in (edited if isinstance(edited, Mapping) else {}).items():
        position = int(index)
        if 0 <= position < len(rows) and isinstance(changes, Mapping):
            rows[position].update(changes)
    deleted = state.get("deleted_rows")
    gone = {int(index) for index in (deleted if isinstance(deleted, list) else [])}
    rows = [row for position, row in enumerate(rows) if position not in gone]
    added = state.get("added_rows")
    rows.extend(
        dict(row) for row in (added if isinstance(added, list) else []) if isinstance(row, Mapping)
    )
    return rows


def _blank(row: Mapping[str, object]) -> bool:
    return all(_missing(row.get(column)) or row.get(column) is False for column in TOXICITY_COLUMNS)


def _plain(column: str, value: object) -> object:
    """Return one cell as plain JSON data: a date as ISO text, a whole grade as an int; any
    value of another type as its text (read back on restore, or put in the note)."""
    if _missing(value):
        return None
    if column in ("onset", "resolved") and not isinstance(value, str):
        day = _date(value, column)  # refuses only text, and this is not text
        return day.isoformat() if day is not None else str(value)
    if column == "grade" and isinstance(value, Real) and not isinstance(value, bool):
        number = float(value)
        if isinstance(value, Integral) or (math.isfinite(number) and number.is_integer()):
            return int(number)
        return number if math.isfinite(number) else str(value)
    if column == "steroids" and type(value).__name__ in ("bool", "bool_"):
        return bool(value)
    return value if isinstance(value, str) else str(value)


def rows_to_draft(rows: Sequence[Mapping[str, object]]) -> list[list[list[object]]]:
    """Return the rows typed in the table as plain data for a draft; [] when none is typed.

    Each row is a list of [column, value] pairs in `TOXICITY_COLUMNS` order (a draft holds
    lists, not mappings): text as typed, a date as ISO text ("2026-11-27"), a whole grade as
    an int, steroids as a bool, None for a blank cell. A row left blank (nothing but an
    unticked steroids box) is left out, as `prior_toxicities` skips it.
    """
    return [
        [[column, _plain(column, row.get(column))] for column in TOXICITY_COLUMNS]
        for row in rows
        if not _blank(row)
    ]


def _read(column: str, value: object) -> tuple[bool, object]:
    """Return (True, the cell for the editor) or (False, None) if it cannot go in `column`."""
    if value is None:
        return True, None
    if column in ("agent", "note"):
        return isinstance(value, str), value if isinstance(value, str) else None
    if column == "organ":
        return (True, value) if value in c.IRAE_ORGANS else (False, None)
    if column == "grade":
        if isinstance(value, int) and not isinstance(value, bool):
            return True, value
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        return False, None
    if column in ("onset", "resolved"):
        if not isinstance(value, str):
            return False, None
        try:
            return True, date.fromisoformat(value.strip()[:10])
        except ValueError:
            return False, None
    if column == "steroids":
        return (True, value) if isinstance(value, bool) else (False, None)
    return False, None


def rows_from_draft(data: object) -> tuple[list[dict[str, object]], list[str]]:
    """Return the table rows kept by `rows_to_draft`, typed for the editor, and the warnings.

    Each row gets every column: text or None, the organ one of the options, the grade an int,
    dates as dates, steroids a bool. A kept value that cannot go back in its column (an organ
    no longer offered, a date that is not one, an unknown column, a row that is not pairs) is
    not dropped: its text is added to the row's note ("Not read back from the draft: organ
    'x'"), the cell is left blank, and a warning names the row. None gives ([], []).
    """
    if data is None:
        return [], []
    items = data if isinstance(data, list) else [data]
    rows: list[dict[str, object]] = []
    warnings: list[str] = []
    for number, item in enumerate(items, start=1):
        row: dict[str, object] = dict.fromkeys(TOXICITY_COLUMNS)
        problems: list[str] = []
        pairs = item if isinstance(item, list) else [item]
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                problems.append(repr(pair))
                continue
            column, value = pair
            ok, cell = _read(column, value) if column in TOXICITY_COLUMNS else (False, None)
            if ok:
                row[column] = cell
            else:
                problems.append(f"{column} {value!r}")
        if problems:
            text = f"{NOT_READ_BACK} {'; '.join(problems)}"
            note = row["note"]
            row["note"] = f"{note}\n{text}" if isinstance(note, str) and note else text
            warnings.append(
                f"Prior toxicity row {number}: {'; '.join(problems)} could not be put back in "
                "its column. It is in the row's note: check the row before admitting."
            )
        rows.append(row)
    return rows, warnings


def table_draft(state: Mapping[str, object]) -> list[list[list[object]]]:
    """Return the rows typed in the admission form's table in `state`, as `rows_to_draft`:
    the editor's starting rows (kept ones, if any) with its delta applied."""
    base, _warnings = rows_from_draft(state.get(TOXICITY_DRAFT))
    return rows_to_draft(edited_rows(state.get(table_key(state)), base))
