"""The course record: one admission for high-dose IL-2, and the course file format.

A course file (`il2-tox-course/1`, see docs and ../shared/spec/course-format.md) is read by
`load_course` / `parse_course`: first the JSON Schema in `data/schema/`, then the checks a schema
cannot express. Any fault raises `CourseError`, whose text is one line naming the field and the
value at fault. Quantities are converted to their code's canonical unit once, here; the value and
unit as entered are kept on the observation so that export gives back what was typed.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import inspect
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from il2_tox import units

if TYPE_CHECKING:
    import jsonschema  # imported when a document is checked: export and reading need none of it

FORMAT = "il2-tox-course/1"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "schema" / "course-v1.schema.json"

IRAE_ORGANS = (
    "hepatitis",
    "colitis",
    "pneumonitis",
    "thyroiditis",
    "hypophysitis",
    "adrenal_insufficiency",
    "nephritis",
    "myocarditis",
    "dermatitis",
    "arthritis",
    "diabetes",
    "other",
)
DOSE_STATUSES = ("given", "held", "not_given")
MAX_DOSES_PER_CYCLE = 14


class CourseError(ValueError):
    """A course that is not valid; `str()` is one line: `field: what is wrong (value)`."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field = field_path
        self.message = message


@dataclass(frozen=True)
class Patient:
    id: str
    weight_kg: float
    name: str | None = None
    sex: str | None = None
    birth_date: date | None = None
    height_cm: float | None = None


@dataclass(frozen=True)
class Admission:
    admitted_at: datetime
    ward: str | None = None
    bed: str | None = None
    regimen_iu_per_kg: int = 600_000
    usual_sbp_mmhg: float | None = None
    spo2_target: str = "94-98"


@dataclass(frozen=True)
class History:
    brain_metastases: str | None = None
    systemic_steroids: bool | None = None
    ecog: int | None = None
    prior_therapies: tuple[str, ...] = ()


@dataclass(frozen=True)
class PriorToxicity:
    agent: str
    irae: str
    grade: int
    resolved: date | None
    onset: date | None = None
    steroids: bool | None = None
    note: str | None = None


@dataclass(frozen=True)
class Dose:
    cycle: int
    number: int
    time: datetime
    status: str
    reason: str | None = None


@dataclass(frozen=True, init=False)
class Observation:
    """One measurement. `value` is canonical (`unit` is the code's canonical unit).

    `entered_value` / `entered_unit` are what was typed or received; `ref_low` / `ref_high` are
    the reporting lab's limits, canonical. Coded items (ACVPU, rales...) have string values and
    no unit.
    """

    time: datetime
    code: str
    value: float | str
    unit: str | None = None
    entered_value: float | str | None = None
    entered_unit: str | None = None
    ref_low: float | None = None
    ref_high: float | None = None
    period_h: float | None = None

    def __init__(
        self,
        time: datetime,
        code: str,
        value: float | str,
        unit: str | None = None,
        entered_value: float | str | None = None,
        entered_unit: str | None = None,
        ref_low: float | None = None,
        ref_high: float | None = None,
        period_h: float | None = None,
    ) -> None:
        # The dataclass's own __init__ for a frozen class sets each field through
        # object.__setattr__, most of the cost of building one (a course has thousands);
        # filling the instance dict directly does the same, twice as fast. Same parameters, in
        # field order (checked below the class).
        fields = self.__dict__
        fields["time"] = time
        fields["code"] = code
        fields["value"] = value
        fields["unit"] = unit
        fields["entered_value"] = entered_value
        fields["entered_unit"] = entered_unit
        fields["ref_low"] = ref_low
        fields["ref_high"] = ref_high
        fields["period_h"] = period_h

    @property
    def concept(self) -> str:
        """The canonical code (SpO2 2708-6 reads as 59408-5)."""
        return units.concept_of(self.code)


_OBSERVATION_INIT = inspect.signature(Observation.__init__).parameters
assert [p.name for p in _OBSERVATION_INIT.values()][1:] == [
    f.name for f in dataclasses.fields(Observation)
], "Observation.__init__ must take every field, in order"
assert all(
    _OBSERVATION_INIT[f.name].default == f.default
    for f in dataclasses.fields(Observation)
    if f.default is not dataclasses.MISSING
), "Observation.__init__ must keep the fields' defaults"


@dataclass(frozen=True)
class Course:
    patient: Patient
    admission: Admission
    history: History | None = None
    prior_toxicities: tuple[PriorToxicity, ...] = ()
    doses: tuple[Dose, ...] = ()
    observations: tuple[Observation, ...] = field(default=())


# ---------------------------------------------------------------------------------------------
# Reading


@cache
def schema() -> dict[str, Any]:
    """Return the course JSON Schema shipped in data/schema/."""
    with SCHEMA_PATH.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


@cache
def _validator() -> jsonschema.protocols.Validator:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema())
    validator: jsonschema.protocols.Validator = cls(schema())
    return validator


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_]+")


def _field_path(parts: Iterable[object]) -> str:
    """Return `observations[3].unit`; a key that is not a plain name (empty, or holding a dot,
    a bracket or a space) is quoted, `patient[""]`, so the path stays unambiguous."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _PLAIN_NAME.fullmatch(str(part)):
            text += f"[{json.dumps(str(part), ensure_ascii=False)}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(document)"


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _schema_error(error: jsonschema.ValidationError) -> CourseError:
    path = list(error.absolute_path)
    validator = error.validator
    expected: Any = error.validator_value
    instance: Any = error.instance
    schema_part: Any = error.schema
    if validator == "required":
        missing = [name for name in expected if name not in instance]
        name = missing[0] if missing else "?"
        return CourseError(_field_path([*path, name]), "is required but missing")
    if validator == "additionalProperties":
        allowed = set(schema_part.get("properties", {}))
        extra = sorted(key for key in instance if key not in allowed)
        name = extra[0] if extra else "?"
        return CourseError(_field_path([*path, name]), "is not a field of this format")
    where = _field_path(path)
    value = _short(error.instance)
    if validator == "enum":
        allowed_values = ", ".join(str(v) for v in expected)
        if len(allowed_values) > 120:
            allowed_values = allowed_values[:117] + "..."
        return CourseError(where, f"{value} is not one of {allowed_values}")
    if validator == "const":
        return CourseError(where, f"{value} must be {_short(error.validator_value)}")
    if validator == "type":
        return CourseError(where, f"{value} must be of type {error.validator_value}")
    if validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "exclusiveMinimum": "above",
            "maximum": "at most",
            "exclusiveMaximum": "below",
        }
        return CourseError(where, f"{value} must be {words[validator]} {error.validator_value}")
    if validator == "pattern":
        return CourseError(where, f"{value} is not a date of the form YYYY-MM-DD")
    if validator in ("minLength", "maxLength"):
        return CourseError(where, f"{value} has the wrong length")
    if validator == "anyOf" and path and path[-1] == "resolved":
        return CourseError(where, f"{value} must be a date YYYY-MM-DD or null")
    return CourseError(where, f"{value}: {error.message}")


def _reject_constant(name: str) -> float:
    raise CourseError("(document)", f"{name} is not a number JSON allows")


def load_course(path: str | Path) -> Course:
    """Read and validate a course file; raise CourseError with one line naming the fault."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CourseError("file", f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CourseError("file", f"{path} cannot be read ({exc.__class__.__name__})") from None
    return parse_course_text(text)


def parse_course_text(text: str) -> Course:
    """Parse course JSON text; raise CourseError for bad JSON or a bad course."""
    with gc_paused():
        return parse_course(decode_json(text))


def decode_json(text: str) -> object:
    """Return the decoded JSON document (numbers exactly as Python parses them).

    Raise CourseError for text that is not JSON, or that holds NaN or Infinity (JSON has no
    such numbers; Python's decoder would accept them).
    """
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise CourseError(
            "(document)", f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while building a course's thousands of objects.

    They hold no reference cycles, so there is nothing for it to find; left on, it would scan
    the growing heap again and again as they are allocated (in cohort mode, over a tenth of the
    time). Reference counting still frees everything as usual; the collector runs again on
    exit. Only re-enables what was enabled, so nesting and other threads are safe.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_course(data: object) -> Course:
    """Validate a decoded course document and return the Course; raise CourseError."""
    if not isinstance(data, dict):
        raise CourseError("(document)", "a course file must hold one JSON object")
    fmt = data.get("format")
    if fmt is not None and fmt != FORMAT:
        raise CourseError("format", f"{_short(fmt)} is not supported; expected {FORMAT!r}")
    # Observations and doses are most of a file: the shallow schema skips their items and
    # compiled checks that accept nothing the items schemas refuse take them (tests prove it).
    # Any doubt goes to the full schema, which also words the message.
    shallow_ok = _shallow_validator().is_valid(data)
    if shallow_ok and all(_dose_ok(item) for item in data.get("doses") or ()):
        observations = _read_observations(data["observations"])
        if observations is not None:
            return _build(data, observations)
    # The careful path: the schema words the first fault, then `_build` checks what it cannot.
    if (
        not shallow_ok
        or not all(_observation_ok(item) for item in data.get("observations") or ())
        or not all(_dose_ok(item) for item in data.get("doses") or ())
    ):
        errors = sorted(_validator().iter_errors(data), key=_error_order)
        if errors:
            raise _schema_error(errors[0])
    return _build(data)


@cache
def _shallow_validator() -> jsonschema.protocols.Validator:
    """Return a validator for the schema with the observation and dose items left to
    `_observation_ok` and `_dose_ok`."""
    import jsonschema

    shallow = copy.deepcopy(schema())
    shallow["properties"]["observations"] = {"type": "array"}
    del shallow["properties"]["doses"]["items"]
    cls = jsonschema.validators.validator_for(shallow)
    validator: jsonschema.protocols.Validator = cls(shallow)
    return validator


@cache
def _observation_items() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """Return the observation item schema's (required keys, allowed keys, codes)."""
    items = schema()["properties"]["observations"]["items"]
    return (
        frozenset(items["required"]),
        frozenset(items["properties"]),
        frozenset(items["properties"]["code"]["enum"]),
    )


def _is_number(value: object) -> bool:
    return type(value) is int or type(value) is float


def _observation_ok(item: object) -> bool:
    """Return True only if the observations item schema accepts `item` (a fast path)."""
    if type(item) is not dict:
        return False
    required, allowed, codes = _observation_items()
    keys = item.keys()
    if not required <= keys or not keys <= allowed:
        return False
    when = item["time"]
    value = item["value"]
    code = item["code"]
    if type(when) is not str or len(when) < 10 or type(code) is not str or code not in codes:
        return False
    if not (_is_number(value) or type(value) is str):
        return False
    if "unit" in item and type(item["unit"]) is not str:
        return False
    for key in ("ref_low", "ref_high"):
        if key in item and not _is_number(item[key]):
            return False
    if "period_h" in item:
        period = item["period_h"]
        if not _is_number(period) or not 0 < period <= 24:
            return False
    return True


@cache
def _dose_items() -> tuple[
    frozenset[str], frozenset[str], dict[str, tuple[int, int]], frozenset[str], int
]:
    """Return the dose item schema's (required keys, allowed keys, integer bounds of cycle and
    number, statuses, longest reason)."""
    items = schema()["properties"]["doses"]["items"]
    fields = items["properties"]
    return (
        frozenset(items["required"]),
        frozenset(fields),
        {key: (fields[key]["minimum"], fields[key]["maximum"]) for key in ("cycle", "number")},
        frozenset(fields["status"]["enum"]),
        fields["reason"]["maxLength"],
    )


def _dose_ok(item: object) -> bool:
    """Return True only if the doses item schema accepts `item` (a fast path)."""
    if type(item) is not dict:
        return False
    required, allowed, bounds, statuses, longest_reason = _dose_items()
    keys = item.keys()
    if not required <= keys or not keys <= allowed:
        return False
    for key, (low, high) in bounds.items():
        number = item[key]
        if type(number) is not int or not low <= number <= high:
            return False
    when, status = item["time"], item["status"]
    if type(when) is not str or len(when) < 10 or type(status) is not str:
        return False
    if status not in statuses:
        return False
    if "reason" in item:
        reason = item["reason"]
        if type(reason) is not str or len(reason) > longest_reason:
            return False
    return True


def _error_order(error: jsonschema.ValidationError) -> tuple[list[tuple[int, int, str]], bool]:
    """Order schema errors by their place in the document; "required" first at one place."""
    place = [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path]
    return (place, error.validator != "required")


def parse_time(text: str, where: str) -> datetime:
    """Return an aware UTC datetime from ISO 8601 text; a time without an offset is an error."""
    parsed = _parse_utc(text)
    if isinstance(parsed, datetime):
        return parsed
    raise CourseError(where, f"{_short(text)} {parsed}")


@lru_cache(maxsize=4096)
def _parse_utc(text: str) -> datetime | str:
    """Return the UTC datetime, or the reason the text is not one (cached: a chart repeats its
    times, one per item of a set)."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return "is not an ISO 8601 date-time"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return "has no UTC offset (add Z or +hh:mm)"
    if "T" not in text and " " not in text:
        return "is a date, not a date-time"
    return parsed.astimezone(UTC)


def _parse_date(text: str | None, where: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CourseError(where, f"{_short(text)} is not a valid date") from None


def _build(data: Mapping[str, Any], observations: tuple[Observation, ...] | None = None) -> Course:
    """Return the Course of a document the schema accepts; raise CourseError for the faults it
    cannot see. `observations`, when given, are the document's, already read and checked."""
    p = data["patient"]
    patient = Patient(
        id=p["id"],
        weight_kg=float(p["weight_kg"]),
        name=p.get("name"),
        sex=p.get("sex"),
        birth_date=_parse_date(p.get("birth_date"), "patient.birth_date"),
        height_cm=float(p["height_cm"]) if p.get("height_cm") is not None else None,
    )
    a = data["admission"]
    admission = Admission(
        admitted_at=parse_time(a["admitted_at"], "admission.admitted_at"),
        ward=a.get("ward"),
        bed=a.get("bed"),
        regimen_iu_per_kg=int(a.get("regimen_iu_per_kg", 600_000)),
        usual_sbp_mmhg=float(a["usual_sbp_mmhg"]) if a.get("usual_sbp_mmhg") is not None else None,
        spo2_target=a.get("spo2_target", "94-98"),
    )
    history = None
    if "history" in data:
        h = data["history"]
        history = History(
            brain_metastases=h.get("brain_metastases"),
            systemic_steroids=h.get("systemic_steroids"),
            ecog=h.get("ecog"),
            prior_therapies=tuple(h.get("prior_therapies", ())),
        )
    prior = []
    for i, t in enumerate(data.get("prior_toxicities", ())):
        where = f"prior_toxicities[{i}]"
        onset = _parse_date(t.get("onset"), f"{where}.onset")
        resolved = _parse_date(t["resolved"], f"{where}.resolved")
        if onset is not None and resolved is not None and resolved < onset:
            raise CourseError(f"{where}.resolved", f"{resolved} is before the onset {onset}")
        prior.append(
            PriorToxicity(
                agent=t["agent"],
                irae=t["irae"],
                grade=t["grade"],
                resolved=resolved,
                onset=onset,
                steroids=t.get("steroids"),
                note=t.get("note"),
            )
        )
    doses = []
    seen: dict[tuple[int, int], int] = {}
    for i, d in enumerate(data["doses"]):
        key = (d["cycle"], d["number"])
        if key in seen:
            raise CourseError(
                f"doses[{i}].number",
                f"dose {d['number']} of cycle {d['cycle']} is already doses[{seen[key]}]",
            )
        seen[key] = i
        doses.append(
            Dose(
                cycle=d["cycle"],
                number=d["number"],
                time=parse_time(d["time"], f"doses[{i}].time"),
                status=d["status"],
                reason=d.get("reason"),
            )
        )
    if observations is None:
        observations = tuple(
            parse_observation(o, f"observations[{i}]") for i, o in enumerate(data["observations"])
        )
    return Course(patient, admission, history, tuple(prior), tuple(doses), observations)


def parse_observation(o: Mapping[str, Any], where: str) -> Observation:
    """Check one observation against its code's units, values and hard limits; convert it."""
    code = o["code"]
    spec = units.spec_for(code)
    if spec is None:
        raise CourseError(f"{where}.code", f"{_short(code)} is not a code of this format")
    time = _parse_utc(o["time"])  # parse_time, with the field's name built only on a fault
    if not isinstance(time, datetime):
        raise CourseError(f"{where}.time", f"{_short(o['time'])} {time}")
    value = o["value"]
    unit = o.get("unit")
    period_h = o.get("period_h")
    if spec.volume and period_h is None:
        raise CourseError(f"{where}.period_h", f"is required for {spec.name} ({code})")
    if not spec.volume and period_h is not None:
        raise CourseError(f"{where}.period_h", f"is only for volumes, not {spec.name} ({code})")
    if spec.kind == "coded":
        if unit is not None:
            raise CourseError(f"{where}.unit", f"{spec.name} ({code}) takes no unit")
        if "ref_low" in o or "ref_high" in o:
            raise CourseError(f"{where}.ref_high", f"{spec.name} ({code}) takes no limits")
        if not isinstance(value, str) or value not in spec.values:
            raise CourseError(
                f"{where}.value",
                f"{_short(value)} is not one of {', '.join(spec.values)} for {spec.name}",
            )
        return Observation(time=time, code=code, value=value, entered_value=value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CourseError(f"{where}.value", f"{_short(value)} must be a number for {spec.name}")
    if unit is None:
        raise CourseError(
            f"{where}.unit",
            f"is missing; {spec.name} ({code}) needs one of {_unit_list(spec)}",
        )
    found = _unit_of(code, unit) if type(unit) is str else None
    if found is None:
        raise CourseError(
            f"{where}.unit",
            f"{_short(unit)} is not accepted for {spec.name} ({code}); use {_unit_list(spec)}",
        )
    to_canonical = found.to_canonical
    canonical = float(value) if to_canonical is units.identity else to_canonical(float(value))
    assert spec.low is not None and spec.high is not None
    if not spec.low <= canonical <= spec.high:
        raise CourseError(
            f"{where}.value",
            f"{_short(value)} {found.display} is outside {_possible_range(spec, found)}",
        )
    ref_low = _ref(o, "ref_low", found, spec, where)
    ref_high = _ref(o, "ref_high", found, spec, where)
    if ref_low is not None and ref_high is not None and ref_low > ref_high:
        raise CourseError(f"{where}.ref_low", f"{o['ref_low']} is above ref_high {o['ref_high']}")
    return Observation(
        time,
        code,
        canonical,
        _canonical_unit(code),
        value,
        unit,
        ref_low,
        ref_high,
        float(period_h) if period_h is not None else None,
    )


class _Reading:
    """What reading one (code, unit) pair needs: its spec, the unit found and its conversion."""

    __slots__ = ("code", "coded", "high", "low", "ref", "to_canonical", "unit", "values", "volume")

    def __init__(self, code: str, spec: units.CodeSpec, found: units.Unit | None) -> None:
        self.code = code
        self.coded = spec.kind == "coded"
        self.values = frozenset(spec.values)
        self.volume = spec.volume
        self.unit = spec.canonical_unit
        # A coded item has no unit, conversion or limits (never used: it returns before them).
        self.to_canonical = units.identity if found is None else found.to_canonical
        self.low = -math.inf if spec.low is None else spec.low
        self.high = math.inf if spec.high is None else spec.high
        self.ref = self.to_canonical  # as `_ref` converts the lab's limits


@lru_cache(maxsize=1024)
def _reading_of(code: object, unit: object) -> _Reading | None:
    """Return how to read an observation of this code in this unit (None for no unit), or None
    when the pair is not one the fast path takes (unknown code, unit not accepted, a unit on a
    coded item): those go the careful way, which words the fault."""
    if type(code) is not str or code not in _observation_items()[2]:
        return None
    spec = units.spec_for(code)
    if spec is None:
        return None
    if spec.kind == "coded":
        return _Reading(code, spec, None) if unit is None else None
    if type(unit) is not str or spec.low is None or spec.high is None:
        return None
    found = _unit_of(code, unit)
    return _Reading(code, spec, found) if found is not None else None


def _read_observations(items: list[Any]) -> tuple[Observation, ...] | None:
    """Return the observations of a course document, or None at the first item with any doubt.

    The fast path: one pass doing what `_observation_ok` and `parse_observation` do between
    them, for the items both accept, and giving the same observations. Anything else (a fault,
    or a shape it does not know) returns None, and the careful path reads the document again
    and words the fault; tests prove that it accepts only what those two accept.
    """
    required, allowed, _ = _observation_items()
    times: dict[str, datetime] = {}
    out: list[Observation] = []
    append = out.append
    isfinite = math.isfinite
    for item in items:
        if type(item) is not dict:
            return None
        keys = item.keys()
        if not required <= keys or not keys <= allowed:
            return None
        unit = item.get("unit")
        if unit is None and "unit" in keys:
            return None
        try:
            reading = _reading_of(item["code"], unit)
        except TypeError:  # an unhashable code or unit (a JSON list or object)
            return None
        if reading is None:
            return None
        text = item["time"]
        time = times.get(text) if type(text) is str else None
        if time is None:
            if type(text) is not str or len(text) < 10:
                return None
            parsed = _parse_utc(text)
            if not isinstance(parsed, datetime):
                return None
            time = times[text] = parsed
        value = item["value"]
        period_h = item.get("period_h")
        if reading.volume:
            if not (type(period_h) is float or type(period_h) is int) or not 0 < period_h <= 24:
                return None
        elif "period_h" in keys:
            return None
        if reading.coded:
            if "ref_low" in keys or "ref_high" in keys:
                return None
            if type(value) is not str or value not in reading.values:
                return None
            append(Observation(time, reading.code, value, None, value))
            continue
        if not (type(value) is float or type(value) is int) or not isfinite(value):
            return None
        to_canonical = reading.to_canonical
        canonical = float(value) if to_canonical is units.identity else to_canonical(float(value))
        if not reading.low <= canonical <= reading.high:
            return None
        ref_low = ref_high = None
        if "ref_low" in keys:
            raw = item["ref_low"]
            if not (type(raw) is float or type(raw) is int) or not isfinite(raw) or raw < 0:
                return None
            ref_low = reading.ref(float(raw))
            if not reading.low <= ref_low <= reading.high:
                return None
        if "ref_high" in keys:
            raw = item["ref_high"]
            if not (type(raw) is float or type(raw) is int) or not isfinite(raw) or raw <= 0:
                return None
            ref_high = reading.ref(float(raw))
            if not reading.low <= ref_high <= reading.high:
                return None
        if ref_low is not None and ref_high is not None and ref_low > ref_high:
            return None
        append(
            Observation(
                time,
                reading.code,
                canonical,
                reading.unit,
                value,
                unit,
                ref_low,
                ref_high,
                None if period_h is None else float(period_h),
            )
        )
    return tuple(out)


@lru_cache(maxsize=512)
def _unit_of(code: str, ucum: str) -> units.Unit | None:
    """Return `spec_for(code).unit(ucum)`, looked up once per pair (called once per reading)."""
    spec = units.spec_for(code)
    return spec.unit(ucum) if spec is not None else None


@lru_cache(maxsize=256)
def _canonical_unit(code: str) -> str | None:
    spec = units.spec_for(code)
    return spec.canonical_unit if spec is not None else None


def _ref(
    o: Mapping[str, Any], key: str, unit: units.Unit, spec: units.CodeSpec, where: str
) -> float | None:
    """Return a lab's reference limit, canonical; refuse one that cannot be a limit: negative,
    a zero upper limit, or outside the range a value of the item can have (a limit there is
    not a lab's normal range but a typing or unit fault, e.g. a temperature limit of 0 °F)."""
    raw = o.get(key)
    if raw is None:
        return None
    if not math.isfinite(raw) or raw < 0 or (key == "ref_high" and raw == 0):
        raise CourseError(f"{where}.{key}", f"{_short(raw)} is not a usable reference limit")
    canonical = unit.to_canonical(float(raw))
    assert spec.low is not None and spec.high is not None
    if not spec.low <= canonical <= spec.high:
        raise CourseError(
            f"{where}.{key}",
            f"{_short(raw)} {unit.display} is not a usable reference limit: outside "
            f"{_possible_range(spec, unit)}",
        )
    return canonical


def _possible_range(spec: units.CodeSpec, unit: units.Unit) -> str:
    """E.g. "the possible range for body temperature (77–113 °F)": the hard limits, in `unit`."""
    assert spec.low is not None and spec.high is not None
    low, high = unit.from_canonical(spec.low), unit.from_canonical(spec.high)
    return f"the possible range for {spec.name} ({_fmt(low)}–{_fmt(high)} {unit.display})"


def _unit_list(spec: units.CodeSpec) -> str:
    return ", ".join(u.ucum for u in spec.units)


def _fmt(number: float) -> str:
    return f"{number:.6g}"


# ---------------------------------------------------------------------------------------------
# Writing


def format_time(moment: datetime) -> str:
    """Return an aware datetime as ISO 8601 in UTC with an explicit +00:00 offset."""
    return moment.astimezone(UTC).isoformat()


def _plain(number: float) -> float | int:
    """Return a float that prints without binary noise (e.g. 2.9999999999999996 -> 3.0)."""
    rounded = float(f"{number:.12g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded


def observation_to_dict(obs: Observation) -> dict[str, Any]:
    """Return the course-file form of an observation, in the value and unit as entered."""
    if obs.unit is None:
        return {"time": format_time(obs.time), "code": obs.code, "value": obs.value}
    unit = obs.entered_unit or obs.unit
    value = obs.entered_value if obs.entered_value is not None else obs.value
    out: dict[str, Any] = {"time": format_time(obs.time), "code": obs.code, "value": value}
    out["unit"] = unit
    for key in ("ref_low", "ref_high"):
        limit = getattr(obs, key)
        if limit is not None:
            out[key] = _plain(units.from_canonical(obs.code, limit, unit))
    if obs.period_h is not None:
        out["period_h"] = _plain(obs.period_h)
    return out


def course_to_dict(course: Course) -> dict[str, Any]:
    """Return the course as an `il2-tox-course/1` document."""
    p = course.patient
    patient: dict[str, Any] = {"id": p.id}
    if p.name is not None:
        patient["name"] = p.name
    if p.sex is not None:
        patient["sex"] = p.sex
    if p.birth_date is not None:
        patient["birth_date"] = p.birth_date.isoformat()
    if p.height_cm is not None:
        patient["height_cm"] = _plain(p.height_cm)
    patient["weight_kg"] = _plain(p.weight_kg)
    a = course.admission
    admission: dict[str, Any] = {"admitted_at": format_time(a.admitted_at)}
    if a.ward is not None:
        admission["ward"] = a.ward
    if a.bed is not None:
        admission["bed"] = a.bed
    admission["regimen_iu_per_kg"] = a.regimen_iu_per_kg
    if a.usual_sbp_mmhg is not None:
        admission["usual_sbp_mmhg"] = _plain(a.usual_sbp_mmhg)
    admission["spo2_target"] = a.spo2_target
    doc: dict[str, Any] = {"format": FORMAT, "patient": patient, "admission": admission}
    if course.history is not None:
        h = course.history
        history: dict[str, Any] = {}
        if h.brain_metastases is not None:
            history["brain_metastases"] = h.brain_metastases
        if h.systemic_steroids is not None:
            history["systemic_steroids"] = h.systemic_steroids
        if h.ecog is not None:
            history["ecog"] = h.ecog
        history["prior_therapies"] = list(h.prior_therapies)
        doc["history"] = history
    if course.prior_toxicities:
        doc["prior_toxicities"] = [_toxicity_to_dict(t) for t in course.prior_toxicities]
    doc["doses"] = [_dose_to_dict(d) for d in course.doses]
    doc["observations"] = [observation_to_dict(o) for o in course.observations]
    return doc


def _toxicity_to_dict(t: PriorToxicity) -> dict[str, Any]:
    out: dict[str, Any] = {"agent": t.agent, "irae": t.irae, "grade": t.grade}
    if t.onset is not None:
        out["onset"] = t.onset.isoformat()
    out["resolved"] = t.resolved.isoformat() if t.resolved is not None else None
    if t.steroids is not None:
        out["steroids"] = t.steroids
    if t.note is not None:
        out["note"] = t.note
    return out


def _dose_to_dict(d: Dose) -> dict[str, Any]:
    out: dict[str, Any] = {
        "cycle": d.cycle,
        "number": d.number,
        "time": format_time(d.time),
        "status": d.status,
    }
    if d.reason is not None:
        out["reason"] = d.reason
    return out


def dump_course(course: Course) -> str:
    """Return the course as pretty-printed JSON text."""
    return json.dumps(course_to_dict(course), indent=2, ensure_ascii=False) + "\n"


def save_course(course: Course, path: str | Path) -> None:
    """Write the course to a file (written whole, then renamed, so a crash leaves no half file)."""
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(dump_course(course), encoding="utf-8")
    partial.replace(target)
