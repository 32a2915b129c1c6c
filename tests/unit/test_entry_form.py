"""The bedside forms' pure parts: fields and labels, the set typed, where refusals belong,
what is unusual enough to confirm, and the admission table's rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from dashboard import admission_form as af
from dashboard import entry_form as ef
from il2_tox import units
from il2_tox.services.bedside import Entry

FIELDS = ef.vital_fields() + ef.ASSESSMENT_FIELDS


def test_labels_name_the_measurement_and_the_unit_chosen() -> None:
    labels = {f.key: f.label for f in ef.vital_fields("[degF]", "[lb_av]")}
    assert labels["temperature"] == "Temperature (°F)"
    assert labels["weight"] == "Weight (lb)"
    assert labels["phenylephrine"] == "Phenylephrine (µg/kg/min)"
    assert {f.label for f in ef.lab_fields("SI")} >= {"Creatinine (µmol/L)", "Albumin (g/L)"}


def test_every_vital_field_is_laid_out_once() -> None:
    laid_out = [key for row in ef.VITAL_ROWS for key in row]
    assert sorted(laid_out) == sorted(f.key for f in ef.vital_fields())


def test_a_set_leaves_blanks_out_and_carries_each_volumes_period() -> None:
    values = {"hr": 92, "sbp": None, "urine": 240, "urine_period": 8, "acvpu": ef.NOT_ASSESSED}
    assert ef.entries(values, FIELDS) == [
        Entry("8867-4", 92, "/min", None),
        Entry("9187-6", 240, "mL", 8.0),
    ]


def test_a_period_without_its_volume_is_a_fault_at_the_period() -> None:
    assert set(ef.local_errors({"stool_period": 4}, FIELDS)) == {"stool_period"}


def test_refusals_are_put_under_their_fields() -> None:
    errors = {
        "8867-4.value": "400 /min is outside",
        "9187-6.period_h": "is required",
        "observed_at": "is in the future",
        "entries": "nothing to record",
    }
    assert ef.errors_by_field(errors, FIELDS) == {
        "hr": "400 /min is outside",
        "urine_period": "is required",
        ef.TIME: "is in the future",
        ef.GENERAL: "entries: nothing to record",
    }


def test_unusual_values_are_judged_in_the_canonical_unit() -> None:
    fields = ef.vital_fields("[degF]")
    assert ef.unusual({"temperature": 100.4}, fields, None) == {}  # 38 °C
    assert set(ef.unusual({"temperature": 107.0}, fields, None)) == {"temperature"}  # 41.7 °C
    assert set(ef.unusual({"hr": 181, "spo2": 79}, fields, None)) == {"hr", "spo2"}


def test_values_beyond_the_hard_limits_are_left_to_the_service() -> None:
    assert ef.unusual({"hr": 400}, FIELDS, None) == {}


def test_a_weight_is_unusual_beyond_a_quarter_from_the_pre_treatment_weight() -> None:
    assert units.implausible("29463-7", 89.0, 72.0) is None  # +24 %
    assert units.implausible("29463-7", 91.0, 72.0) is not None  # +26 %
    assert units.implausible("29463-7", 91.0, None) is None  # no baseline: not judged


def test_the_observation_time_is_read_on_the_ward_clock() -> None:
    moment = ef.observed_at(date(2026, 7, 1), time(9, 30), ZoneInfo("Europe/Amsterdam"))
    assert moment == datetime(2026, 7, 1, 7, 30, tzinfo=UTC)
    assert ef.observed_at(None, time(9, 30), UTC) is None


def test_what_was_stored_is_listed_with_units_as_typed() -> None:
    stored = [
        Entry("8310-5", 37.0, "Cel"),
        Entry("9187-6", 240, "mL", 8.0),
        Entry("il2tox:acvpu", "C"),
    ]
    assert ef.stored_lines(stored, FIELDS) == [
        "Temperature: 37 °C",
        "Urine volume: 240 mL over 8 h",
        "Consciousness (ACVPU): C new confusion",
    ]


def test_the_admission_table_skips_blank_rows_and_remembers_each_rows_number() -> None:
    rows = [
        {"agent": "nivolumab", "organ": "hepatitis", "grade": 3.0, "resolved": "2026-05-10"},
        {"agent": None, "steroids": False},
        {"agent": "ipilimumab", "organ": "colitis", "grade": 2, "onset": date(2026, 1, 2)},
    ]
    toxicities, where = af.prior_toxicities(rows)
    assert where == (1, 3)
    assert toxicities[0].grade == 3 and toxicities[0].resolved == date(2026, 5, 10)
    assert toxicities[1].resolved is None  # blank = not resolved
    assert af.field_of("prior_toxicities[1].irae", where) == (
        "prior_toxicities",
        "Prior toxicity row 3, organ",
    )
    assert af.field_of("patient.weight_kg", where) == ("patient.weight_kg", "patient.weight_kg")


def test_prior_therapies_are_read_one_per_line_or_comma_separated() -> None:
    assert af.prior_therapies("pembrolizumab, ipilimumab+nivolumab\nnivolumab") == (
        "pembrolizumab",
        "ipilimumab+nivolumab",
        "nivolumab",
    )
