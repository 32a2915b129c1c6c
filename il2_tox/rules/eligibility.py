"""Eligibility before the first dose (REFERENCE.md §6).

Critical: untreated or active brain metastases, systemic steroids, each prior ICI toxicity not
resolved. Warning: ECOG at or above the limit. Only the course's history and prior toxicities
are read: baseline organ abnormalities surface as organ flags (renal, hepatitis...), never here.
A missing history, or a missing item of it, means nothing is known and raises nothing: the
software does not invent a contraindication it was not told about.
"""

from __future__ import annotations

from datetime import datetime

from il2_tox.course import PriorToxicity
from il2_tox.rules.base import CourseIndex, Flag, make_flag


def flags(index: CourseIndex) -> list[Flag]:
    """Return the eligibility flags, all timed at admission (before any dose)."""
    history = index.course.history
    out: list[Flag] = []
    if history is not None:
        brain = index.rules.rule("eligibility.brain_metastases")
        if history.brain_metastases in brain.strs("values"):
            out.append(
                _flag(index, "eligibility.brain_metastases", "Brain metastases untreated or active")
            )
        if history.systemic_steroids is True:
            out.append(_flag(index, "eligibility.systemic_steroids", "On systemic corticosteroids"))
        ecog_rule = index.rules.rule("eligibility.ecog")
        if history.ecog is not None and history.ecog >= ecog_rule.num("at_least"):
            out.append(_flag(index, "eligibility.ecog", f"ECOG performance status {history.ecog}"))
    for toxicity in index.course.prior_toxicities:
        if toxicity.resolved is None:
            out.append(
                _flag(index, "eligibility.unresolved_toxicity", _unresolved_message(toxicity))
            )
    return out


def _unresolved_message(toxicity: PriorToxicity) -> str:
    onset = f", onset {toxicity.onset.isoformat()}" if toxicity.onset is not None else ""
    return (
        f"Prior ICI {toxicity.irae} not resolved (grade {toxicity.grade}, {toxicity.agent}{onset})"
    )


def _flag(index: CourseIndex, code: str, message: str) -> Flag:
    rule = index.rules.rule(code)
    return make_flag(
        index,
        category="eligibility",
        severity=str(rule["severity"]),
        code=code,
        time=_admission_time(index),
        message=message,
        evidence=(),
        source=index.rules.source(code),
    )


def _admission_time(index: CourseIndex) -> datetime:
    """Return the admission time, or the first observation if one was recorded before it."""
    admitted = index.course.admission.admitted_at
    first = min((o.time for o in index.course.observations), default=admitted)
    return min(admitted, first)
