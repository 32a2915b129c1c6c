"""PLACEHOLDER: being written (engine helper 2)."""

from __future__ import annotations

from il2_tox.rules.base import CourseIndex, Flag, News2Row


def table(index: CourseIndex) -> list[News2Row]:
    return []


def flags(index: CourseIndex, rows: list[News2Row]) -> list[Flag]:
    return []
