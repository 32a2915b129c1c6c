"""The compiled dose check must never accept what the JSON Schema refuses; odd values in the
checked items give a CourseError, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from il2_tox.course import CourseError, _dose_ok, _observation_ok, parse_course_text, schema

DOSE_SCHEMA = schema()["properties"]["doses"]["items"]
DOSE_VALIDATOR = jsonschema.Draft202012Validator(DOSE_SCHEMA)
DEMO = sorted((Path(__file__).resolve().parents[2] / "data" / "demo").glob("*.json"))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 20),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-2, max_value=20),
    st.text(max_size=12),
    st.text(min_size=1990, max_size=2010),
    st.sampled_from(["2026-11-20T07:30:00Z", "2026-11", "given", "held", "not_given"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
keys = st.sampled_from([*DOSE_SCHEMA["properties"], "note", "Status"])
items = st.dictionaries(keys, scalars, max_size=6)
plausible = st.fixed_dictionaries(
    {
        "cycle": st.one_of(st.integers(0, 3), st.just(1.0), st.booleans()),
        "number": st.one_of(st.integers(0, 15), st.just(2.0)),
        "time": st.sampled_from(["2026-11-20T07:30:00Z", "2026-11-20", "x", 20261120]),
        "status": st.one_of(st.sampled_from(["given", "held", "not_given", "Given"]), scalars),
    },
    optional={"reason": scalars, "extra": scalars},
)


@settings(max_examples=400)
@given(st.one_of(items, plausible, scalars))
def test_the_fast_check_accepts_only_what_the_schema_accepts(item: Any) -> None:
    if _dose_ok(item):
        assert DOSE_VALIDATOR.is_valid(item)


def test_the_fast_check_accepts_the_doses_of_every_demo_course() -> None:
    for path in DEMO:
        for item in json.loads(path.read_text(encoding="utf-8"))["doses"]:
            assert DOSE_VALIDATOR.is_valid(item)
            assert _dose_ok(item)


@pytest.mark.parametrize(
    ("where", "key", "bad"),
    [
        ("observations", "code", [1]),
        ("observations", "code", {"a": 1}),
        ("doses", "status", ["given"]),
        ("doses", "status", {"given": 1}),
    ],
)
def test_an_unhashable_value_is_a_course_error(where: str, key: str, bad: object) -> None:
    docs = (json.loads(path.read_text(encoding="utf-8")) for path in DEMO)
    doc = next(d for d in docs if d["doses"] and d["observations"])
    doc[where][0][key] = bad
    assert not (_observation_ok if where == "observations" else _dose_ok)(doc[where][0])
    with pytest.raises(CourseError, match=rf"^{where}\[0\]\.{key}: "):
        parse_course_text(json.dumps(doc))
