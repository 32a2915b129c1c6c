"""Hypothesis strategies for valid `il2-tox-course/1` documents and the courses they parse to.

    from tests.strategies import course_documents, courses

Documents use every code, every accepted unit (SI units, °F, lb), times with any UTC offset,
numbers as JSON ints or floats, and unicode text. Every document is valid: `courses()` runs it
through `parse_course`. Text never holds NUL (U+0000): PostgreSQL cannot store it, and the
import refuses it on purpose (tested on its own).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from il2_tox import units
from il2_tox.course import DOSE_STATUSES, IRAE_ORGANS, Course, parse_course

OFFSETS = (0, 60, -300, 330, -480, 545, 840, -720)  # minutes east of UTC
SEXES = ("female", "male", "other", "unknown")


def texts(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """Return unicode text without surrogates or NUL."""
    alphabet = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
    return st.text(alphabet, min_size=min_size, max_size=max_size)


@st.composite
def iso_times(draw: st.DrawFn) -> str:
    """Return an ISO 8601 date-time with an offset (`Z` or `±hh:mm`), 2020 to 2035."""
    moment = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31)))
    if draw(st.booleans()):
        moment = moment.replace(microsecond=0)
    offset = draw(st.sampled_from(OFFSETS))
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset)))
    text = aware.isoformat()
    if offset == 0 and draw(st.booleans()):
        text = text.replace("+00:00", "Z")
    return text


def iso_dates() -> st.SearchStrategy[str]:
    return st.dates(min_value=date(1920, 1, 1), max_value=date(2035, 12, 31)).map(date.isoformat)


def numbers(low: float, high: float) -> st.SearchStrategy[int | float]:
    """Return JSON numbers in [low, high]: ints, one- or two-decimal floats, or any float."""
    ints = st.integers(math.ceil(low), math.floor(high)) if math.ceil(low) <= high else st.nothing()
    floats = st.floats(low, high, allow_nan=False, allow_infinity=False)
    return st.one_of(
        ints,
        floats.map(lambda x: round(x, 1)),
        floats.map(lambda x: round(x, 2)),
        floats,
    ).filter(lambda x: low <= x <= high)


@st.composite
def observations(draw: st.DrawFn) -> dict[str, Any]:
    """Return one valid observation of any code, in any unit the code accepts."""
    spec = units.CODES[draw(st.sampled_from(sorted(units.CODES)))]
    item: dict[str, Any] = {"time": draw(iso_times()), "code": spec.code}
    if spec.kind == "coded":
        item["value"] = draw(st.sampled_from(spec.values))
        return item
    unit = draw(st.sampled_from(spec.units))
    assert spec.low is not None and spec.high is not None
    hard_low, hard_high = spec.low, spec.high
    low, high = sorted((unit.from_canonical(hard_low), unit.from_canonical(hard_high)))
    item["value"] = draw(
        numbers(low, high).filter(lambda v: hard_low <= unit.to_canonical(float(v)) <= hard_high)
    )
    item["unit"] = unit.ucum
    # A lab's limits lie where the item's values can (the reader refuses others).
    in_range = numbers(max(low, 0), high).filter(
        lambda v: hard_low <= unit.to_canonical(float(v)) <= hard_high
    )
    limits = sorted(draw(st.lists(in_range, min_size=2, max_size=2)))
    if draw(st.booleans()):
        item["ref_low"] = limits[0]
    if limits[1] > 0 and draw(st.booleans()):
        item["ref_high"] = limits[1]
    if spec.volume:
        item["period_h"] = draw(numbers(0.25, units.MAX_PERIOD_H))
    return item


@st.composite
def doses(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Return a list of doses, each (cycle, number) at most once."""
    slots = draw(
        st.lists(st.tuples(st.integers(1, 2), st.integers(1, 14)), unique=True, max_size=6)
    )
    out = []
    for cycle, number in slots:
        item: dict[str, Any] = {
            "cycle": cycle,
            "number": number,
            "time": draw(iso_times()),
            "status": draw(st.sampled_from(DOSE_STATUSES)),
        }
        if draw(st.booleans()):
            item["reason"] = draw(texts(200))
        out.append(item)
    return out


@st.composite
def prior_toxicities(draw: st.DrawFn) -> dict[str, Any]:
    onset = draw(st.none() | st.dates(date(2015, 1, 1), date(2030, 12, 31)))
    resolved = draw(st.none() | st.dates(onset or date(2015, 1, 1), date(2031, 12, 31)))
    item: dict[str, Any] = {
        "agent": draw(texts(200, min_size=1)),
        "irae": draw(st.sampled_from(IRAE_ORGANS)),
        "grade": draw(st.integers(1, 5)),
        "resolved": resolved.isoformat() if resolved else None,
    }
    if onset is not None:
        item["onset"] = onset.isoformat()
    if draw(st.booleans()):
        item["steroids"] = draw(st.booleans())
    if draw(st.booleans()):
        item["note"] = draw(texts(300))
    return item


def _optional(draw: st.DrawFn, out: dict[str, Any], key: str, values: Any) -> None:
    if draw(st.booleans()):
        out[key] = draw(values)


@st.composite
def course_documents(draw: st.DrawFn, max_observations: int = 12) -> dict[str, Any]:
    """Return a valid course document; sizes kept small so database tests stay quick."""
    patient: dict[str, Any] = {"id": draw(texts(64, min_size=1))}
    _optional(draw, patient, "name", texts(200))
    _optional(draw, patient, "sex", st.sampled_from(SEXES))
    _optional(draw, patient, "birth_date", iso_dates())
    _optional(draw, patient, "height_cm", numbers(30.01, 260))
    patient["weight_kg"] = draw(numbers(20.01, 400))
    admission: dict[str, Any] = {"admitted_at": draw(iso_times())}
    _optional(draw, admission, "ward", texts(40))
    _optional(draw, admission, "bed", texts(40))
    _optional(draw, admission, "regimen_iu_per_kg", st.integers(100_000, 1_000_000))
    _optional(draw, admission, "usual_sbp_mmhg", numbers(50, 250))
    _optional(draw, admission, "spo2_target", st.sampled_from(("94-98", "88-92")))
    doc: dict[str, Any] = {
        "format": "il2-tox-course/1",
        "patient": patient,
        "admission": admission,
    }
    if draw(st.booleans()):
        history: dict[str, Any] = {}
        _optional(
            draw,
            history,
            "brain_metastases",
            st.sampled_from(("none", "treated_stable", "untreated_or_active")),
        )
        _optional(draw, history, "systemic_steroids", st.booleans())
        _optional(draw, history, "ecog", st.integers(0, 5))
        _optional(draw, history, "prior_therapies", st.lists(texts(200, min_size=1), max_size=3))
        doc["history"] = history
    if draw(st.booleans()):
        doc["prior_toxicities"] = draw(st.lists(prior_toxicities(), max_size=3))
    doc["doses"] = draw(doses())
    doc["observations"] = draw(st.lists(observations(), max_size=max_observations))
    return doc


def courses(max_observations: int = 12) -> st.SearchStrategy[Course]:
    """Return valid courses (documents parsed by `parse_course`)."""
    return course_documents(max_observations=max_observations).map(parse_course)
