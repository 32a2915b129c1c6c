"""Form values kept across an idle sign-out come back exactly, whatever they are (Hypothesis);
anything a form cannot hold is left out and named, never guessed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.auth import draft_values
from il2_tox.services.drafts import (
    UNSAVED,
    UNSAVED_AFTER,
    decode_draft,
    decode_value,
    encode_draft,
    encode_value,
    split_draft,
)

aware_times = st.datetimes(
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))])
)
form_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.dates()
    | st.times()
    | aware_times,
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=8,
)


@given(st.dictionaries(st.text(min_size=1, max_size=40), form_values, max_size=12))
def test_every_form_value_comes_back_exactly_through_json(values: dict[str, object]) -> None:
    contents, skipped = encode_draft(values)
    assert skipped == []
    stored = json.loads(json.dumps(contents))  # as the database gives it back
    restored = decode_draft(stored)
    assert restored == values
    for key, value in values.items():
        assert type(restored[key]) is type(value)


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), datetime(2026, 11, 27, 3, 0), {"a": 1}, object(), b"bytes"],
    ids=["nan", "inf", "naive datetime", "dict", "object", "bytes"],
)
def test_a_value_a_form_cannot_hold_is_left_out_and_named(value: object) -> None:
    assert encode_draft({"entry.x": value, "entry.y": 1}) == (
        {"entry.y": {"t": "int", "v": 1}},
        ["entry.x"],
    )


@pytest.mark.parametrize(
    "data",
    [{"t": "int", "v": "1"}, {"t": "bool", "v": 1}, {"t": "eval", "v": "x"}, [1], {"t": "int"}],
)
def test_anything_not_made_by_the_encoder_is_refused(data: object) -> None:
    with pytest.raises(ValueError):
        decode_value(data)


def test_a_float_given_back_as_a_whole_number_is_a_float_again() -> None:
    assert decode_value({"t": "float", "v": 2}) == 2.0
    assert isinstance(decode_value({"t": "float", "v": 2}), float)


def test_only_form_values_are_kept_and_never_the_wristband_check() -> None:
    state = {
        "signed_in": "the user",
        "auth.last_active": datetime.now(UTC),
        "entry.obs.3.0.8480-6": 84.0,
        "entry.confirm.3": True,
        "entry.import.3": True,
        "entry.result.obs.3": "saved",
        "admit.0.patient.id": "MRN-1",
        "admit.admitted": (1, "MRN-1", "name"),
        "ack.3.cls.syndrome.0.reason": "reviewed",
        "corr.obs.41.0.value": "94",
        "corr.obs.41.0.reason": "misread the cuff",
        "corr.obs.41.0.save": True,
        "corr.dose.7.2.withdraw": False,
        "corr.msg.obs.41": ("success", "Saved: corrected."),
        "ward_table": {},
    }
    assert draft_values(state) == {
        "entry.obs.3.0.8480-6": 84.0,
        "admit.0.patient.id": "MRN-1",
        "ack.3.cls.syndrome.0.reason": "reviewed",
        "corr.obs.41.0.value": "94",
        "corr.obs.41.0.reason": "misread the cuff",
    }


def test_split_draft_separates_the_forms_not_saved_from_the_form_values() -> None:
    form = {"entry.obs.3.0.8480-6": 84.0}
    assert split_draft({**form, UNSAVED: ["Correction"], UNSAVED_AFTER: 15}) == (
        form,
        ["Correction"],
        15,
    )
    assert split_draft(form) == (form, [], None)


@pytest.mark.parametrize(
    ("unsaved", "minutes", "expected"),
    [
        ("Correction", 15.0, ([], None)),
        ([3, "Correction"], True, (["Correction"], None)),
        (None, "15", ([], None)),
    ],
)
def test_split_draft_leaves_out_reserved_values_of_the_wrong_type(
    unsaved: object, minutes: object, expected: tuple[list[str], int | None]
) -> None:
    assert split_draft({UNSAVED: unsaved, UNSAVED_AFTER: minutes})[1:] == expected


def test_dates_and_times_keep_their_kind() -> None:
    assert encode_value(date(2026, 11, 27)) == {"t": "date", "v": "2026-11-27"}
    assert encode_value(time(2, 55)) == {"t": "time", "v": "02:55:00"}


def test_a_form_with_nothing_typed_keeps_nothing_above_all_not_its_stale_time() -> None:
    """Drawn at 03:00 and left empty: after the sign-in the form is drawn afresh (time: now),
    not given back with 03:00 standing as the observation time of the next set."""
    drawn = {
        "entry.obs.4.0.date": date(2026, 11, 27),
        "entry.obs.4.0.time": time(3, 0),
        "entry.obs.4.0.hr": None,
        "entry.obs.4.0.avpu": "not assessed",
        "entry.dose.4.0.status": None,
        "entry.dose.4.0.date": date(2026, 11, 27),
        "entry.dose.4.0.time": time(3, 0),
        "entry.dose.4.0.reason": "",
        "entry.temperature_unit": "°C",
    }
    assert draft_values(drawn) == {"entry.temperature_unit": "°C"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("hr", 117.0), ("hr", 0.0), ("avpu", "A"), ("crackles", False)],
    ids=["a number", "zero", "a choice", "a no"],
)
def test_a_form_with_anything_typed_keeps_all_of_it_with_its_time(
    field: str, value: object
) -> None:
    drawn = {
        "entry.obs.4.0.date": date(2026, 11, 27),
        "entry.obs.4.0.time": time(3, 0),
        "entry.obs.4.0.sbp": None,
        f"entry.obs.4.0.{field}": value,
        "entry.dose.4.0.time": time(3, 0),  # another form, nothing typed: not kept
    }
    kept = draft_values(drawn)
    assert kept == {key: v for key, v in drawn.items() if not key.startswith("entry.dose.")}


def test_an_admission_form_left_empty_keeps_nothing_and_one_begun_keeps_its_time() -> None:
    empty = {"admit.0.admitted_date": date(2026, 11, 27), "admit.0.admitted_time": time(3, 0)}
    assert draft_values(empty) == {}
    begun = {**empty, "admit.0.patient.id": "MRN-1"}
    assert draft_values(begun) == begun
