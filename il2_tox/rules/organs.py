"""PLACEHOLDER: being written (engine helper 1)."""

from __future__ import annotations

from il2_tox.rules.base import CourseIndex, Flag


def flags(index: CourseIndex) -> list[Flag]:
    return []
