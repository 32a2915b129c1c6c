"""Fuzz targets: everything a person or a file can feed the product, and what must hold.

    from tests.fuzzing import TARGETS   # name -> (strategy, check)

Each target is a Hypothesis strategy of inputs and a `check(input)` that runs the product's
own code on it and asserts the contract: the input is accepted, or refused with the documented
refusal (`CourseError` from the course reader, `Refused` from the services), and every refusal
names a field (non-empty) that belongs to the input's vocabulary: a path that exists in the
document or is a field of the format, a code that was typed, a row and column of the file.
Any other exception escapes the check and fails the test (or is counted by benchmarks/fuzz.py).

Used by tests/unit/test_fuzz_*.py (a few hundred inputs per target) and benchmarks/fuzz.py
(10,000 and more).
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

from hypothesis import strategies as st

from dashboard import admission_form, entry_form
from il2_tox import course as c
from il2_tox import units
from il2_tox.course import CourseError
from il2_tox.services import bedside, observation_import
from il2_tox.services.course_io import _refuse_unstorable_text
from il2_tox.services.errors import Refused
from tests.strategies import course_documents, observations, texts

# -- what a refusal may name ----------------------------------------------------------------------

_SEGMENT = re.compile(r'([A-Za-z0-9_]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')
DOCUMENT = "(document)"


@cache
def format_field_names() -> frozenset[str]:
    """Return every property name the course schema knows, at any depth."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            names.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(c.schema())
    return frozenset(names)


def segments(path: str) -> list[str | int]:
    """Return `a.b[2].c` as ['a', 'b', 2, 'c']; raise AssertionError if it is not a path."""
    out: list[str | int] = []
    position = 0
    for found in _SEGMENT.finditer(path):
        assert found.start() == position or path[position] == ".", f"not a path: {path!r}"
        if found.group(1) is not None:
            out.append(found.group(1))
        elif found.group(2) is not None:
            out.append(int(found.group(2)))
        else:
            out.append(json.loads(found.group(3)))  # a quoted key: `patient[""]`
        position = found.end()
    assert out and position == len(path), f"not a path: {path!r}"
    return out


def assert_names_a_course_field(field: str, document: object) -> None:
    """Assert `field` is a path into `document`, ending at most at one name of the format (a
    missing field) or, for a field the format does not have, at a key present in the input."""
    assert isinstance(field, str) and field, "the refusal names no field"
    if field == DOCUMENT:
        return
    node: Any = document
    parts = segments(field)
    for i, part in enumerate(parts):
        if isinstance(part, int):
            assert isinstance(node, list) and part < len(node), f"{field}: no item {part}"
            node = node[part]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            assert part in format_field_names(), f"{field}: {part!r} is no field of the format"
            assert i == len(parts) - 1, f"{field}: goes on past a missing field"
            return


OBSERVATION_PARTS = frozenset({"code", "time", "value", "unit", "period_h", "ref_low", "ref_high"})


def assert_names_an_entry_field(field: str, typed_codes: set[str]) -> None:
    """Assert `field` is `entries`, `observed_at`, or `<typed code>.<part of an observation>`."""
    assert field, "the refusal names no field"
    if field in ("entries", "observed_at"):
        return
    code, _, part = field.rpartition(".")
    assert code in typed_codes, f"{field}: {code!r} was not typed"
    assert part in OBSERVATION_PARTS, f"{field}: {part!r} is no part of an observation"


def assert_names_a_csv_field(field: str, lines: int) -> None:
    """Assert `field` is `file`, `row N` or `row N.<column>` with N a line of the file."""
    if field == "file":
        return
    found = re.fullmatch(r"row (\d+)(?:\.(\w+))?", field)
    assert found, f"{field!r} names no row"
    assert 1 <= int(found.group(1)) <= max(lines, 1), f"{field}: the file has {lines} lines"
    column = found.group(2)
    assert column is None or column in (
        observation_import.CSV_REQUIRED + observation_import.CSV_OPTIONAL
    ), f"{field}: no such column"


# -- strategies -----------------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(10**400), 10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts(30)
    | st.sampled_from(["", " ", "Z", "NaN", "1e999", "2026-11-20T06:00:00", "mm[Hg]", "A"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts(12), inner, max_size=4),
    max_leaves=20,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    """Return a valid course document with one to three faults: a value replaced by any JSON
    value, a field removed, a field added, or a list item duplicated."""
    doc = copy.deepcopy(draw(course_documents(max_observations=6)))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        if not path:
            doc = draw(JSON_VALUES)
            break
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        action = draw(st.sampled_from(("replace", "remove", "add", "duplicate")))
        if action == "replace":
            parent[last] = draw(JSON_VALUES | st.sampled_from(_NEAR_MISSES))
        elif action == "remove":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(texts(12) | st.sampled_from(sorted(format_field_names())))] = draw(
                JSON_VALUES
            )
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
    return doc


# Values a tired hand or another system really produces.
_NEAR_MISSES = (
    "2026-11-20 06:00",
    "2026-11-20T06:00:00",
    "2026-02-30T06:00:00Z",
    "20/11/2026",
    "98,6",
    "12.5.3",
    "-0",
    "1e308",
    "٣٤",
    "\u202e",
    "<script>alert(1)</script>",
    1e308,
    -1,
    0,
    10**30,
    True,
    [],
    {},
)


def course_texts() -> st.SearchStrategy[str]:
    """JSON text that is nearly, sometimes exactly, a course file; or any text at all."""
    return st.one_of(
        texts(200),
        JSON_VALUES.map(json.dumps),
        mutated_documents().map(json.dumps),
        mutated_documents().map(lambda d: json.dumps(d)[: max(1, len(json.dumps(d)) // 2)]),
    )


def course_bytes() -> st.SearchStrategy[bytes]:
    """Uploaded bytes: any bytes, or course text in UTF-8 (with a BOM), UTF-16 or Latin-1."""
    encoded = st.tuples(course_texts(), st.sampled_from(("utf-8", "utf-8-sig", "utf-16"))).map(
        lambda pair: pair[0].encode(pair[1])
    )
    return st.one_of(st.binary(max_size=300), encoded)


TYPED = (
    st.none()
    | texts(12)
    | st.sampled_from(["", " ", "98,6", "1e400", "nan", "inf", "-5", "37.2", "A", "not assessed"])
    | st.integers(-(10**20), 10**20)
    | st.floats()
    | st.booleans()
)


@st.composite
def entry_sets(draw: st.DrawFn) -> list[tuple[Any, Any, Any, Any]]:
    """Return what a set's entries may hold: real codes with any value, unit and period, and
    codes that are not codes."""
    codes = st.sampled_from(sorted(units.CODES)) | texts(10)
    all_units = sorted({u.ucum for spec in units.CODES.values() for u in spec.units})
    unit = st.none() | st.sampled_from(all_units) | texts(8)
    period = st.none() | st.floats() | st.integers(-5, 50) | st.sampled_from([0, 24, 24.0001, 4])
    return draw(
        st.lists(st.tuples(codes, TYPED, unit, period), max_size=8)
        | st.lists(
            observations().map(lambda o: (o["code"], o["value"], o.get("unit"), o.get("period_h"))),
            max_size=6,
        )
    )


@st.composite
def form_values(draw: st.DrawFn) -> tuple[dict[str, object], str, str]:
    """Return the bedside form's widget values (any of them blank or odd), and its units."""
    temperature = draw(st.sampled_from(entry_form.TEMPERATURE_UNITS))
    weight = draw(st.sampled_from(entry_form.WEIGHT_UNITS))
    fields = entry_form.vital_fields(temperature, weight)
    values: dict[str, object] = {}
    for f in fields:
        if isinstance(f, entry_form.ChoiceField):
            options = [value for value, _ in f.options] + [entry_form.NOT_ASSESSED]
            values[f.key] = draw(st.sampled_from(options) | texts(5) | st.none())
        else:
            values[f.key] = draw(
                st.none() | st.floats() | st.integers(-1000, 100_000) | st.floats(0, 500)
            )
    return values, temperature, weight


CSV_COLUMNS = observation_import.CSV_REQUIRED + observation_import.CSV_OPTIONAL


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    """Return a CSV of observations: valid rows, rows with odd cells, odd headers, or any text."""
    if draw(st.integers(0, 9)) == 0:
        return draw(texts(200))
    header = list(draw(st.permutations(CSV_COLUMNS)))[: draw(st.integers(2, len(CSV_COLUMNS)))]
    if draw(st.booleans()):
        header = list(observation_import.CSV_REQUIRED) + header
        header = list(dict.fromkeys(header))
    if draw(st.integers(0, 5)) == 0:
        header.append(draw(texts(8)))
    cell = texts(10) | st.sampled_from(["", "98,6", "1e999", "nan", "-1", "4", "24.5", '"', ","])
    lines = [",".join(header)]
    for _ in range(draw(st.integers(0, 8))):
        o = draw(observations())
        row = {**{k: str(v) for k, v in o.items()}}
        if draw(st.booleans()):
            row[draw(st.sampled_from(CSV_COLUMNS))] = draw(cell)
        cells = [row.get(name, "") for name in header]
        if draw(st.integers(0, 9)) == 0:
            cells.append(draw(cell))
        lines.append(",".join(json.dumps(x) if "," in x or '"' in x else x for x in cells))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n", "\r\n"]))


@st.composite
def admission_forms(draw: st.DrawFn) -> tuple[dict[str, object], list[dict[str, object]]]:
    """Return the admission form's values and prior-toxicity table (odd values included)."""
    value = draw(
        st.fixed_dictionaries(
            {
                "patient.id": texts(70, min_size=1),
                "patient.weight_kg": st.floats(-10, 1000) | st.integers(-10, 1000),
                "admission.admitted_at": st.datetimes(
                    datetime(2020, 1, 1), datetime(2026, 11, 1), timezones=st.just(UTC)
                ),
            },
            optional={
                "patient.name": st.none() | texts(250),
                "patient.sex": st.none() | st.sampled_from(["female", "male", "x", ""]),
                "patient.birth_date": st.none()
                | st.dates()
                | st.sampled_from(["1970-01-01", "", "1970-13-40", "yesterday"]),
                "patient.height_cm": st.none() | st.floats() | st.integers(-5, 400),
                "admission.ward": st.none() | texts(50),
                "admission.bed": st.none() | texts(50),
                "admission.regimen_iu_per_kg": st.none() | st.integers(-1, 2_000_000) | st.floats(),
                "admission.usual_sbp_mmhg": st.none() | st.floats() | st.integers(-5, 400),
                "admission.spo2_target": st.sampled_from(["94-98", "88-92", "90", ""]),
                "history.brain_metastases": st.none()
                | st.sampled_from(["none", "treated_stable", "untreated_or_active", "maybe"]),
                "history.systemic_steroids": st.none() | st.sampled_from(["yes", "no"]),
                "history.ecog": st.none() | st.floats() | st.integers(-2, 9),
                "history.prior_therapies": st.none() | texts(80),
            },
        )
    )
    row = st.fixed_dictionaries(
        {},
        optional={
            "agent": st.none() | texts(210),
            "organ": st.none() | st.sampled_from([*c.IRAE_ORGANS, "liver", ""]),
            "grade": st.none() | st.floats() | st.integers(-1, 9),
            "onset": st.none() | st.dates() | st.sampled_from(["2025-02-30", "2025-01-01"]),
            "resolved": st.none() | st.dates() | st.sampled_from(["soon", "2025-06-01"]),
            "steroids": st.none() | st.booleans(),
            "note": st.none() | texts(300),
        },
    )
    return value, draw(st.lists(row, max_size=3))


# -- checks ---------------------------------------------------------------------------------------


def check_course_text(text: str) -> None:
    """The course reader on text: a Course, or CourseError naming a field of the input."""
    try:
        c.parse_course_text(text)
    except CourseError as error:
        try:
            document: object = json.loads(text)
        except ValueError:
            document = None
        assert_names_a_course_field(error.field, document)


def check_course_bytes(data: bytes) -> None:
    """An uploaded course file: refused as not UTF-8 (field `file`) or read as text."""
    try:
        text = observation_import.decode_upload(data)
    except Refused as refusal:
        assert refusal.field == "file"
        return
    check_course_text(text)


def check_course_document(document: object) -> None:
    """The course reader on a decoded document (then the import's own text check)."""
    try:
        course = c.parse_course(document)
        _refuse_unstorable_text(course)
    except CourseError as error:
        assert_names_a_course_field(error.field, document)


_FIXED_TIME = datetime(2026, 11, 20, 12, 0, tzinfo=timezone(timedelta(hours=2)))


def check_entries(entries: list[tuple[Any, Any, Any, Any]]) -> None:
    """The bedside set's checks (`record_observations` before it writes)."""
    errors: dict[str, str] = {}
    parsed = bedside._parse_entries(errors, entries, _FIXED_TIME)
    typed = {str(code) for code, *_ in entries}
    for field, message in errors.items():
        assert message, field
        assert_names_an_entry_field(field, typed)
    if not errors:
        assert parsed, "accepted a set with nothing in it"
        for o in parsed:
            assert o.code in units.CODES
            assert isinstance(o.value, str) or math.isfinite(o.value)


def check_entry_form(sample: tuple[dict[str, object], str, str]) -> None:
    """The bedside form's pure parts on its widget values, then the service's checks."""
    values, temperature, weight = sample
    fields = entry_form.vital_fields(temperature, weight)
    keys = {f.key for f in fields}
    for field in entry_form.local_errors(values, fields):
        assert field in keys
    made = entry_form.entries(values, fields)
    entry_form.unusual(values, fields, 70.0)
    entry_form.submission(made, _FIXED_TIME)
    errors: dict[str, str] = {}
    bedside._parse_entries(errors, [tuple(e) for e in made], _FIXED_TIME)
    placed = entry_form.errors_by_field(errors, fields)
    for field in placed:
        assert field in keys or field in (entry_form.TIME, entry_form.GENERAL)
    if set(errors) - {"entries"}:
        # Every refusal of a value reaches its field of the form, none only the general line
        # (an empty set is the one refusal of the form as a whole).
        assert entry_form.GENERAL not in placed, placed
    entry_form.summary(placed, fields)


def check_csv(text: str) -> None:
    """The bedside CSV import's reader."""
    try:
        observation_import.parse_observation_csv(text)
    except Refused as refusal:
        lines = len(text.splitlines()) + 1
        for field, message in refusal.errors.items():
            assert message, field
            assert_names_a_csv_field(field, lines)


ADMISSION_ROOTS = ("patient", "admission", "history", "prior_toxicities")


def check_admission_form(sample: tuple[dict[str, object], list[dict[str, object]]]) -> None:
    """The admission form's pure parts, then `admit_patient`'s checks before it writes."""
    values, table = sample
    if admission_form.required_missing(values):
        return
    try:
        typed = admission_form.new_admission(values, table)
    except Refused as refusal:
        for field in refusal.errors:
            assert field.split(".")[0].split("[")[0] in ADMISSION_ROOTS, field
        return
    try:
        bedside.checked_admission(
            typed.patient, typed.admission, typed.history, typed.prior_toxicities
        )
    except Refused as refusal:
        for field in refusal.errors:
            form_field, _label = admission_form.field_of(field, typed.toxicity_rows)
            assert form_field.split(".")[0] in ADMISSION_ROOTS, field
            if form_field == "prior_toxicities":
                index = int(re.findall(r"\[(\d+)\]", field)[0])
                assert index < len(typed.prior_toxicities), field


Target = tuple[st.SearchStrategy[Any], Callable[[Any], None]]

TARGETS: dict[str, Target] = {
    "course_text": (course_texts(), check_course_text),
    "course_bytes": (course_bytes(), check_course_bytes),
    "course_json": (JSON_VALUES, check_course_document),
    "course_mutated": (mutated_documents(), check_course_document),
    "entry_values": (entry_sets(), check_entries),
    "entry_form": (form_values(), check_entry_form),
    "csv_import": (csv_texts(), check_csv),
    "admission_form": (admission_forms(), check_admission_form),
}
