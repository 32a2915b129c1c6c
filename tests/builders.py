"""A small builder for test courses: say only what the test is about.

    course = (CourseBuilder(usual_sbp=118)
              .obs("8480-6", 84, "mm[Hg]", at=10)      # 10 h after admission
              .dose(1, 1, at=2)
              .build())

Times are hours after admission (2026-11-20T06:00Z) or ISO strings. `build()` goes through
`parse_course`, so every test course is validated and converted exactly like a real file.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from il2_tox.course import Course, parse_course

ADMITTED = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def at_hours(at: float | str) -> str:
    """Return an ISO time: `at` hours after admission, or `at` itself if it is a string."""
    if isinstance(at, str):
        return at
    return (ADMITTED + timedelta(hours=at)).isoformat()


class CourseBuilder:
    """Build an `il2-tox-course/1` document step by step; `build()` validates it."""

    def __init__(
        self,
        *,
        patient_id: str = "TEST-001",
        weight_kg: float = 72.0,
        usual_sbp: float | None = 118,
        spo2_target: str | None = None,
        history: dict[str, Any] | None = None,
    ) -> None:
        admission: dict[str, Any] = {
            "admitted_at": ADMITTED.isoformat(),
            "ward": "7B",
            "bed": "1",
            "regimen_iu_per_kg": 600000,
        }
        if usual_sbp is not None:
            admission["usual_sbp_mmhg"] = usual_sbp
        if spo2_target is not None:
            admission["spo2_target"] = spo2_target
        self.doc: dict[str, Any] = {
            "format": "il2-tox-course/1",
            "patient": {"id": patient_id, "name": "Test, Pat", "weight_kg": weight_kg},
            "admission": admission,
            "doses": [],
            "observations": [],
        }
        if history is not None:
            self.doc["history"] = history

    def history(self, **fields: Any) -> CourseBuilder:
        self.doc.setdefault("history", {}).update(fields)
        return self

    def prior(
        self,
        irae: str,
        *,
        grade: int = 2,
        resolved: str | None = "2026-06-01",
        agent: str = "pembrolizumab",
        **fields: Any,
    ) -> CourseBuilder:
        item = {"agent": agent, "irae": irae, "grade": grade, "resolved": resolved, **fields}
        self.doc.setdefault("prior_toxicities", []).append(item)
        return self

    def dose(
        self,
        cycle: int,
        number: int,
        *,
        at: float | str,
        status: str = "given",
        reason: str | None = None,
    ) -> CourseBuilder:
        item: dict[str, Any] = {
            "cycle": cycle,
            "number": number,
            "time": at_hours(at),
            "status": status,
        }
        if reason is not None:
            item["reason"] = reason
        self.doc["doses"].append(item)
        return self

    def obs(
        self,
        code: str,
        value: float | str,
        unit: str | None = None,
        *,
        at: float | str,
        **fields: Any,
    ) -> CourseBuilder:
        item: dict[str, Any] = {"time": at_hours(at), "code": code, "value": value}
        if unit is not None:
            item["unit"] = unit
        item.update(fields)
        self.doc["observations"].append(item)
        return self

    def document(self) -> dict[str, Any]:
        """Return a deep copy of the document built so far."""
        return copy.deepcopy(self.doc)

    def build(self) -> Course:
        return parse_course(self.document())
