"""Liver: CTCAE v5 grades of ALT, AST, ALP and bilirubin, the R ratio and pattern, Hy's law.

One row per time at which any of the four tests was measured (REFERENCE.md §4). The baseline
of a test is its first value in the course; when that value is above its upper limit, every
value of the test (the baseline included) is graded against the baseline instead of the ULN.
The pattern is computed, never assumed from the drug, and never read as the cause: ICI
hepatitis is often cholestatic or mixed (REFERENCE.md §4.4).
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from il2_tox.course import Observation
from il2_tox.rules.base import (
    ALP,
    ALT,
    AST,
    BILIRUBIN,
    CourseIndex,
    Flag,
    LiverRow,
    fmt,
    make_flag,
)
from il2_tox.rules.config import Rule

TESTS = (ALT, AST, ALP, BILIRUBIN)
NAMES = {ALT: "ALT", AST: "AST", ALP: "ALP", BILIRUBIN: "bilirubin"}
GRADE_RULES = {
    ALT: "liver.grade.aminotransferase",
    AST: "liver.grade.aminotransferase",
    ALP: "liver.grade.alp",
    BILIRUBIN: "liver.grade.bilirubin",
}
HEPATOCELLULAR = "hepatocellular"
MIXED = "mixed"
CHOLESTATIC = "cholestatic"


def multiple(value: float, limit: float) -> float:
    """Return value / limit, rounded to 9 significant digits.

    The rounding hides binary noise from unit conversion (30.78 umol/L / 17.1 is 1.7999999...),
    so a value given in SI units lands in the same CTCAE band as the same value in mg/dL.
    """
    return float(f"{value / limit:.9g}")


def band_grade(times: float, bounds: Sequence[float]) -> int:
    """Return 1 + the number of grade bounds `times` lies above (upper bounds inclusive).

    The caller has already decided the value is at least grade 1.
    """
    return 1 + bisect_left(list(bounds), times)


def grade_against_uln(times_uln: float, rule: Rule) -> int:
    """Return the CTCAE grade of a value given as a multiple of ULN (0 = not above ULN)."""
    if times_uln <= 1:  # "> ULN" is grade 1: at the limit is still normal
        return 0
    return band_grade(times_uln, rule.nums("uln_bounds"))


def grade_against_baseline(times_baseline: float, rule: Rule) -> int:
    """Return the CTCAE grade of a value given as a multiple of an abnormal baseline.

    ALT/AST and ALP are grade 1 from `baseline_g1_from` (inclusive); bilirubin above
    `baseline_g1_above`. Below that the value is grade 0, the baseline itself included.
    """
    if "baseline_g1_from" in rule.params:
        if times_baseline < rule.num("baseline_g1_from"):
            return 0
    elif times_baseline <= rule.num("baseline_g1_above"):
        return 0
    return band_grade(times_baseline, rule.nums("baseline_bounds"))


@dataclass(frozen=True)
class _Grader:
    """How one test is graded in this course: against ULN, or against its abnormal baseline."""

    rule: Rule
    baseline: float | None  # set only when the first value was above its ULN

    def grade(self, obs: Observation, uln: float) -> int:
        if self.baseline is not None:
            return grade_against_baseline(multiple(float(obs.value), self.baseline), self.rule)
        return grade_against_uln(multiple(float(obs.value), uln), self.rule)


def _grader(index: CourseIndex, concept: str) -> _Grader:
    rule = index.rules.rule(GRADE_RULES[concept])
    first = index.first(concept)
    if first is None:
        return _Grader(rule, None)
    uln = index.uln(first)
    abnormal = uln is not None and float(first.value) > uln
    return _Grader(rule, float(first.value) if abnormal else None)


def at_time(index: CourseIndex, concept: str, moment: datetime) -> Observation | None:
    """Return the observation of a concept taken exactly at `moment` (the file's last wins)."""
    return index.latest(concept, moment, 0)


def _times_uln(index: CourseIndex, obs: Observation | None) -> float | None:
    if obs is None:
        return None
    uln = index.uln(obs)
    return None if uln is None else multiple(float(obs.value), uln)


def nearest(
    index: CourseIndex, concept: str, moment: datetime, within_h: float
) -> Observation | None:
    """Return the observation of a concept nearest to `moment`, at most `within_h` hours away.

    A tie between one before and one after goes to the earlier (already known at `moment`).
    """
    items = index.get(concept)
    i = bisect_right(items, moment, key=lambda o: o.time)
    before = items[i - 1] if i > 0 else None
    after = items[i] if i < len(items) else None
    reach = timedelta(hours=within_h)
    best = None
    for obs in (before, after):
        if obs is None or abs(obs.time - moment) > reach:
            continue
        if best is None or abs(obs.time - moment) < abs(best.time - moment):
            best = obs
    return best


def r_ratio(alt_x_uln: float | None, alp_x_uln: float | None) -> float | None:
    """Return R = (ALT/ULN)/(ALP/ULN); None without both, or when ALP is 0 (R undefined)."""
    if alt_x_uln is None or alp_x_uln is None or alp_x_uln <= 0:
        return None
    return float(f"{alt_x_uln / alp_x_uln:.9g}")


def pattern(
    r: float | None, alt_x_uln: float | None, alp_x_uln: float | None, rule: Rule
) -> str | None:
    """Return the injury pattern for R (ACG cut-offs).

    None when R is None, or when ALT and ALP are both within limits (no injury to classify).
    """
    if r is None or alt_x_uln is None or alp_x_uln is None:
        return None
    if alt_x_uln <= 1 and alp_x_uln <= 1:
        return None
    if r >= rule.num("hepatocellular_at_least"):
        return HEPATOCELLULAR
    if r <= rule.num("cholestatic_at_most"):
        return CHOLESTATIC
    return MIXED


def hys_law(index: CourseIndex, moment: datetime) -> bool:
    """Return True when the latest ALT or AST, bilirubin and ALP in the `together_h` hours up
    to `moment` meet Hy's law (ALT or AST >= 3x ULN, bilirubin > 2x ULN, ALP < 2x ULN).

    Looking back only keeps every pair within `together_h` hours of each other and makes the
    row at which the last of them arrived the first to show it. Without an ALP measured
    together it is False.
    """
    rule = index.rules.rule("liver.hys_law")
    window = rule.num("together_h")
    bili = _times_uln(index, index.latest(BILIRUBIN, moment, window))
    alp = _times_uln(index, index.latest(ALP, moment, window))
    if bili is None or alp is None:
        return False
    if not (bili > rule.num("bilirubin_above") and alp < rule.num("alp_below")):
        return False
    for concept in (ALT, AST):
        amino = _times_uln(index, index.latest(concept, moment, window))
        if amino is not None and amino >= rule.num("aminotransferase_at_least"):
            return True
    return False


def _row_times(index: CourseIndex) -> list[datetime]:
    times: set[datetime] = set()
    for concept in TESTS:
        times.update(o.time for o in index.get(concept))
    return sorted(times)


def table(index: CourseIndex) -> list[LiverRow]:
    """Return one LiverRow per time at which ALT, AST, ALP or bilirubin was measured.

    A grade is None when that test was not measured at that time. R pairs the ALT of the row
    with the ALP of the same time or the nearest within `pair_within_h` hours; rows without
    ALT have no R.
    """
    graders = {concept: _grader(index, concept) for concept in TESTS}
    r_rule = index.rules.rule("liver.r_ratio")
    pair_h = r_rule.num("pair_within_h")
    rows = []
    for moment in _row_times(index):
        found = {concept: at_time(index, concept, moment) for concept in TESTS}
        grades: dict[str, int | None] = {}
        x_uln: dict[str, float | None] = {}
        for concept, obs in found.items():
            uln = index.uln(obs) if obs is not None else None
            if obs is None or uln is None:
                grades[concept], x_uln[concept] = None, None
                continue
            grades[concept] = graders[concept].grade(obs, uln)
            x_uln[concept] = multiple(float(obs.value), uln)
        alt_x = x_uln[ALT]
        alp_x = x_uln[ALP]
        if alt_x is not None and alp_x is None:
            alp_x = _times_uln(index, nearest(index, ALP, moment, pair_h))
        r = r_ratio(alt_x, alp_x)
        rows.append(
            LiverRow(
                time=moment,
                alt_grade=grades[ALT],
                ast_grade=grades[AST],
                alp_grade=grades[ALP],
                bilirubin_grade=grades[BILIRUBIN],
                r_ratio=r,
                pattern=pattern(r, alt_x, alp_x, r_rule),
                hys_law=hys_law(index, moment),
                alt_x_uln=x_uln[ALT],
                ast_x_uln=x_uln[AST],
                alp_x_uln=x_uln[ALP],
                bilirubin_x_uln=x_uln[BILIRUBIN],
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Flags


def row_grade(row: LiverRow) -> int:
    """Return the highest of the row's ALT, AST and bilirubin grades (0 when none measured).

    ALP is left out on purpose: the hepatitis condition (REFERENCE.md §4.1) does not use it.
    """
    return max((g for g in (row.alt_grade, row.ast_grade, row.bilirubin_grade) if g), default=0)


def meets_hepatitis(row: LiverRow, min_grade: int) -> bool:
    """Return True when a row meets the hepatitis condition: ALT/AST or bilirubin grade at
    least `min_grade`, or Hy's law."""
    return row.hys_law or row_grade(row) >= min_grade


def describe(row: LiverRow) -> str:
    """Return the row as a message reads it: "ALT 4.2× ULN (grade 2), R 6.4 hepatocellular".

    Lists every raised test of the row (grade 1 or more); R and pattern when there is one.
    """
    parts = []
    for name, times, grade in (
        ("ALT", row.alt_x_uln, row.alt_grade),
        ("AST", row.ast_x_uln, row.ast_grade),
        ("ALP", row.alp_x_uln, row.alp_grade),
        ("bilirubin", row.bilirubin_x_uln, row.bilirubin_grade),
    ):
        if times is not None and grade:
            parts.append(f"{name} {fmt(times, 2)}× ULN (grade {grade})")
    if row.r_ratio is not None:
        parts.append(f"R {fmt(row.r_ratio)}" + (f" {row.pattern}" if row.pattern else ""))
    return ", ".join(parts)


def _peak(rows: Sequence[LiverRow]) -> LiverRow:
    """Return the worst row: highest grade, then Hy's law, then the highest multiple of ULN."""

    def key(row: LiverRow) -> tuple[int, bool, float]:
        multiples = (row.alt_x_uln, row.ast_x_uln, row.bilirubin_x_uln)
        return row_grade(row), row.hys_law, max((m for m in multiples if m is not None), default=0)

    best = rows[0]
    for row in rows[1:]:
        if key(row) > key(best):
            best = row
    return best


def _evidence(index: CourseIndex, rows: Sequence[LiverRow]) -> list[Observation]:
    seen: list[Observation] = []
    for row in rows:
        for concept in TESTS:
            obs = at_time(index, concept, row.time)
            if obs is not None and obs not in seen:
                seen.append(obs)
    return seen


def _trend(index: CourseIndex, rows: Sequence[LiverRow]) -> str:
    """Return a short note when the highest ALT after each given dose rose over at least
    `rising_doses` doses in a row up to the latest; empty otherwise."""
    needed = int(index.rules.rule("liver.trend").num("rising_doses"))
    per_dose: dict[tuple[int, int], float] = {}
    for row in rows:
        position = index.dose_position(row.time)
        if row.alt_x_uln is None or position[1] == 0:
            continue
        per_dose[position] = max(per_dose.get(position, 0.0), row.alt_x_uln)
    values = [per_dose[k] for k in sorted(per_dose)]
    run = rising_run(values)
    if run < needed:
        return ""
    first, last = fmt(values[-run], 2), fmt(values[-1], 2)
    return f"; ALT rising over the last {run} doses ({first}→{last}× ULN)"


def rising_run(values: Sequence[float]) -> int:
    """Return how many values at the end rise strictly one after another (1 for a flat end)."""
    run = 1
    for earlier, later in itertools.pairwise(values):
        run = run + 1 if later > earlier else 1
    return run if values else 0


def _baseline_note(index: CourseIndex) -> str:
    """Return which tests are graded against an abnormal baseline, for the message."""
    names = [NAMES[c] for c in TESTS if _grader(index, c).baseline is not None]
    return f"; graded against the abnormal baseline: {', '.join(names)}" if names else ""


def flags(index: CourseIndex, rows: list[LiverRow]) -> list[Flag]:
    """Return the hepatitis flag and, separately, the possible-Hy's-law flag.

    `hepatitis.grade`: from the first row meeting the condition; warning, critical from grade
    `critical_grade` or Hy's law at any row; the message describes the worst row. Absent when
    no row meets the condition (so always absent when every test is within limits).
    """
    rule = index.rules.rule("hepatitis.grade")
    min_grade = int(rule.num("min_grade"))
    critical_grade = int(rule.num("critical_grade"))
    out = _baseline_flags(index, min_grade)
    hits = [row for row in rows if meets_hepatitis(row, min_grade)]
    if not hits:
        return out
    peak = _peak(hits)
    critical = any(row.hys_law or row_grade(row) >= critical_grade for row in hits)
    latest = rows[-1]
    out.append(
        make_flag(
            index,
            category="hepatitis",
            severity="critical" if critical else "warning",
            code="hepatitis.grade",
            time=hits[0].time,
            message=f"Liver injury: {describe(peak)}" + _trend(index, rows) + _baseline_note(index),
            evidence=_evidence(index, [hits[0], peak] if peak is not hits[0] else [peak]),
            source=index.rules.source("hepatitis.grade", "liver.r_ratio"),
            last_seen=hits[-1].time,
            active=meets_hepatitis(latest, min_grade),
        )
    )
    hys = [row for row in rows if row.hys_law]
    if hys:
        out.append(
            make_flag(
                index,
                category="hepatitis",
                severity="critical",
                code="hepatitis.hys_law",
                time=hys[0].time,
                message=_hys_message(index, hys[0].time),
                evidence=_hys_evidence(index, hys[0].time),
                source=index.rules.source("liver.hys_law"),
                last_seen=hys[-1].time,
                active=latest.hys_law,
            )
        )
    return out


def _baseline_flags(index: CourseIndex, min_grade: int) -> list[Flag]:
    """Return a warning for each of ALT, AST, bilirubin whose first value is already at least
    `min_grade` against ULN.

    Such a baseline is graded 0 itself and later values are graded against it, so without
    this flag a patient admitted with a raised test would show nothing (REFERENCE.md §6:
    baseline abnormalities surface as organ flags, never as eligibility).
    """
    out = []
    for concept in (ALT, AST, BILIRUBIN):
        first = index.first(concept)
        times = _times_uln(index, first)
        if first is None or times is None:
            continue
        grade = grade_against_uln(times, index.rules.rule(GRADE_RULES[concept]))
        if grade < min_grade:
            continue
        out.append(
            make_flag(
                index,
                category="hepatitis",
                severity="warning",
                code="hepatitis.baseline",
                time=first.time,
                message=f"{NAMES[concept]} {fmt(times, 2)}× ULN at baseline (grade {grade} "
                "against ULN); later values are graded against this baseline",
                evidence=[first],
                source=index.rules.source("hepatitis.grade"),
            )
        )
    return out


def _hys_message(index: CourseIndex, moment: datetime) -> str:
    """Return "possible Hy's law: ALT 6.3× ULN, bilirubin 2.5× ULN, ALP 1.1× ULN (...)"."""
    parts = []
    for obs in _hys_evidence(index, moment):
        times = _times_uln(index, obs)
        if times is not None:
            parts.append(f"{NAMES[obs.concept]} {fmt(times, 2)}× ULN")
    return f"possible Hy's law: {', '.join(parts)} (measured together; exclude other causes)"


def _hys_evidence(index: CourseIndex, moment: datetime) -> list[Observation]:
    window = index.rules.rule("liver.hys_law").num("together_h")
    found = (index.latest(concept, moment, window) for concept in TESTS)
    return [obs for obs in found if obs is not None]
