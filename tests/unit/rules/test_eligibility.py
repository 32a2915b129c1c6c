"""Eligibility before the first dose: three critical conditions, ECOG as a warning, else none."""

from __future__ import annotations

from typing import Any

import pytest

from tests.builders import ADMITTED, CourseBuilder
from tests.unit.rules.helpers import eligibility_flags

FIT = {"brain_metastases": "none", "systemic_steroids": False, "ecog": 0, "prior_therapies": []}


def course(**history: Any) -> CourseBuilder:
    return CourseBuilder(history={**FIT, **history})


def test_it_raises_nothing_for_a_fit_patient() -> None:
    assert eligibility_flags(course()) == []


def test_it_raises_nothing_for_ecog_1_and_treated_stable_metastases() -> None:
    assert eligibility_flags(course(ecog=1, brain_metastases="treated_stable")) == []


def test_it_raises_nothing_when_the_history_is_missing() -> None:
    assert eligibility_flags(CourseBuilder()) == []


def test_it_raises_nothing_for_resolved_prior_toxicities() -> None:
    assert eligibility_flags(course().prior("colitis", grade=3, resolved="2026-05-01")) == []


def test_it_ignores_abnormal_baseline_organ_values() -> None:
    builder = course().obs("2160-0", 2.8, "mg/dL", at=0).obs("1742-6", 300, "U/L", at=0)
    builder.obs("777-3", 20, "10*3/uL", at=0).dose(1, 1, at=2)
    assert eligibility_flags(builder) == []


@pytest.mark.parametrize(
    ("history", "code"),
    [
        ({"brain_metastases": "untreated_or_active"}, "eligibility.brain_metastases"),
        ({"systemic_steroids": True}, "eligibility.systemic_steroids"),
    ],
)
def test_it_raises_a_critical_flag(history: dict[str, Any], code: str) -> None:
    flags = eligibility_flags(course(**history))
    assert [(f.code, f.severity, f.category) for f in flags] == [(code, "critical", "eligibility")]


def test_it_raises_a_critical_flag_for_each_unresolved_prior_toxicity() -> None:
    builder = course().prior("colitis", resolved=None).prior("hepatitis", resolved=None)
    builder.prior("thyroiditis", resolved="2026-01-01")
    flags = eligibility_flags(builder)
    assert [(f.code, f.severity) for f in flags] == [
        ("eligibility.unresolved_toxicity", "critical")
    ] * 2
    assert "colitis" in flags[0].message and "hepatitis" in flags[1].message


def test_it_flags_an_unresolved_toxicity_even_without_a_history() -> None:
    flags = eligibility_flags(CourseBuilder().prior("pneumonitis", resolved=None))
    assert [f.code for f in flags] == ["eligibility.unresolved_toxicity"]


@pytest.mark.parametrize(("ecog", "flagged"), [(1, False), (2, True), (3, True), (4, True)])
def test_it_warns_from_ecog_2(ecog: int, flagged: bool) -> None:
    flags = eligibility_flags(course(ecog=ecog))
    assert [(f.code, f.severity) for f in flags] == (
        [("eligibility.ecog", "warning")] if flagged else []
    )


def test_it_times_eligibility_flags_at_admission_before_any_dose() -> None:
    builder = course(systemic_steroids=True).dose(1, 1, at=2)
    flag = eligibility_flags(builder)[0]
    assert (flag.time, flag.cycle, flag.after_dose) == (ADMITTED, 1, 0)
