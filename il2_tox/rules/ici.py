"""PLACEHOLDER: being written (engine helper 2)."""

from __future__ import annotations

from il2_tox.rules.base import CourseIndex, Flag, LiverRow


def flags(index: CourseIndex, liver_rows: list[LiverRow]) -> list[Flag]:
    return []
