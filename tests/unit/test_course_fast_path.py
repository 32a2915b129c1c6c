"""The compiled observation check must never accept what the JSON Schema refuses."""

from __future__ import annotations

from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from il2_tox.course import _observation_ok, course_to_dict, schema
from il2_tox.units import CODES
from tests.builders import CourseBuilder

ITEM_SCHEMA = schema()["properties"]["observations"]["items"]
ITEM_VALIDATOR = jsonschema.Draft202012Validator(ITEM_SCHEMA)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 400),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-10, max_value=400),
    st.text(max_size=30),
    st.sampled_from(["2026-11-20T07:30:00Z", "2026-11", "mm[Hg]", "U/L"]),
    st.lists(st.integers(), max_size=2),
)
keys = st.sampled_from([*ITEM_SCHEMA["properties"], "note", "Value"])
items = st.dictionaries(keys, scalars, max_size=8)
plausible = st.fixed_dictionaries(
    {
        "time": st.sampled_from(["2026-11-20T07:30:00Z", "2026-11-20T07:30", "x"]),
        "code": st.sampled_from([*CODES, "1234-5"]),
        "value": st.one_of(st.integers(-1, 300), st.text(max_size=5), st.booleans()),
    },
    optional={
        "unit": st.one_of(st.sampled_from(["mL", "kg", "%"]), st.integers()),
        "period_h": st.one_of(st.floats(-1, 30, allow_nan=False), st.booleans()),
        "ref_high": st.one_of(st.floats(-1, 100, allow_nan=False), st.text(max_size=2)),
        "ref_low": st.one_of(st.integers(0, 10), st.none()),
    },
)


@settings(max_examples=400)
@given(st.one_of(items, plausible, scalars))
def test_the_fast_check_accepts_only_what_the_schema_accepts(item: Any) -> None:
    if _observation_ok(item):
        assert ITEM_VALIDATOR.is_valid(item)


def test_the_fast_check_accepts_every_valid_kind_of_observation() -> None:
    course = (
        CourseBuilder()
        .obs("8480-6", 112, "mm[Hg]", at=1)
        .obs("9187-6", 240.5, "mL", at=1, period_h=8)
        .obs("1742-6", 28, "U/L", at=1, ref_high=40, ref_low=0)
        .obs("il2tox:acvpu", "A", at=1)
        .build()
    )
    for item in course_to_dict(course)["observations"]:
        assert ITEM_VALIDATOR.is_valid(item)
        assert _observation_ok(item)
