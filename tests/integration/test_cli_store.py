"""`python -m il2_tox migrate | import | export`: exit codes and the lines a person reads."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from il2_tox.__main__ import main
from il2_tox.course import load_course, parse_course_text
from il2_tox.store import head_revision, migrate
from tests.builders import CourseBuilder
from tests.integration.conftest import REPO_ROOT


@pytest.fixture
def on_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the commands at this test's database (not yet migrated) and return its URL."""
    monkeypatch.setenv("IL2TOX_DATABASE_URL", database_url)
    return database_url


@pytest.fixture
def migrated(on_database: str) -> str:
    migrate(on_database)
    return on_database


def good_file(course_file: Callable[..., Path], patient_id: str, name: str) -> Path:
    course = (
        CourseBuilder(patient_id=patient_id).obs("8310-5", 101.3, "[degF]", at=2).dose(1, 1, at=3)
    )
    return course_file(course.build(), name)


def test_it_migrates_and_says_where(on_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert f"schema at revision {head_revision()} (newest)" in out
    assert main(["migrate"]) == 0


def test_it_imports_files_and_exits_0(
    migrated: str, course_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    first = good_file(course_file, "MRN-1", "one.json")
    second = good_file(course_file, "MRN-2", "two.json")
    assert main(["import", str(first), str(second)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"{first}: loaded MRN-1 admitted 2026-11-20T06:00:00+00:00 (1 observations, 1 doses)",
        f"{second}: loaded MRN-2 admitted 2026-11-20T06:00:00+00:00 (1 observations, 1 doses)",
    ]
    assert err == ""


def test_it_exits_0_on_a_reimport_and_says_already_loaded(
    migrated: str, course_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = good_file(course_file, "MRN-1", "one.json")
    main(["import", str(path)])
    capsys.readouterr()
    assert main(["import", str(path)]) == 0
    assert (
        "already loaded (MRN-1 admitted 2026-11-20T06:00:00+00:00); nothing changed"
        in capsys.readouterr().out
    )


def test_it_exits_2_and_names_each_refused_file_while_the_others_load(
    migrated: str, course_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    good = good_file(course_file, "MRN-1", "good.json")
    no_unit = course_file(
        CourseBuilder(patient_id="MRN-2").obs("8867-4", 88, at=1).document(), "no-unit.json"
    )
    not_json = course_file("{not json", "broken.json")
    assert main(["import", str(no_unit), str(good), str(not_json)]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"{no_unit}: observations[0].unit: is missing; heart rate (8867-4) needs one of /min",
        f"{not_json}: (document): not valid JSON at line 1 column 2: "
        "Expecting property name enclosed in double quotes",
    ]
    assert out.splitlines() == [
        f"{good}: loaded MRN-1 admitted 2026-11-20T06:00:00+00:00 (1 observations, 1 doses)"
    ]


def test_it_exports_to_stdout_what_it_imported(
    migrated: str, course_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = good_file(course_file, "MRN-1", "one.json")
    main(["import", str(path)])
    capsys.readouterr()
    assert main(["export", "--patient", "MRN-1"]) == 0
    out = capsys.readouterr().out
    assert parse_course_text(out) == load_course(path)
    assert json.loads(out)["observations"][0] == {
        "time": "2026-11-20T08:00:00+00:00",
        "code": "8310-5",
        "value": 101.3,
        "unit": "[degF]",
    }


def test_it_exports_one_admission_to_a_file(
    migrated: str,
    course_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = good_file(course_file, "MRN-1", "one.json")
    main(["import", str(path)])
    out_file = tmp_path / "exported.json"
    code = main(
        [
            "export",
            "--patient",
            "MRN-1",
            "--admitted-at",
            "2026-11-20T07:00:00+01:00",
            "-o",
            str(out_file),
        ]
    )
    assert code == 0
    assert load_course(out_file) == load_course(path)


def test_it_exits_2_with_one_line_for_an_unknown_patient(
    migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--patient", "MRN-NOBODY"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", "no patient MRN-NOBODY in the database\n")


def test_it_exits_2_for_an_admission_time_without_an_offset(
    migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--patient", "MRN-1", "--admitted-at", "2026-11-20T06:00"]) == 2
    assert (
        capsys.readouterr().err
        == '--admitted-at: "2026-11-20T06:00" has no UTC offset (add Z or +hh:mm)\n'
    )


def test_it_exits_1_and_says_to_migrate_when_the_schema_is_missing(
    on_database: str, course_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = good_file(course_file, "MRN-1", "one.json")
    assert main(["import", str(path)]) == 1
    assert capsys.readouterr().err.endswith(
        "has no schema: run `python -m il2_tox migrate` first\n"
    )


def test_it_runs_as_a_module_with_the_same_exit_codes(
    migrated: str, course_file: Callable[..., Path], cli_env: dict[str, str]
) -> None:
    good = good_file(course_file, "MRN-1", "good.json")
    bad = course_file(
        CourseBuilder(patient_id="MRN-2").obs("8867-4", 88, at=1).document(), "bad.json"
    )
    run = subprocess.run(
        [sys.executable, "-m", "il2_tox", "import", str(good), str(bad)],
        cwd=REPO_ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [
        f"{bad}: observations[0].unit: is missing; heart rate (8867-4) needs one of /min"
    ]
