"""PLACEHOLDER: being written (engine helper 1)."""

from __future__ import annotations

from il2_tox.rules.base import CourseIndex, DoseAdvice


def advise(index: CourseIndex) -> list[DoseAdvice]:
    return []
