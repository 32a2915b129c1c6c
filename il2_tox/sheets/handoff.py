"""The handoff sheet's content, in I-PASS order, for one patient: a pure function of the course,
its assessment, the acknowledgements in force and the clock.

I-PASS: **I**llness severity, **P**atient summary, **A**ction list (here: the next dose's
advice and the open to-dos), **S**ituation awareness and **S**ynthesis by the receiver (left
blank on paper, to write on). Nothing here re-derives what the engine says: flags and advice
come from `assess`, the ward line (cycle, dose, NEWS2, weight, overdue vitals) from
`il2_tox.services.ward.summarize`.

The two rules this module owns, each defined once:

* `illness_severity`: **unstable** when the next dose's advice is hold or any active flag is
  critical; else **watcher** when the advice is caution or any active flag is a warning; else
  **stable**. Info flags and flags no longer present never raise it. An acknowledgement does
  not lower it: acknowledging says "seen", not "resolved".
* `open_todos`: what the outgoing nurse or physician leaves undone, from `DUE_ITEMS` (vitals,
  labs and weight due at the intervals of REFERENCE.md §1, the labs and weight only while the
  cycle still has doses to give), the next dose when it is past due and unrecorded, and the
  active warning or critical flags that no acknowledgement in force covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from il2_tox.assess import Assessment
from il2_tox.course import Course, Dose, PriorToxicity
from il2_tox.rules.base import SEVERITIES, DoseAdvice, Flag
from il2_tox.services.ward import VITALS_OVERDUE_AFTER, WardRow
from il2_tox.units import ALT, AST, BILIRUBIN, CREATININE, HR, PLATELETS, SBP, WEIGHT

STABLE, WATCHER, UNSTABLE = "stable", "watcher", "unstable"
SEVERITY_LEVELS = (STABLE, WATCHER, UNSTABLE)

# A next dose this long past its time with nothing recorded is a to-do ("give or hold it, and
# record it"); inside the hour it is simply being prepared.
DOSE_LATE_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class DueItem:
    """Something measured on a schedule: any of `codes` within `every` counts as done."""

    key: str
    label: str
    codes: tuple[str, ...]
    every: timedelta
    source: str
    while_dosing: bool  # due only while the cycle still has a dose to give


# Monitoring intervals of REFERENCE.md §1 (a to-do is a reminder, not a toxicity threshold:
# those live in data/rules.toml).
DUE_ITEMS: tuple[DueItem, ...] = (
    DueItem(
        "vitals",
        "vitals (HR, SBP)",
        (HR, SBP),
        VITALS_OVERDUE_AFTER,
        "DUT-T2: BP, pulse, RR, temperature every 2-4 h",
        while_dosing=False,
    ),
    DueItem(
        "creatinine",
        "creatinine",
        (CREATININE,),
        timedelta(hours=12),
        "TIL-T2: creatinine twice daily during dosing",
        while_dosing=True,
    ),
    DueItem("alt", "ALT", (ALT,), timedelta(hours=24), "DUT-T2: blood tests daily", True),
    DueItem("ast", "AST", (AST,), timedelta(hours=24), "DUT-T2: blood tests daily", True),
    DueItem(
        "bilirubin",
        "bilirubin",
        (BILIRUBIN,),
        timedelta(hours=24),
        "DUT-T2: blood tests daily",
        True,
    ),
    DueItem(
        "platelets",
        "platelets",
        (PLATELETS,),
        timedelta(hours=24),
        "DUT-T2: blood tests daily",
        True,
    ),
    DueItem("weight", "weight", (WEIGHT,), timedelta(hours=24), "DUT-T2: body weight daily", True),
)


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


def illness_severity(advice: str | None, flags: Iterable[Flag]) -> Severity:
    """Return the illness severity from the next dose's advice and the flags.

    Only active flags count; info flags never raise the level. `advice` None (the cycle has
    all its doses recorded) leaves the flags to decide.
    """
    active = [f for f in flags if f.active]
    critical = sum(1 for f in active if f.severity == "critical")
    warning = sum(1 for f in active if f.severity == "warning")
    reasons: list[str] = []
    if advice == "hold":
        reasons.append("next dose: HOLD advised")
    if critical:
        reasons.append(f"{critical} active critical flag{'s' if critical > 1 else ''}")
    if reasons:
        return Severity(UNSTABLE, tuple(reasons))
    if advice == "caution":
        reasons.append("next dose: CAUTION advised")
    if warning:
        reasons.append(f"{warning} active warning flag{'s' if warning > 1 else ''}")
    if reasons:
        return Severity(WATCHER, tuple(reasons))
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
) -> tuple[Todo, ...]:
    """Return the open to-dos at `now`: items due and not measured, a late dose, unseen flags.

    An item is due when its newest value is older than its interval (exactly the interval is
    not yet due), or when it was never measured. Labs and weight are due only while the cycle
    has a next dose. The next dose is a to-do once it is more than DOSE_LATE_AFTER past its
    time (the first dose of a cycle is started by the team, never late). An active warning or
    critical flag is a to-do unless an acknowledgement or a snooze in force covers it; an
    eligibility flag of any severity is one until acknowledged, before the first dose only.
    """
    todos: list[Todo] = []
    nxt = assessment.next_dose
    dosing = nxt is not None
    for item in DUE_ITEMS:
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
    if nxt is not None and nxt.number > 1 and now - nxt.time > DOSE_LATE_AFTER:
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


def patient_handoff(
    course: Course,
    assessment: Assessment,
    row: WardRow,
    acknowledged: Mapping[tuple[str, datetime], FlagAcknowledged],
    now: datetime,
) -> PatientHandoff:
    """Return one patient's handoff content; `row` is `summarize(course, assessment, now)`."""
    active = sorted((f for f in assessment.flags if f.active), key=_flag_order)
    nxt = assessment.next_dose
    return PatientHandoff(
        row=row,
        severity=illness_severity(nxt.advice if nxt is not None else None, active),
        held=tuple(sorted((d for d in course.doses if d.status != "given"), key=lambda d: d.time)),
        flags=tuple(active),
        acknowledged=dict(acknowledged),
        prior_toxicities=course.prior_toxicities,
        recurrences=tuple(
            f for f in active if f.category == "ici_recurrence" and f.differential is not None
        ),
        next_dose=nxt,
        todos=open_todos(course, assessment, acknowledged, now),
        course=course,
        assessment=assessment,
        now=now,
    )


def severity_order(sheet: PatientHandoff) -> tuple[int, tuple[int, int, int, int, str]]:
    """Sort key for a ward handoff: unstable first, then the ward overview's urgency."""
    return (-SEVERITY_LEVELS.index(sheet.severity.level), sheet.row.urgency())
