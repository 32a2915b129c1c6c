"""The handoff sheet's content, in I-PASS order, for one patient: a pure function of the course,
its assessment, the acknowledgements in force and the clock.

I-PASS: **I**llness severity, **P**atient summary, **A**ction list (here: the next dose's
advice and the open to-dos), **S**ituation awareness and **S**ynthesis by the receiver (left
blank on paper, to write on). Nothing here re-derives what the engine says: flags and advice
come from `assess`, the ward line (cycle, dose, NEWS2, weight, overdue vitals) from
`il2_tox.services.ward.summarize`.

The two rules this module applies, their values in the site rules file (data/rules.toml):

* `illness_severity` (`handoff.severity`): shipped, **unstable** when the next dose's advice is
  hold or any active flag is critical; else **watcher** when the advice is caution or any
  active flag is a warning; else **stable**. Flags no longer present never raise it. An
  acknowledgement does not lower it: acknowledging says "seen", not "resolved".
* `open_todos`: what the outgoing nurse or physician leaves undone, from `MONITORED` at the
  intervals of `monitoring.*` (vitals, labs and weight, REFERENCE.md §1; shipped, the labs and
  weight only while the cycle still has doses to give), the next dose when it is more than
  `handoff.late_dose` past due and unrecorded, and the active warning or critical flags that
  no acknowledgement in force covers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from il2_tox.assess import Assessment
from il2_tox.course import Course, Dose, PriorToxicity
from il2_tox.rules.base import SEVERITIES, DoseAdvice, Flag
from il2_tox.rules.config import Rules, load_rules
from il2_tox.services.ward import Urgency, WardRow
from il2_tox.sheets.vitals import number_text
from il2_tox.units import (
    ALT,
    AST,
    BILIRUBIN,
    CREATININE,
    DBP,
    HR,
    O2_FLOW,
    PLATELETS,
    RR,
    SBP,
    SPO2,
    TEMP,
    WEIGHT,
    display_unit,
)

STABLE, WATCHER, UNSTABLE = "stable", "watcher", "unstable"
SEVERITY_LEVELS = (STABLE, WATCHER, UNSTABLE)


@dataclass(frozen=True)
class Monitored:
    """Something measured on a schedule: any of `codes` counts; its interval is the site rule
    `monitoring.<key>`."""

    key: str
    label: str
    codes: tuple[str, ...]


# What the to-dos watch, in the order the sheet lists them (REFERENCE.md §1).
MONITORED: tuple[Monitored, ...] = (
    Monitored("vitals", "vitals (HR, SBP)", (HR, SBP)),
    Monitored("creatinine", "creatinine", (CREATININE,)),
    Monitored("alt", "ALT", (ALT,)),
    Monitored("ast", "AST", (AST,)),
    Monitored("bilirubin", "bilirubin", (BILIRUBIN,)),
    Monitored("platelets", "platelets", (PLATELETS,)),
    Monitored("weight", "weight", (WEIGHT,)),
)


@dataclass(frozen=True)
class DueItem:
    """Something measured on a schedule: any of `codes` within `every` counts as done."""

    key: str
    label: str
    codes: tuple[str, ...]
    every: timedelta
    source: str
    while_dosing: bool  # due only while the cycle still has a dose to give


def due_items(rules: Rules) -> tuple[DueItem, ...]:
    """Return the monitoring schedule of the site rules file (`monitoring.*`), item by item."""
    items = []
    for item in MONITORED:
        code = f"monitoring.{item.key}"
        rule = rules.rule(code)
        items.append(
            DueItem(
                item.key,
                item.label,
                item.codes,
                timedelta(hours=rule.num("every_h")),
                rules.source(code),
                while_dosing=bool(rule["while_dosing"]),
            )
        )
    return tuple(items)


def dose_late_after(rules: Rules) -> timedelta:
    """Return how long past its time an unrecorded next dose becomes a to-do
    (`handoff.late_dose`; inside it the dose is simply being prepared)."""
    return timedelta(hours=rules.rule("handoff.late_dose").num("after_h"))


@dataclass(frozen=True)
class Severity:
    """The I-PASS illness severity and why (one short reason per thing that set it)."""

    level: str  # one of SEVERITY_LEVELS
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Todo:
    """One open item for the receiver: what kind, and a line a person reads."""

    kind: str  # "due" | "dose" | "flag"
    text: str
    key: str = ""  # the DueItem key, the dose "C1 #5", or the flag code


@dataclass(frozen=True)
class FlagAcknowledged:
    """Who acknowledged a flag, when, why, and until when if only snoozed."""

    by: str
    at: datetime
    reason: str
    snooze_until: datetime | None = None


@dataclass(frozen=True)
class PatientHandoff:
    """Everything one patient's handoff sheet says, in I-PASS order, plus what its charts need."""

    row: WardRow  # the ward line: name, bed, cycle, dose n/14, NEWS2, weight gain, vitals
    severity: Severity
    held: tuple[Dose, ...]  # doses held or not given, every cycle, in time order
    flags: tuple[Flag, ...]  # active flags, most severe first, then newest first
    acknowledged: Mapping[tuple[str, datetime], FlagAcknowledged]
    prior_toxicities: tuple[PriorToxicity, ...]
    recurrences: tuple[Flag, ...]  # active possible ICI recurrences with their differential
    next_dose: DoseAdvice | None
    todos: tuple[Todo, ...]
    course: Course
    assessment: Assessment
    now: datetime

    @property
    def patient_id(self) -> str:
        return self.row.patient_id


def illness_severity(
    advice: str | None, flags: Iterable[Flag], rules: Rules | None = None
) -> Severity:
    """Return the illness severity from the next dose's advice and the flags (`handoff.severity`).

    Only active flags count; with the shipped rules info flags never raise the level. `advice`
    None (the cycle has all its doses recorded) leaves the flags to decide. `rules` default:
    the rules file in force.
    """
    rule = (rules if rules is not None else load_rules()).rule("handoff.severity")
    active = [f for f in flags if f.active]
    for level, advice_key, flags_key in (
        (UNSTABLE, "unstable_advice", "unstable_flags"),
        (WATCHER, "watcher_advice", "watcher_flags"),
    ):
        reasons: list[str] = []
        if advice is not None and advice in rule.strs(advice_key):
            reasons.append(f"next dose: {advice.upper()} advised")
        for severity in SEVERITIES[::-1]:  # critical first
            if severity not in rule.strs(flags_key):
                continue
            count = sum(1 for f in active if f.severity == severity)
            if count:
                reasons.append(f"{count} active {severity} flag{'s' if count > 1 else ''}")
        if reasons:
            return Severity(level, tuple(reasons))
    if advice == "give":
        return Severity(STABLE, ("next dose: no hold or caution criterion met",))
    return Severity(STABLE, ("no active warning or critical flag",))


def _last_time(course: Course, codes: Sequence[str]) -> datetime | None:
    times = [o.time for o in course.observations if o.code in codes]
    return max(times) if times else None


def _ago(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes >= 48 * 60:
        return f"{minutes // (24 * 60)} days ago"
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60:02d} ago"
    return f"{minutes} min ago"


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


def open_todos(
    course: Course,
    assessment: Assessment,
    acknowledged: Mapping[tuple[str, datetime], object],
    now: datetime,
    rules: Rules | None = None,
) -> tuple[Todo, ...]:
    """Return the open to-dos at `now`: items due and not measured, a late dose, unseen flags.

    An item is due when its newest value is older than its interval (exactly the interval is
    not yet due), or when it was never measured; the intervals are the site rules
    `monitoring.*`, and with the shipped rules labs and weight are due only while the cycle
    has a next dose. The next dose is a to-do once it is more than `handoff.late_dose` past its
    time (the first dose of a cycle is started by the team, never late). An active warning or
    critical flag is a to-do unless an acknowledgement or a snooze in force covers it; an
    eligibility flag of any severity is one until acknowledged, before the first dose only.
    """
    rules = rules if rules is not None else load_rules()
    todos: list[Todo] = []
    nxt = assessment.next_dose
    dosing = nxt is not None
    for item in due_items(rules):
        if item.while_dosing and not dosing:
            continue
        last = _last_time(course, item.codes)
        if last is None:
            todos.append(
                Todo(
                    "due", f"{item.label}: none recorded (due every {_hours(item.every)})", item.key
                )
            )
        elif now - last > item.every:
            todos.append(
                Todo(
                    "due",
                    f"{item.label}: last {_ago(now - last)} (due every {_hours(item.every)})",
                    item.key,
                )
            )
    if nxt is not None and nxt.number > 1 and now - nxt.time > dose_late_after(rules):
        todos.append(
            Todo(
                "dose",
                f"dose {nxt.number} of cycle {nxt.cycle} was due {_ago(now - nxt.time)} and is "
                "not recorded: record it given or held",
                f"C{nxt.cycle} #{nxt.number}",
            )
        )
    before_first_dose = not course.doses
    for flag in assessment.flags:
        if not flag.active or (flag.code, flag.time) in acknowledged:
            continue
        eligibility = flag.category == "eligibility" and before_first_dose
        if flag.severity == "info" and not eligibility:
            continue
        who = "a physician must acknowledge it before dose 1" if eligibility else "not acknowledged"
        todos.append(Todo("flag", f"{flag.severity} flag {flag.code}: {who}", flag.code))
    return tuple(todos)


def _flag_order(flag: Flag) -> tuple[int, float]:
    return (-SEVERITIES.index(flag.severity), -flag.time.timestamp())


# The vital signs the summary gives at their latest reading, in the order they are handed over.
LAST_VITALS = (HR, SBP, DBP, RR, SPO2, O2_FLOW, TEMP)
VITAL_NAMES = {
    HR: "HR",
    SBP: "SBP",
    DBP: "DBP",
    RR: "RR",
    SPO2: "SpO2",
    O2_FLOW: "O2 flow",
    TEMP: "Temp",
}


@dataclass(frozen=True)
class Reading:
    """The latest value of one vital sign, canonical, with its time."""

    concept: str
    time: datetime
    value: float | str
    unit: str | None


def latest_vitals(course: Course) -> tuple[Reading, ...]:
    """Return the latest reading of each of `LAST_VITALS` the course has, in that order.

    A vital never measured is left out; of two readings at the same time the one recorded
    last counts (a correction supersedes in the course already).
    """
    latest: dict[str, Reading] = {}
    for o in course.observations:
        concept = o.concept
        if concept not in VITAL_NAMES:
            continue
        seen = latest.get(concept)
        if seen is None or o.time >= seen.time:
            latest[concept] = Reading(concept, o.time, o.value, o.unit)
    return tuple(latest[c] for c in LAST_VITALS if c in latest)


def vitals_line(readings: Sequence[Reading], when: Callable[[datetime], str]) -> str:
    """Return the latest vitals as one line, e.g. "HR 81 /min · BP 96/56 mmHg · RR 13 /min ·
    SpO2 96 % · O2 flow 0 L/min · Temp 37.1 °C".

    `when(time)` writes a time; a reading older than the newest of them carries its own time
    ("Temp 38.2 °C at 12:00"). SBP and DBP of one time read as "BP 96/56 mmHg"; a temperature
    always has its tenth. "none recorded" when there are none.
    """
    if not readings:
        return "none recorded"
    newest = max(r.time for r in readings)
    by = {r.concept: r for r in readings}
    parts = []
    for r in readings:
        if r.concept == DBP and SBP in by and by[SBP].time == r.time:
            continue  # said with its SBP
        if r.concept == SBP and DBP in by and by[DBP].time == r.time:
            name, value = "BP", f"{_number(r)}/{_number(by[DBP])}"
        else:
            name, value = VITAL_NAMES[r.concept], _number(r)
        text = f"{name} {value} {display_unit(r.unit)}".rstrip()
        if r.time != newest:
            text += f" at {when(r.time)}"
        parts.append(text)
    return " · ".join(parts)


def _number(r: Reading) -> str:
    return r.value if isinstance(r.value, str) else number_text(r.concept, r.value, 3)


def patient_handoff(
    course: Course,
    assessment: Assessment,
    row: WardRow,
    acknowledged: Mapping[tuple[str, datetime], FlagAcknowledged],
    now: datetime,
    rules: Rules | None = None,
) -> PatientHandoff:
    """Return one patient's handoff content; `row` is `summarize(course, assessment, now)`.

    `rules` default: the rules file in force (the same one `assessment` was made with).
    """
    rules = rules if rules is not None else load_rules()
    active = sorted((f for f in assessment.flags if f.active), key=_flag_order)
    nxt = assessment.next_dose
    return PatientHandoff(
        row=row,
        severity=illness_severity(nxt.advice if nxt is not None else None, active, rules),
        held=tuple(sorted((d for d in course.doses if d.status != "given"), key=lambda d: d.time)),
        flags=tuple(active),
        acknowledged=dict(acknowledged),
        prior_toxicities=course.prior_toxicities,
        recurrences=tuple(
            f for f in active if f.category == "ici_recurrence" and f.differential is not None
        ),
        next_dose=nxt,
        todos=open_todos(course, assessment, acknowledged, now, rules),
        course=course,
        assessment=assessment,
        now=now,
    )


def severity_order(sheet: PatientHandoff) -> tuple[int, Urgency]:
    """Sort key for a ward handoff: unstable first, then the ward overview's urgency."""
    return (-SEVERITY_LEVELS.index(sheet.severity.level), sheet.row.urgency())
