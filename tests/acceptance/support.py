"""Helpers for the acceptance suite: run the engine the way a spec reader would.

Everything here works on the JSON object of `il2-tox-assessment/1` (the dict the CLI prints),
never on engine internals.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from il2_tox.assess import assess
from tests.builders import ADMITTED, CourseBuilder, at_hours

__all__ = [
    "ADMITTED",
    "CourseBuilder",
    "advice",
    "at_hours",
    "flags",
    "iso",
    "result",
    "same_time",
]


def result(builder: CourseBuilder) -> dict[str, Any]:
    """Assess the course and return the output as the JSON round trip would give it."""
    out = assess(builder.build()).to_dict()
    loaded: dict[str, Any] = json.loads(json.dumps(out))
    return loaded


def flags(res: dict[str, Any], category: str, **match: Any) -> list[dict[str, Any]]:
    found = [f for f in res["flags"] if f["category"] == category]
    for key, value in match.items():
        found = [f for f in found if f.get(key) == value]
    return found


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def same_time(a: str, b: float | str) -> bool:
    return iso(a) == iso(at_hours(b))


def advice(res: dict[str, Any], cycle: int, number: int) -> dict[str, Any]:
    rows = [d for d in res["dose_advice"] if d["cycle"] == cycle and d["number"] == number]
    assert len(rows) == 1, f"expected one dose_advice for cycle {cycle} dose {number}: {rows}"
    row: dict[str, Any] = rows[0]
    return row
