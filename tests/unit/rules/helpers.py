"""Small helpers shared by the rule tests of liver, ICI, eligibility and NEWS2.

They call the rule modules directly (not `assess`), so each test fails for its own rule only.
"""

from __future__ import annotations

from il2_tox.course import Course
from il2_tox.rules import eligibility, ici, liver, news2
from il2_tox.rules.base import CourseIndex, Flag, LiverRow, News2Row
from il2_tox.rules.config import load_rules
from tests.builders import CourseBuilder

ALT, AST, ALP, BILI = "1742-6", "1920-8", "6768-6", "1975-2"
BILI_UMOL = 17.1  # µmol/L per mg/dL
CREAT_UMOL = 88.4


def index_of(course: Course | CourseBuilder) -> CourseIndex:
    built = course.build() if isinstance(course, CourseBuilder) else course
    return CourseIndex(built, load_rules())


def liver_rows(course: Course | CourseBuilder) -> list[LiverRow]:
    return liver.table(index_of(course))


def liver_flags(course: Course | CourseBuilder) -> list[Flag]:
    index = index_of(course)
    return liver.flags(index, liver.table(index))


def ici_flags(course: Course | CourseBuilder) -> list[Flag]:
    index = index_of(course)
    return ici.flags(index, liver.table(index))


def eligibility_flags(course: Course | CourseBuilder) -> list[Flag]:
    return eligibility.flags(index_of(course))


def news2_rows(course: Course | CourseBuilder) -> list[News2Row]:
    return news2.table(index_of(course))


def news2_flags(course: Course | CourseBuilder) -> list[Flag]:
    index = index_of(course)
    return news2.flags(index, news2.table(index))


def codes(flags: list[Flag]) -> list[str]:
    return [f.code for f in flags]
