"""The one-pass observation reader must give what the careful path gives, or step aside.

`_read_observations` reads a course's observations in one pass; on any doubt it returns None
and the careful path (the item schema, then `parse_observation`) reads them again and words
the fault. So it must never accept an item either of those refuses, and must build exactly the
observation `parse_observation` builds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from il2_tox.course import (
    CourseError,
    _read_observations,
    course_to_dict,
    load_course,
    parse_course,
    parse_observation,
    schema,
)
from il2_tox.units import CODES
from tests.builders import CourseBuilder

ITEM_VALIDATOR = jsonschema.Draft202012Validator(schema()["properties"]["observations"]["items"])
DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"

numbers = st.one_of(
    st.integers(-5, 400),
    st.floats(allow_nan=False, min_value=-10, max_value=30_000),
    st.just(float("inf")),
    st.just(10**20),
)
units = st.sampled_from(
    [unit.ucum for spec in CODES.values() for unit in spec.units] + ["kg/m2", ""]
)
plausible = st.fixed_dictionaries(
    {
        "time": st.sampled_from(
            ["2026-11-20T07:30:00Z", "2026-11-20T07:30:00+02:00", "2026-11-20T07:30", "x", 7]
        ),
        "code": st.sampled_from([*CODES, "1234-5"]),
        "value": st.one_of(
            numbers,
            st.sampled_from(["A", "C", "V", "none", "basal", "sinus", "1/3", "x", ""]),
            st.booleans(),
            st.none(),
        ),
    },
    optional={
        "unit": st.one_of(units, st.none(), st.integers(), st.lists(st.text(), max_size=1)),
        "period_h": st.one_of(numbers, st.booleans(), st.none()),
        "ref_high": st.one_of(numbers, st.text(max_size=2), st.none(), st.booleans()),
        "ref_low": st.one_of(numbers, st.none(), st.booleans()),
        "note": st.text(max_size=2),
    },
)


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    """Return an item of a known code in one of its units, at the edges of what it accepts."""
    spec = CODES[draw(st.sampled_from(sorted(CODES)))]
    item: dict[str, Any] = {"time": "2026-11-20T07:30:00Z", "code": spec.code}
    if spec.kind == "coded":
        item["value"] = draw(st.sampled_from([*spec.values, "x"]))
    else:
        unit = draw(st.sampled_from(spec.units))
        item["unit"] = unit.ucum
        assert spec.low is not None and spec.high is not None
        low, high = unit.from_canonical(spec.low), unit.from_canonical(spec.high)
        item["value"] = draw(
            st.one_of(
                st.sampled_from([low, high, int(high), (low + high) / 2]),
                st.floats(low - 1, high + 1, allow_nan=False),
            )
        )
        if draw(st.booleans()):
            item["ref_high"] = draw(st.sampled_from([0, 0.0, 40, 12.5, -1]))
        if draw(st.booleans()):
            item["ref_low"] = draw(st.sampled_from([0, 3, 50.5, -0.1]))
    if spec.volume or draw(st.integers(0, 9)) == 0:
        item["period_h"] = draw(st.sampled_from([8, 0.5, 24, 24.0001, 0, 6.0]))
    return item


def careful(item: Any) -> Any:
    """Return what the careful path makes of one item: its observation, or None if refused."""
    if not ITEM_VALIDATOR.is_valid(item):
        return None
    try:
        return parse_observation(item, "observations[0]")
    except CourseError:
        return None


@settings(max_examples=1500)
@given(st.one_of(plausible, near_valid()))
def test_the_fast_reader_gives_what_the_careful_path_gives(item: Any) -> None:
    fast = _read_observations([item])
    if fast is not None:
        assert fast == (careful(item),)
        assert repr(fast[0]) == repr(careful(item))


@settings(max_examples=300)
@given(st.lists(st.one_of(plausible, near_valid()), min_size=2, max_size=4))
def test_one_doubtful_item_sends_the_whole_course_the_careful_way(items: list[Any]) -> None:
    fast = _read_observations(items)
    if fast is not None:
        assert list(fast) == [careful(item) for item in items]


def test_the_fast_reader_takes_every_valid_kind_of_observation() -> None:
    course = (
        CourseBuilder()
        .obs("8480-6", 112, "mm[Hg]", at=1)
        .obs("9187-6", 240.5, "mL", at=1, period_h=8)
        .obs("1742-6", 28, "U/L", at=1, ref_high=40, ref_low=0)
        .obs("il2tox:acvpu", "A", at=1)
        .build()
    )
    items = course_to_dict(course)["observations"]
    assert _read_observations(items) == tuple(careful(item) for item in items)


def test_the_fast_reader_takes_every_demo_course() -> None:
    for path in sorted(DEMO.glob("*.json")):
        items = course_to_dict(load_course(path))["observations"]
        assert _read_observations(items) is not None, path.name


def test_a_refused_observation_is_still_named_by_its_field() -> None:
    course = CourseBuilder().obs("8480-6", 112, "mm[Hg]", at=1).obs("8480-6", 90, "mm[Hg]", at=2)
    document = course_to_dict(course.build())
    document["observations"][1]["value"] = 900
    assert _read_observations(document["observations"]) is None
    with pytest.raises(CourseError) as refused:
        parse_course(document)
    assert refused.value.field == "observations[1].value"
