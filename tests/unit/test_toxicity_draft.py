"""The admission form's table of prior toxicities across an idle sign-out: its rows become plain
draft data and come back typed for the editor; a kept value that cannot go back in its column
goes into the row's note with a warning naming the row, never dropped."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pandas as pd
import pytest

from dashboard import admission_form as af
from dashboard.auth import draft_values
from il2_tox.services.drafts import decode_draft, encode_draft

BLANK = dict.fromkeys(af.TOXICITY_COLUMNS)


def through_a_draft(rows: list[dict[str, object]]) -> tuple[list[dict[str, object]], list[str]]:
    """Keep `rows` as an idle sign-out does, store them as JSON, and read them back."""
    contents, skipped = encode_draft({af.TOXICITY_DRAFT: af.rows_to_draft(rows)})
    assert skipped == []
    stored = decode_draft(json.loads(json.dumps(contents)))
    return af.rows_from_draft(stored[af.TOXICITY_DRAFT])


def test_a_typed_row_is_kept_as_plain_pairs_in_column_order() -> None:
    row = {
        "agent": "nivolumab",
        "organ": "colitis",
        "grade": 3.0,
        "onset": "2025-01-02",
        "resolved": date(2025, 2, 3),
        "steroids": True,
        "note": " budesonide ",
    }
    assert af.rows_to_draft([row]) == [
        [
            ["agent", "nivolumab"],
            ["organ", "colitis"],
            ["grade", 3],
            ["onset", "2025-01-02"],
            ["resolved", "2025-02-03"],
            ["steroids", True],
            ["note", " budesonide "],  # as typed: the admission trims it, not the draft
        ]
    ]


def test_blank_cells_come_back_none_and_blank_rows_are_left_out() -> None:
    rows = [
        {},
        {"agent": "", "organ": None, "grade": float("nan"), "onset": pd.NaT, "note": "  "},
        {"steroids": False},  # an unticked box alone is a blank row, as on admission
        {"agent": "ipilimumab", "grade": pd.NA, "onset": None, "steroids": None, "note": ""},
    ]
    assert through_a_draft(rows) == ([{**BLANK, "agent": "ipilimumab"}], [])


def test_an_empty_table_keeps_nothing() -> None:
    assert af.rows_to_draft([]) == []
    assert af.rows_to_draft([{}, {"steroids": False}]) == []


@pytest.mark.parametrize("grade", [1, 5, 1.0, 5.0])
def test_grade_1_and_5_come_back_whole_numbers(grade: float) -> None:
    (row,), warnings = through_a_draft([{"organ": "hepatitis", "grade": grade}])
    assert row["grade"] == int(grade) and type(row["grade"]) is int
    assert warnings == []


@pytest.mark.parametrize("steroids", [None, True, False])
def test_steroids_come_back_none_true_or_false(steroids: bool | None) -> None:
    (row,), warnings = through_a_draft([{"agent": "pembrolizumab", "steroids": steroids}])
    assert row["steroids"] is steroids
    assert warnings == []


def test_dates_come_back_dates_from_text_dates_datetimes_and_timestamps() -> None:
    rows: list[dict[str, object]] = [
        {"onset": "2025-01-02", "resolved": "2025-01-09T00:00:00"},
        {"onset": date(2024, 12, 31), "resolved": datetime(2025, 1, 1, 8, 30)},
        {"onset": pd.Timestamp("2024-02-29"), "resolved": None},
    ]
    back, warnings = through_a_draft(rows)
    assert [(r["onset"], r["resolved"]) for r in back] == [
        (date(2025, 1, 2), date(2025, 1, 9)),
        (date(2024, 12, 31), date(2025, 1, 1)),
        (date(2024, 2, 29), None),
    ]
    assert all(type(r["onset"]) is date for r in back)
    assert warnings == []


def test_every_row_comes_back_with_every_column_and_the_right_types() -> None:
    rows = [
        {"agent": "nivolumab", "organ": "colitis", "grade": 3, "onset": "2025-01-02"},
        {"organ": "thyroiditis", "grade": 2, "steroids": False, "note": "levothyroxine"},
    ]
    back, warnings = through_a_draft(rows)
    assert back == [
        {**BLANK, "agent": "nivolumab", "organ": "colitis", "grade": 3, "onset": date(2025, 1, 2)},
        {**BLANK, "organ": "thyroiditis", "grade": 2, "steroids": False, "note": "levothyroxine"},
    ]
    assert warnings == []


def test_a_stale_organ_goes_into_the_note_with_a_warning_naming_the_row() -> None:
    kept: list[Any] = [
        [["agent", "nivolumab"], ["organ", "colitis"]],
        [["agent", "ipilimumab"], ["organ", "enteritis"], ["note", "admitted"]],
    ]
    back, warnings = af.rows_from_draft(kept)
    assert back[1]["organ"] is None and back[1]["agent"] == "ipilimumab"
    assert back[1]["note"] == "admitted\nNot read back from the draft: organ 'enteritis'"
    assert warnings == [
        "Prior toxicity row 2: organ 'enteritis' could not be put back in its column. It is in "
        "the row's note: check the row before admitting."
    ]


def test_text_that_is_not_a_date_is_kept_as_typed_and_not_dropped() -> None:
    back, warnings = through_a_draft([{"agent": "nivolumab", "onset": "last spring"}])
    assert back == [
        {**BLANK, "agent": "nivolumab", "note": "Not read back from the draft: onset 'last spring'"}
    ]
    assert len(warnings) == 1 and warnings[0].startswith("Prior toxicity row 1: onset")


@pytest.mark.parametrize(
    ("kept", "problem"),
    [
        ([[["grade", 2.5]]], "grade 2.5"),
        ([[["grade", "3"]]], "grade '3'"),
        ([[["steroids", "yes"]]], "steroids 'yes'"),
        ([[["agent", 7]]], "agent 7"),
        ([[["dose", "1 mg"]]], "dose '1 mg'"),
        ([["not pairs"]], "'not pairs'"),
        (["a whole row of text"], "'a whole row of text'"),
        ("not a list", "'not a list'"),
    ],
)
def test_anything_that_cannot_be_read_back_is_in_a_note_and_warned(
    kept: object, problem: str
) -> None:
    (row,), (warning,) = af.rows_from_draft(kept)
    assert row["note"] == f"Not read back from the draft: {problem}"
    assert warning.startswith(f"Prior toxicity row 1: {problem} could not be put back")


def test_nothing_kept_gives_no_rows() -> None:
    assert af.rows_from_draft(None) == ([], [])
    assert af.rows_from_draft([]) == ([], [])


def test_the_editor_delta_applies_to_its_starting_rows_as_streamlit_does() -> None:
    base = [{**BLANK, "agent": "a"}, {**BLANK, "agent": "b"}, {**BLANK, "agent": "c"}]
    delta = {
        "edited_rows": {"0": {"grade": 2}, 2: {"agent": "c2"}, "9": {"agent": "nowhere"}},
        "deleted_rows": [1, 7],
        "added_rows": [{"agent": "d"}],
    }
    rows = af.edited_rows(delta, base)
    assert [(r.get("agent"), r.get("grade")) for r in rows] == [
        ("a", 2),
        ("c2", None),
        ("d", None),
    ]
    assert base[0]["grade"] is None  # the starting rows are not changed
    assert af.edited_rows(None, base) == base


def test_the_draft_keeps_the_tables_rows_not_its_delta() -> None:
    delta = {
        "edited_rows": {},
        "added_rows": [{"agent": "nivolumab", "grade": 3}, {}],
        "deleted_rows": [],
    }
    kept = draft_values({"admit.gen": 2, "admit.2.toxicity_table": delta, "admit.2.patient.id": ""})
    assert kept[af.TOXICITY_DRAFT] == af.rows_to_draft([{"agent": "nivolumab", "grade": 3}])
    assert "admit.2.toxicity_table" not in kept
    assert kept["admit.2.patient.id"] == ""  # the table typed in makes the form typed in


def test_an_empty_table_puts_nothing_in_the_draft() -> None:
    empty = {"edited_rows": {}, "added_rows": [{}], "deleted_rows": []}
    kept = draft_values({"admit.gen": 0, "admit.0.toxicity_table": empty})
    assert kept == {"admit.gen": 0}


def test_kept_rows_deleted_in_the_editor_are_not_kept_again() -> None:
    kept_rows = af.rows_to_draft([{"agent": "a"}, {"agent": "b"}])
    state = {
        af.TOXICITY_DRAFT: kept_rows,
        "admit.0.toxicity_table.restored": {
            "edited_rows": {"1": {"grade": 4}},
            "added_rows": [],
            "deleted_rows": [0],
        },
    }
    assert af.table_key(state) == "admit.0.toxicity_table.restored"
    assert draft_values(state)[af.TOXICITY_DRAFT] == af.rows_to_draft([{"agent": "b", "grade": 4}])
    state["admit.0.toxicity_table.restored"] = {
        "edited_rows": {},
        "added_rows": [],
        "deleted_rows": [0, 1],
    }
    assert af.TOXICITY_DRAFT not in draft_values(state)


def test_a_table_too_long_for_one_draft_value_is_left_out_and_the_rest_still_kept() -> None:
    note = "n" * 2000
    rows = [{"agent": f"agent {i}", "note": note} for i in range(60)]  # > 100,000 characters
    delta = {"edited_rows": {}, "added_rows": rows, "deleted_rows": []}
    state = {"admit.gen": 0, "admit.0.toxicity_table": delta, "admit.0.patient.id": "P-1"}
    kept = draft_values(state)
    assert af.TOXICITY_DRAFT not in kept
    assert kept["admit.0.patient.id"] == "P-1"
    encode_draft(kept)  # storable: the whole draft is not refused for the table

    delta["added_rows"] = rows[:30]  # about 77,000 characters: kept whole
    assert len(draft_values(state)[af.TOXICITY_DRAFT]) == 30
