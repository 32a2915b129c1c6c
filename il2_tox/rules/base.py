"""What every rule module shares: the assessment's value types and an index of one course.

The index is built once per assessment. It holds each code's observations sorted by time, so a
rule asks "the latest SBP at or before this dose, within 12 h" with a binary search instead of a
scan. Values in the index are canonical (the course reader converted them), so a course given
in SI units gives the same answers as one in conventional units.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from il2_tox import units
from il2_tox.course import Course, Dose, Observation, format_time
from il2_tox.rules.config import Rules
from il2_tox.units import (
    ACVPU,
    ALBUMIN,
    ALP,
    ALT,
    AST,
    BILIRUBIN,
    COGNITION,
    CONCERN,
    CREATININE,
    DBP,
    FIO2,
    HR,
    MAP,
    O2_FLOW,
    PHENYLEPHRINE,
    PLATELETS,
    RALES,
    RHYTHM,
    RR,
    SBP,
    SKIN,
    SODIUM,
    SPO2,
    STOOL,
    TEMP,
    TROPONIN,
    TROPONIN_HS,
    TSH,
    URINE,
    WEIGHT,
)

# The codes are defined once, in il2_tox.units, and re-exported here for the rule modules.
__all__ = [
    "ACVPU",
    "ADVICE",
    "ALBUMIN",
    "ALP",
    "ALT",
    "AST",
    "BILIRUBIN",
    "CATEGORIES",
    "COGNITION",
    "CONCERN",
    "CREATININE",
    "DBP",
    "FIO2",
    "HR",
    "MAP",
    "O2_FLOW",
    "PHENYLEPHRINE",
    "PLATELETS",
    "RALES",
    "RHYTHM",
    "RR",
    "SBP",
    "SEVERITIES",
    "SKIN",
    "SODIUM",
    "SPO2",
    "STOOL",
    "TEMP",
    "TROPONIN",
    "TROPONIN_HS",
    "TSH",
    "URINE",
    "WEIGHT",
    "CourseIndex",
    "Criterion",
    "Differential",
    "DoseAdvice",
    "Evidence",
    "Flag",
    "LiverRow",
    "News2Row",
    "fmt",
    "make_flag",
    "rounded",
    "target_sbp",
]

SEVERITIES = ("info", "warning", "critical")
CATEGORIES = (
    "capillary_leak",
    "hepatitis",
    "ici_recurrence",
    "renal",
    "cardiac",
    "pulmonary",
    "neurologic",
    "gastrointestinal",
    "hematologic",
    "early_warning",
    "eligibility",
)
ADVICE = ("give", "caution", "hold")


def rounded(value: float | str) -> float | str:
    """Return a number as it is reported (6 significant digits: hides binary noise from unit
    conversion, so SI and conventional input print the same)."""
    if isinstance(value, str):
        return value
    return float(f"{value:.6g}")


@dataclass(frozen=True)
class Evidence:
    """One observation a flag or criterion rests on (canonical value and unit)."""

    code: str
    time: datetime
    value: float | str
    unit: str | None

    @classmethod
    def of(cls, obs: Observation) -> Evidence:
        return cls(obs.code, obs.time, obs.value, obs.unit)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "time": format_time(self.time),
            "value": rounded(self.value),
        }
        if self.unit is not None:
            out["unit"] = self.unit
        return out


@dataclass(frozen=True)
class Differential:
    """Short findings for each side of "old ICI toxicity or IL-2 itself?"."""

    favors_ici: tuple[str, ...] = ()
    favors_il2: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        return {"favors_ici": list(self.favors_ici), "favors_il2": list(self.favors_il2)}


@dataclass(frozen=True)
class Flag:
    """A finding: what, how bad, since when, on what evidence, by which source."""

    category: str
    severity: str
    code: str
    time: datetime
    cycle: int
    after_dose: int
    message: str
    evidence: tuple[Evidence, ...]
    source: str
    irae: str | None = None
    differential: Differential | None = None
    last_seen: datetime | None = None
    active: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "category": self.category,
            "severity": self.severity,
            "code": self.code,
            "time": format_time(self.time),
            "cycle": self.cycle,
            "after_dose": self.after_dose,
            "message": self.message,
            "evidence": [e.to_dict() for e in self.evidence],
            "source": self.source,
        }
        if self.irae is not None:
            out["irae"] = self.irae
        if self.differential is not None:
            out["differential"] = self.differential.to_dict()
        if self.last_seen is not None:
            out["last_seen"] = format_time(self.last_seen)
        out["active"] = self.active
        return out


@dataclass(frozen=True)
class Criterion:
    """One dose criterion met: its rule code, relative or absolute, and a short message."""

    code: str
    kind: str  # "relative" | "absolute"
    message: str
    evidence: tuple[Evidence, ...] = ()
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "kind": self.kind, "message": self.message}
        if self.evidence:
            out["evidence"] = [e.to_dict() for e in self.evidence]
        if self.source:
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class DoseAdvice:
    """Give / caution / hold for one dose (recorded or the next one) and the criteria met."""

    cycle: int
    number: int
    time: datetime
    advice: str
    criteria: tuple[Criterion, ...]
    status: str | None = None  # the recorded status; None for the next, unrecorded dose

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cycle": self.cycle,
            "number": self.number,
            "time": format_time(self.time),
            "advice": self.advice,
            "criteria": [c.to_dict() for c in self.criteria],
        }
        out["status"] = self.status if self.status is not None else "next"
        return out


@dataclass(frozen=True)
class LiverRow:
    """Liver tests at one time: CTCAE grades (None = not measured then), R, pattern, Hy's law."""

    time: datetime
    alt_grade: int | None
    ast_grade: int | None
    alp_grade: int | None
    bilirubin_grade: int | None
    r_ratio: float | None
    pattern: str | None
    hys_law: bool
    alt_x_uln: float | None = None
    ast_x_uln: float | None = None
    alp_x_uln: float | None = None
    bilirubin_x_uln: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": format_time(self.time),
            "alt_grade": self.alt_grade,
            "ast_grade": self.ast_grade,
            "alp_grade": self.alp_grade,
            "bilirubin_grade": self.bilirubin_grade,
            "r_ratio": None if self.r_ratio is None else round(self.r_ratio, 2),
            "pattern": self.pattern,
            "hys_law": self.hys_law,
        }


@dataclass(frozen=True)
class News2Row:
    """NEWS2 at one time: total, red single parameter, response band, all 7 present or not."""

    time: datetime
    score: int
    red_single_parameter: bool
    response: str
    complete: bool
    parameters: tuple[tuple[str, int], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": format_time(self.time),
            "score": self.score,
            "red_single_parameter": self.red_single_parameter,
            "response": self.response,
            "complete": self.complete,
        }


_time = attrgetter("time")
_UNCHECKED = object()
_NONE_CLEAR: frozenset[float | str] = frozenset()

Check = Callable[["CourseIndex", Observation], "Criterion | None"]
_BY_VALUE: set[Check] = set()  # the checks declared with `by_value`


def by_value(check: Check) -> Check:
    """Declare that a check's answer depends on nothing of an observation but its value.

    Such a check may read the course and the rules (fixed for one CourseIndex) and
    `obs.value`, never the time, code, unit, limits or what was entered; equal values (==) must
    get the same answer. `CourseIndex.criterion` then judges each value that meets nothing once
    per course: most readings are normal and repeat a value seen before. A value that meets a
    criterion is still judged per reading (the criterion names its reading as evidence).
    """
    _BY_VALUE.add(check)
    return check


class CourseIndex:
    """One course, indexed for the rules: observations by concept and time, doses in order."""

    def __init__(self, course: Course, rules: Rules) -> None:
        self.course = course
        self.rules = rules
        # Group by code, then fold each code into its concept: a few dozen concept look-ups
        # instead of one per observation. A concept of several codes (SpO2) is merged back in
        # file order, so that the stable sort by time leaves ties in file order.
        by_code: dict[str, list[Observation]] = defaultdict(list)
        for obs in course.observations:
            by_code[obs.code].append(obs)
        codes_of: dict[str, list[str]] = defaultdict(list)
        for code in by_code:
            codes_of[units.concept_of(code)].append(code)
        self.series: dict[str, list[Observation]] = {}
        self._times: dict[str, list[datetime]] = {}
        for concept, codes in codes_of.items():
            if len(codes) == 1:
                items = by_code[codes[0]]
            else:
                folded = set(codes)
                items = [o for o in course.observations if o.code in folded]
            items.sort(key=_time)  # stable: file order breaks ties
            self.series[concept] = items
            self._times[concept] = [o.time for o in items]
        self.doses: list[Dose] = sorted(course.doses, key=lambda d: (d.time, d.cycle, d.number))
        self._dose_times = [d.time for d in self.doses]
        latest = [times[-1] for times in self._times.values()] + self._dose_times
        self.as_of: datetime = max(latest) if latest else course.admission.admitted_at
        self.target_sbp: float = target_sbp(course.admission.usual_sbp_mmhg, rules)
        self.baseline_weight_kg: float = course.patient.weight_kg
        self._spans: dict[float, timedelta] = {}  # look-back hours -> timedelta, made once
        self._criteria: dict[tuple[object, int], Criterion | None] = {}
        # For each `by_value` check, the values found to meet nothing in this course.
        self._clear: dict[Check, set[float | str]] = {check: set() for check in _BY_VALUE}

    # -- observations ----------------------------------------------------------------------

    def get(self, concept: str) -> Sequence[Observation]:
        """Return every observation of a concept in time order (empty if none)."""
        return self.series.get(concept, ())

    def upto(self, concept: str, at: datetime) -> Sequence[Observation]:
        """Return the observations of a concept at or before a time, in time order."""
        items = self.series.get(concept)
        if not items:
            return ()
        return items[: bisect_right(self._times[concept], at)]

    def latest(self, concept: str, at: datetime, lookback_h: float) -> Observation | None:
        """Return the latest observation at or before `at` and no older than `lookback_h` hours.

        Ties at one time go to the last one in the file (the later entry wins).
        """
        items = self.series.get(concept)
        if not items:
            return None
        i = bisect_right(self._times[concept], at)
        if i == 0:
            return None
        obs = items[i - 1]
        # `span()` inlined: this is the engine's most called lookup.
        span = self._spans.get(lookback_h)
        if span is None:
            span = self._spans[lookback_h] = timedelta(hours=lookback_h)
        if obs.time < at - span:
            return None
        return obs

    def span(self, hours: float) -> timedelta:
        """Return `timedelta(hours=hours)`, made once per course for each distinct number."""
        found = self._spans.get(hours)
        if found is None:
            found = self._spans[hours] = timedelta(hours=hours)
        return found

    def criterion(self, check: Check, obs: Observation) -> Criterion | None:
        """Return `check(self, obs)`, worked out once per course for each check and observation.

        Dose advice and the organ flags apply the same criteria to the same readings (the
        latest before a dose is one of the readings the organ flags go through). A check is a
        pure function of the course, the rules and the observation. A `by_value` check that
        found nothing for a value finds nothing for every other reading of that value.
        """
        clear = self._clear.get(check)
        if clear is not None and obs.value in clear:
            return None
        key = (check, id(obs))  # the index holds the course, so an id names one observation
        found = self._criteria.get(key, _UNCHECKED)
        if found is _UNCHECKED:
            found = self._criteria[key] = check(self, obs)
            if found is None and clear is not None:
                clear.add(obs.value)
        # Not _UNCHECKED (filled in above); no cast(): this runs for every criterion judged.
        return found  # type: ignore[return-value]

    def clear_values(self, check: Check) -> Set[float | str]:
        """Return the values a `by_value` check has found to meet nothing so far in this course
        (a reading of one of them meets nothing); empty for any other check."""
        return self._clear.get(check, _NONE_CLEAR)

    def first(self, concept: str) -> Observation | None:
        """Return the first observation of a concept in the course (its baseline)."""
        items = self.series.get(concept)
        return items[0] if items else None

    def uln(self, obs: Observation) -> float | None:
        """Return the upper limit for an observation: the lab's, else the site default."""
        return obs.ref_high if obs.ref_high is not None else self.rules.default_high(obs.concept)

    def lln(self, obs: Observation) -> float | None:
        """Return the lower limit for an observation: the lab's, else the site default."""
        return obs.ref_low if obs.ref_low is not None else self.rules.default_low(obs.concept)

    def volume_per_8h(
        self, concept: str, at: datetime, window_h: float, basis_h: float = 8.0
    ) -> tuple[float, tuple[Observation, ...]] | None:
        """Return the volume per `basis_h` hours from the latest collection period(s) ending in the
        `window_h` hours up to `at`, and the records used.

        Walks back from the latest period ending in the window, adding earlier periods that also
        end in the window, until they cover `basis_h` hours; the sum is pro-rated to `basis_h`.
        None when no period ends in the window.
        """
        items = self.series.get(concept)
        if not items:
            return None
        start = at - self.span(window_h)
        used: list[Observation] = []
        covered = 0.0
        # Backwards from the latest record at or before `at`, without copying the ones before.
        for i in range(bisect_right(self._times[concept], at) - 1, -1, -1):
            obs = items[i]
            if obs.time < start:
                break
            used.append(obs)
            covered += obs.period_h or 0.0
            if covered >= basis_h:
                break
        if not used or covered <= 0:
            return None
        total = sum(float(o.value) for o in used)
        return total * basis_h / covered, tuple(reversed(used))

    # -- doses -----------------------------------------------------------------------------

    def dose_position(self, at: datetime) -> tuple[int, int]:
        """Return (cycle, doses given in that cycle at or before `at`).

        The cycle is that of the latest recorded dose at or before `at` (1 before any dose).
        """
        i = bisect_right(self._dose_times, at)
        if i == 0:
            return 1, 0
        cycle = self.doses[i - 1].cycle
        given = sum(1 for d in self.doses[:i] if d.cycle == cycle and d.status == "given")
        return cycle, given

    def first_dose_time(self) -> datetime | None:
        """Return the time of the first dose given, or None before any."""
        for dose in self.doses:
            if dose.status == "given":
                return dose.time
        return None


def target_sbp(usual_sbp: float | None, rules: Rules) -> float:
    """Return the target SBP T from the usual SBP (below 100 -> 80; 100-120 -> 85; above 120 ->
    90; missing -> 90, all from the rules file)."""
    rule = rules.rule("sbp.target")
    if usual_sbp is None:
        return rule.num("target_missing")
    if usual_sbp < rule.num("usual_low_below"):
        return rule.num("target_low")
    if usual_sbp > rule.num("usual_high_above"):
        return rule.num("target_high")
    return rule.num("target_mid")


def make_flag(
    index: CourseIndex,
    *,
    category: str,
    severity: str,
    code: str,
    time: datetime,
    message: str,
    evidence: Sequence[Observation | Evidence],
    source: str,
    **extra: Any,
) -> Flag:
    """Return a Flag with its cycle and after-dose count filled in from the course."""
    cycle, after = index.dose_position(time)
    items = tuple(e if isinstance(e, Evidence) else Evidence.of(e) for e in evidence)
    return Flag(
        category=category,
        severity=severity,
        code=code,
        time=time,
        cycle=cycle,
        after_dose=after,
        message=message,
        evidence=items,
        source=source,
        **extra,
    )


def fmt(value: float | str, digits: int = 3) -> str:
    """Return a value as a message shows it (no trailing zeros: 84, 0.6, 11.2)."""
    if isinstance(value, str):
        return value
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"
