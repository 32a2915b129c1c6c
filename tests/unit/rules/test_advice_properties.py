"""Properties of dose advice, capillary leak and organ flags, over generated bedside states.

- Worsening any single value never softens the advice (give < caution < hold) and never lowers
  or removes a capillary-leak or organ flag.
- The same course in SI units (creatinine umol/L, bilirubin umol/L, albumin g/L, platelets
  10*9/L, temperature degF, weight lb) gives the same advice and flags.
- No valid course makes `advise` or `flags` raise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from il2_tox import units
from il2_tox.course import Course
from il2_tox.rules import capillary_leak, dose_advice, organs
from il2_tox.rules.base import CourseIndex, Flag
from il2_tox.rules.config import load_rules
from tests.builders import CourseBuilder
from tests.strategies import courses
from tests.unit.rules.bedside import BILI_UMOL, CREAT_UMOL, LB

ADVICE_RANK = {"give": 0, "caution": 1, "hold": 2}
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Item:
    """One bedside item: its code and unit, its range and thresholds, which way is worse."""

    code: str
    unit: str | None
    worse: str  # "up", "down", or "order" (coded: later in `order` is worse)
    low: float = 0.0
    high: float = 0.0
    edges: tuple[float, ...] = ()  # the shipped thresholds: values crowd around them
    order: tuple[str, ...] = ()
    period_h: float | None = None
    at: float = 11.0

    def values(self) -> st.SearchStrategy[Any]:
        if self.order:
            return st.sampled_from(self.order)
        near = [
            round(edge + delta, 2)
            for edge in self.edges
            for delta in (-1, -0.01, 0, 0.01, 1)
            if self.low <= edge + delta <= self.high
        ]
        charted = st.integers(int(self.low * 100), int(self.high * 100)).map(lambda v: v / 100)
        return st.one_of(st.sampled_from(near), charted) if near else charted


def _num(code: str, unit: str, worse: str, low: float, high: float, *edges: float) -> Item:
    return Item(code, unit, worse, low, high, edges)


def _coded(code: str, *order: str) -> Item:
    return Item(code, None, "order", order=order)


def _volume(code: str, edges: tuple[float, ...], at: float = 11.0) -> Item:
    worse = "down" if code == "9187-6" else "up"
    return Item(code, "mL", worse, 0, 2000, edges, period_h=8, at=at)


ITEMS: dict[str, Item] = {
    "hr": _num("8867-4", "/min", "up", 40, 200, 100, 130),
    "sbp": _num("8480-6", "mm[Hg]", "down", 50, 200, 80, 85, 90),
    "phenylephrine": _num("il2tox:phenylephrine", "ug/kg/min", "up", 0, 3, 0, 0.5, 0.8),
    "spo2": _num("59408-5", "%", "down", 70, 100, 90),
    "o2_flow": _num("3151-8", "L/min", "up", 0, 12, 3, 4),
    "fio2": _num("3150-0", "%", "up", 21, 100, 40),
    "urine": _volume("9187-6", (80, 160, 288)),
    "stool_earlier": _volume("il2tox:stool-volume", (1000,), at=3),
    "stool": _volume("il2tox:stool-volume", (1000,)),
    "creatinine": _num("2160-0", "mg/dL", "up", 0.3, 8, 1.2, 2.5, 3),
    "platelets": _num("777-3", "10*3/uL", "down", 1, 400, 30, 50),
    "bilirubin": _num("1975-2", "mg/dL", "up", 0.1, 20, 7),
    "albumin": _num("1751-7", "g/dL", "down", 1, 5, 3),
    "weight": _num("29463-7", "kg", "up", 60, 110, 79.2, 82.8),
    "temperature": _num("8310-5", "Cel", "up", 35, 41, 38),
    "troponin": _num("10839-9", "ng/mL", "up", 0, 1, 0.04),
    "rales": _coded("il2tox:rales", "none", "bases", "third", "half"),
    "acvpu": _coded("il2tox:acvpu", "A", "C", "V", "P", "U"),
    "cognition": _coded("il2tox:cognition", "pass", "fail"),
    "rhythm": _coded("il2tox:rhythm", "sinus", "af", "svt", "vt", "ischemic_changes"),
    "skin": _coded("il2tox:skin", "normal", "erythema", "moist_desquamation", "bullous"),
}

# SI (or other accepted) unit for an item, and how a conventional value converts to it.
SI_UNITS: dict[str, tuple[str, Callable[[float], float]]] = {
    "creatinine": ("umol/L", lambda v: v * CREAT_UMOL),
    "bilirubin": ("umol/L", lambda v: v * BILI_UMOL),
    "albumin": ("g/L", lambda v: v * 10),
    "platelets": ("10*9/L", lambda v: v),
    "temperature": ("[degF]", lambda v: v * 9 / 5 + 32),
    "weight": ("[lb_av]", lambda v: v / LB),
}


# Items with a caution band, each limited to values short of its hold band: a state built
# from these alone is give or caution, so one worsening can cross from 2 cautions to 3.
MILD: dict[str, Item] = {
    "hr": replace(ITEMS["hr"], high=130),
    "phenylephrine": replace(ITEMS["phenylephrine"], high=0.8),
    "o2_flow": replace(ITEMS["o2_flow"], high=4),
    "urine": replace(ITEMS["urine"], low=80, high=600),
    "stool": ITEMS["stool"],
    "creatinine": replace(ITEMS["creatinine"], high=2.99),
    "platelets": replace(ITEMS["platelets"], low=30),
    "bilirubin": ITEMS["bilirubin"],
    "weight": ITEMS["weight"],
    "rales": replace(ITEMS["rales"], order=("none", "bases", "third")),
}


@st.composite
def bedside_states(draw: st.DrawFn, mild: bool = False) -> dict[str, Any]:
    """Return a subset of the items with a value each (usual SBP drawn too); `mild`: only
    items of MILD, short of their hold bands."""
    pool = MILD if mild else ITEMS
    size = (2, 5) if mild else (1, 10)
    names = draw(st.sets(st.sampled_from(sorted(pool)), min_size=size[0], max_size=size[1]))
    state: dict[str, Any] = {name: draw(pool[name].values()) for name in names}
    state["_usual_sbp"] = draw(st.sampled_from([None, 95, 110, 130]))
    return state


def build(state: dict[str, Any], si: bool = False) -> CourseIndex:
    """Return the indexed course: dose 1 at hour 12, each item at its hour (11, or 3)."""
    b = CourseBuilder(usual_sbp=state["_usual_sbp"]).dose(1, 1, at=12)
    for name, value in state.items():
        if name.startswith("_"):
            continue
        item = ITEMS[name]
        unit, entered = item.unit, value
        if si and name in SI_UNITS:
            unit, convert = SI_UNITS[name]
            entered = convert(value)
        fields = {"period_h": item.period_h} if item.period_h is not None else {}
        b.obs(item.code, entered, unit, at=item.at, **fields)
    return CourseIndex(b.build(), load_rules())


@st.composite
def worsenings(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (state, the same state with one item made worse); half the states are mild."""
    state = draw(bedside_states(mild=draw(st.booleans())))
    name = draw(st.sampled_from(sorted(k for k in state if not k.startswith("_"))))
    item = ITEMS[name]
    value = state[name]
    worse = dict(state)
    if item.worse == "order":
        position = item.order.index(value)
        worse[name] = draw(st.sampled_from(item.order[position:]))
    else:
        up = item.worse == "up"
        # Often just across the next threshold in the worse direction: where bands change.
        across = [
            round(edge + delta, 2)
            for edge in ITEMS[name].edges
            for delta in ((0, 0.01) if up else (0, -0.01))
            if (edge + delta > value if up else edge + delta < value)
        ]
        step = draw(st.sampled_from([0.01, 0.5, 1, 5]) | st.integers(0, 500).map(float))
        moved = round(value + step, 2) if up else round(value - step, 2)
        jump: bool = draw(st.booleans())
        if across and jump:
            moved = draw(st.sampled_from(across))
        worse[name] = min(max(moved, ITEMS[name].low), ITEMS[name].high)
    return state, worse


def _flag_severities(index: CourseIndex) -> dict[str, int]:
    flags: list[Flag] = [*capillary_leak.flags(index), *organs.flags(index)]
    return {f.code: SEVERITY_RANK[f.severity] for f in flags}


def _advice_ranks(index: CourseIndex) -> list[int]:
    return [ADVICE_RANK[a.advice] for a in dose_advice.advise(index)]


@settings(PROPERTY, max_examples=150)
@given(worsenings())
def test_worsening_one_value_never_softens_the_advice(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    before, after = (build(state) for state in pair)
    assert all(a >= b for a, b in zip(_advice_ranks(after), _advice_ranks(before), strict=True))


@PROPERTY
@given(worsenings())
def test_worsening_one_value_never_lowers_or_removes_a_flag(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    before, after = (_flag_severities(build(state)) for state in pair)
    assert all(after.get(code, -1) >= rank for code, rank in before.items())


@PROPERTY
@given(bedside_states())
def test_the_same_course_in_si_units_gives_the_same_advice_and_flags(
    state: dict[str, Any],
) -> None:
    def outputs(index: CourseIndex) -> tuple[list[Any], list[Any]]:
        advice = [a.to_dict() for a in dose_advice.advise(index)]
        flags = [f.to_dict() for f in [*capillary_leak.flags(index), *organs.flags(index)]]
        return advice, flags

    assert outputs(build(state, si=True)) == outputs(build(state))


# -- no valid course makes the rules raise -------------------------------------------------------

CODES = sorted(units.CODES)


@st.composite
def dense_courses(draw: st.DrawFn) -> Course:
    """Return a valid course whose observations and doses crowd into four days, so that look-back
    windows, volumes and pairs of signs overlap often."""
    b = CourseBuilder(
        weight_kg=draw(st.sampled_from([20.5, 45, 72, 150])),
        usual_sbp=draw(st.sampled_from([None, 90, 100, 120, 121])),
    )
    slots = draw(
        st.lists(st.tuples(st.integers(1, 2), st.integers(1, 14)), unique=True, max_size=16)
    )
    for cycle, number in slots:
        b.dose(
            cycle,
            number,
            at=draw(st.integers(-12, 96)) / 2,
            status=draw(st.sampled_from(["given", "held", "not_given"])),
        )
    for _ in range(draw(st.integers(0, 40))):
        spec = units.CODES[draw(st.sampled_from(CODES))]
        at = draw(st.integers(-48, 192)) / 2
        if spec.kind == "coded":
            b.obs(spec.code, draw(st.sampled_from(spec.values)), at=at)
            continue
        unit = draw(st.sampled_from(spec.units))
        assert spec.low is not None and spec.high is not None
        canonical = draw(st.floats(spec.low, spec.high, allow_nan=False))
        value = unit.from_canonical(canonical)
        if spec.low <= unit.to_canonical(round(value, 3)) <= spec.high:
            value = round(value, 3)  # as charted; the raw float when rounding would leave range
        fields: dict[str, Any] = {}
        if spec.volume:
            fields["period_h"] = draw(st.sampled_from([0.5, 1, 4, 8, 12, 24]))
        if draw(st.booleans()) and spec.code in ("10839-9", "89579-7", "2160-0"):
            # a lab's limit, where the item's values can lie (the reader refuses others)
            top = min(100.0, unit.from_canonical(spec.high))
            fields["ref_high"] = draw(st.floats(0.01, top))
        b.obs(spec.code, value, unit.ucum, at=at, **fields)
    return b.build()


def _consistent(course: Course) -> bool:
    """Run the rules; return whether their output keeps its own contract: one advice per dose
    (plus at most the next), each advice what its criteria say, one flag per code."""
    index = CourseIndex(course, load_rules())
    advice = dose_advice.advise(index)
    flags = [*capillary_leak.flags(index), *organs.flags(index)]
    for item in advice:
        absolute = sum(1 for c in item.criteria if c.kind == "absolute")
        relative = len(item.criteria) - absolute
        expected = "hold" if absolute or relative >= 3 else "caution" if relative else "give"
        if item.advice != expected:
            return False
    codes = [f.code for f in flags]
    return (
        len(advice) - len(course.doses) in (0, 1)
        and len(codes) == len(set(codes))
        and all(f.severity in SEVERITY_RANK and f.to_dict() for f in flags)
    )


@PROPERTY
@given(dense_courses())
def test_no_crowded_course_makes_the_rules_raise(course: Course) -> None:
    assert _consistent(course)


@settings(max_examples=40, deadline=None)
@given(courses(max_observations=20))
def test_no_valid_course_makes_the_rules_raise(course: Course) -> None:
    assert _consistent(course)
