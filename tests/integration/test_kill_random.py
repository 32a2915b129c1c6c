"""A writer killed with SIGKILL at random points of an import leaves only whole courses.

(test_kill.py kills inside a chosen transaction; this kills wherever the clock says.)

A real `python -m il2_tox import` subprocess is killed at random points, a few times per
backend (benchmarks/kill.py does it 20 times); see tests/integration/killing.py for what is
checked after each kill.
"""

from __future__ import annotations

from pathlib import Path

from il2_tox.store import migrate
from tests.integration import killing

KILLS = 3


def test_imports_killed_mid_way_leave_only_whole_courses(database_url: str, tmp_path: Path) -> None:
    migrate(database_url)
    report = killing.run(database_url, tmp_path / "courses", KILLS, files=3, observations=600)
    assert report.problems == []
    assert [r.exit_signal for r in report.rounds] == [9] * KILLS  # killed, not finished
    assert report.admissions_checked == KILLS * 3
