"""NEWS2 (RCP 2017) for every time a NEWS2 parameter was recorded, and early-warning flags.

The chart is data (`news2.score` in the rules file): each parameter's band upper ends
(inclusive) and band scores, so bands are contiguous: 38.05 °C is above 38.0 and scores as
38.1-39.0 (REFERENCE.md §7.1). Flags are deliberately few, because IL-2 physiology alone scores
"medium" (docs/news2.md): only the high band, or a rise over the patient's own on-treatment
level.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Generic, TypeVar

from il2_tox.course import Observation
from il2_tox.rules.base import (
    ACVPU,
    FIO2,
    HR,
    O2_FLOW,
    RR,
    SBP,
    SPO2,
    TEMP,
    CourseIndex,
    Flag,
    News2Row,
    make_flag,
)
from il2_tox.rules.config import Rule

T = TypeVar("T")
SCALE2_TARGET = "88-92"  # the course format's value for a prescribed 88-92 % target
CONCEPTS = (RR, SPO2, O2_FLOW, FIO2, SBP, HR, ACVPU, TEMP)
PARAMETERS = (
    "respiration",
    "spo2",
    "air_or_oxygen",
    "systolic",
    "pulse",
    "consciousness",
    "temperature",
)
ALERT = "A"


def _num(obs: Observation) -> float:
    """Return a value rounded to 9 significant digits (°F conversion leaves 38.00000000000001).

    Cached by value: a chart repeats its values (heart rates, saturations) hundreds of times.
    """
    return _nine_digits(obs.value)


@lru_cache(maxsize=16_384)
def _nine_digits(value: float | str) -> float:
    return float(f"{float(value):.9g}")


def band_score(value: float, bounds: Sequence[float], scores: Sequence[int]) -> int:
    """Return the score of the band holding `value`: bands end at `bounds`, upper end inclusive."""
    return scores[bisect_left(bounds, value)]


Bands = tuple[list[float], list[int]]


class _Chart:
    """The `news2.score` entry, read once per assessment: band bounds and scores."""

    def __init__(self, rule: Rule, scale2: bool) -> None:
        def bands(name: str) -> Bands:
            return list(rule.nums(f"{name}_bounds")), [int(v) for v in rule.nums(f"{name}_scores")]

        self.scale2 = scale2
        self.respiration_bands = bands("respiration")
        self.systolic_bands = bands("systolic")
        self.pulse_bands = bands("pulse")
        self.temperature_bands = bands("temperature")
        self.scale1_bands = bands("spo2_scale1")
        self.scale2_bands = bands("spo2_scale2")
        self.scale2_oxygen_bands = bands("spo2_scale2_oxygen")
        self.not_alert = int(rule.num("consciousness_not_alert_score"))
        self.flow_above = rule.num("oxygen_flow_above")
        self.fio2_above = rule.num("oxygen_fio2_above")

    def respiration(self, obs: Observation) -> int:
        return band_score(_num(obs), *self.respiration_bands)

    def systolic(self, obs: Observation) -> int:
        return band_score(_num(obs), *self.systolic_bands)

    def pulse(self, obs: Observation) -> int:
        return band_score(_num(obs), *self.pulse_bands)

    def temperature(self, obs: Observation) -> int:
        return band_score(_num(obs), *self.temperature_bands)

    def consciousness(self, obs: Observation) -> int:
        return 0 if obs.value == ALERT else self.not_alert

    def on_oxygen(self, flow: Observation | None, fio2: Observation | None) -> bool:
        by_flow = flow is not None and _num(flow) > self.flow_above
        by_fio2 = fio2 is not None and _num(fio2) > self.fio2_above
        return by_flow or by_fio2

    def spo2(self, obs: Observation, oxygen: bool) -> int:
        """Score SpO2 on Scale 1, or on Scale 2 where the course's target is 88-92 %.

        On Scale 2 a saturation above the hypoxia bands scores 0 on air; on oxygen it is scored
        by the oxygen bands (93-94 -> 1, 95-96 -> 2, >= 97 -> 3). When air/oxygen was not
        recorded the reading is scored as on air: an incomplete set counts only what is there.
        """
        value = _num(obs)
        if not self.scale2:
            return band_score(value, *self.scale1_bands)
        low_bounds, low_scores = self.scale2_bands
        if value <= low_bounds[-1]:
            return band_score(value, low_bounds, low_scores)
        if not oxygen:
            return 0
        return band_score(value, *self.scale2_oxygen_bands)


class _Track(Generic[T]):
    """One concept's observations with a value computed once per observation (a score, or
    "on oxygen"), and the one it contributes at each charted time: one pass, no re-scans."""

    def __init__(self, items: Sequence[Observation], values: list[T]) -> None:
        self.items = items
        self.values = values

    def positions(self, moments: Sequence[datetime], starts: Sequence[datetime]) -> list[int]:
        """Return for each moment (in time order) the position of the latest observation at or
        before it and not before its window's start (`starts`, one per moment), or -1."""
        items = self.items
        if not items:
            return [-1] * len(moments)
        out: list[int] = []
        append = out.append
        count, i = len(items), 0
        for moment, start in zip(moments, starts, strict=True):
            while i < count and items[i].time <= moment:
                i += 1
            append(-1 if i == 0 or items[i - 1].time < start else i - 1)
        return out


def _response(total: int, red: bool, high_from: float, medium_from: float) -> str:
    if total >= high_from:
        return "high"
    if total >= medium_from:
        return "medium"
    return "low-medium" if red else "low"


def table(index: CourseIndex) -> list[News2Row]:
    """Return one News2Row per time at which any NEWS2 parameter was recorded.

    The set at a time holds each parameter's latest value in the `set_window_min` minutes up to
    and including it; `complete` when all seven are there (air/oxygen counts when flow or FiO2
    is). An incomplete set's score counts only what is there.
    """
    rule = index.rules.rule("news2.score")
    response_rule = index.rules.rule("news2.response")
    red_score = int(response_rule.num("single_parameter"))
    high_from, medium_from = response_rule.num("high_from"), response_rule.num("medium_from")
    oxygen_score = int(rule.num("oxygen_score"))
    chart = _Chart(rule, index.course.admission.spo2_target == SCALE2_TARGET)
    window = timedelta(minutes=rule.num("set_window_min"))

    def scored(concept: str, score: Callable[[Observation], int]) -> _Track[int]:
        items = index.get(concept)
        return _Track(items, [score(o) for o in items])

    # Each observation is scored once; only Scale 2 SpO2 depends on the set (air or oxygen).
    fixed = (
        ("respiration", scored(RR, chart.respiration)),
        ("systolic", scored(SBP, chart.systolic)),
        ("pulse", scored(HR, chart.pulse)),
        ("consciousness", scored(ACVPU, chart.consciousness)),
        ("temperature", scored(TEMP, chart.temperature)),
    )
    flow = _Track(index.get(O2_FLOW), [chart.on_oxygen(o, None) for o in index.get(O2_FLOW)])
    fio2 = _Track(index.get(FIO2), [chart.on_oxygen(None, o) for o in index.get(FIO2)])
    spo2 = _Track(index.get(SPO2), list(index.get(SPO2)))
    times = sorted({o.time for c in CONCEPTS for o in index.get(c)})
    starts = [moment - window for moment in times]
    # Where each track stands at each time, worked out a track at a time (one walk each).
    flow_at, fio2_at, spo2_at = (t.positions(times, starts) for t in (flow, fio2, spo2))
    first_name, first = fixed[0]
    first_at = first.positions(times, starts)
    rest = [(name, track.values, track.positions(times, starts)) for name, track in fixed[1:]]
    rows = []
    for k, moment in enumerate(times):
        i_flow, i_fio2 = flow_at[k], fio2_at[k]
        oxygen = (i_flow >= 0 and flow.values[i_flow]) or (i_fio2 >= 0 and fio2.values[i_fio2])
        parameters: list[tuple[str, int]] = []
        if (i := first_at[k]) >= 0:
            parameters.append((first_name, first.values[i]))
        if (i := spo2_at[k]) >= 0:
            parameters.append(("spo2", chart.spo2(spo2.values[i], oxygen)))
        if i_flow >= 0 or i_fio2 >= 0:
            parameters.append(("air_or_oxygen", oxygen_score if oxygen else 0))
        for name, values, at in rest:
            if (i := at[k]) >= 0:
                parameters.append((name, values[i]))
        total, red = 0, False
        for _, score in parameters:  # one loop: this runs once per charted time
            total += score
            red = red or score >= red_score
        rows.append(
            News2Row(
                time=moment,
                score=total,
                red_single_parameter=red,
                response=_response(total, red, high_from, medium_from),
                complete=len(parameters) == len(PARAMETERS),
                parameters=tuple(parameters),
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Early-warning flags


class _RollingMedian:
    """Median of the complete on-treatment scores in a trailing window (sorted, bisect-kept)."""

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self.entries: list[News2Row] = []
        self.start = 0
        self.sorted_scores: list[int] = []

    def add(self, row: News2Row) -> None:
        self.entries.append(row)
        insort(self.sorted_scores, row.score)

    def median_before(self, moment: datetime) -> float | None:
        """Return the median score of rows in [moment - window, moment); None if none."""
        while (
            self.start < len(self.entries) and self.entries[self.start].time < moment - self.window
        ):
            old = self.entries[self.start].score
            del self.sorted_scores[bisect_left(self.sorted_scores, old)]
            self.start += 1
        n = len(self.sorted_scores)
        if n == 0:
            return None
        middle = n // 2
        if n % 2:
            return float(self.sorted_scores[middle])
        return (self.sorted_scores[middle - 1] + self.sorted_scores[middle]) / 2


@dataclass
class _Episode:
    """Consecutive rows meeting one rule: one flag."""

    first: News2Row
    last: News2Row
    detail: str
    with_rise: bool = False


class _Episodes:
    """Group consecutive rows meeting a rule into episodes."""

    def __init__(self) -> None:
        self.items: list[_Episode] = []
        self.ongoing = False

    def step(self, row: News2Row, met: bool, detail: str) -> _Episode | None:
        """Extend or start an episode when `met`; close the current one otherwise. `detail`
        words the row of an episode that starts here (unused otherwise)."""
        if not met:
            self.ongoing = False
            return None
        if self.ongoing:
            self.items[-1].last = row
        else:
            self.items.append(_Episode(row, row, detail))
            self.ongoing = True
        return self.items[-1]


def flags(index: CourseIndex, rows: list[News2Row]) -> list[Flag]:
    """Return early-warning flags: one per episode of the high band, one per episode of a rise.

    `news2.high`: score at or above `high_from` (an incomplete set counts, its score being a
    floor). `news2.rise`: a complete set scoring at least `rise_at_least` above the median of
    the patient's complete on-treatment sets (at or after the first given dose) of the previous
    `baseline_window_h` hours; none without such a baseline. Consecutive rows meeting a rule
    form one episode (one flag, `last_seen` its last row). Both warning; a high-band episode
    with a rise in it is critical.
    """
    rule = index.rules.rule("news2.early_warning")
    high_from = rule.num("high_from")
    rise_at_least = rule.num("rise_at_least")
    window_h = rule.num("baseline_window_h")
    first_dose = index.first_dose_time()
    rolling = _RollingMedian(timedelta(hours=window_h))
    high, rise = _Episodes(), _Episodes()
    for row in rows:
        on_treatment = first_dose is not None and row.time >= first_dose
        median = rolling.median_before(row.time) if on_treatment else None
        gain = None if median is None or not row.complete else row.score - median
        is_rise = gain is not None and gain >= rise_at_least
        # An episode's detail words its first row: worded only when one starts.
        starts = is_rise and not rise.ongoing
        rise.step(row, is_rise, _rise_detail(row.score, gain or 0, window_h) if starts else "")
        is_high = row.score >= high_from
        high_detail = f"NEWS2 {row.score} (high band)" if is_high and not high.ongoing else ""
        episode = high.step(row, is_high, high_detail)
        if episode is not None and is_rise:
            episode.with_rise = True
        if on_treatment and row.complete:
            rolling.add(row)
    latest = rows[-1].time if rows else None
    out = [
        _flag(
            index,
            episode,
            code="news2.high",
            severity="critical" if episode.with_rise else "warning",
            message=f"{episode.detail}; IL-2 physiology alone reaches medium, "
            "judge it with the dose criteria",
            active=episode.last.time == latest,
        )
        for episode in high.items
    ]
    out += [
        _flag(
            index,
            episode,
            code="news2.rise",
            severity="warning",
            message=f"{episode.detail}: a change from the patient's own on-treatment level",
            active=episode.last.time == latest,
        )
        for episode in rise.items
    ]
    return out


def _rise_detail(score: int, gain: float, window_h: float) -> str:
    previous = f"the median of the previous {_points(window_h)} h"
    return f"NEWS2 {score}, up {_points(gain)} from {previous}"


def _points(value: float) -> str:
    return f"{value:g}"


def _flag(
    index: CourseIndex, episode: _Episode, *, code: str, severity: str, message: str, active: bool
) -> Flag:
    return make_flag(
        index,
        category="early_warning",
        severity=severity,
        code=code,
        time=episode.first.time,
        message=message,
        evidence=_evidence(index, episode.first.time),
        source=index.rules.source("news2.early_warning"),
        last_seen=episode.last.time,
        active=active,
    )


def _evidence(index: CourseIndex, moment: datetime) -> list[Observation]:
    window = index.rules.rule("news2.score").num("set_window_min") / 60
    found = (index.latest(c, moment, window) for c in CONCEPTS)
    return [obs for obs in found if obs is not None]
