"""Every command of `python -m il2_tox`, given bad input, refuses it in one line naming what is
at fault, exits 2 (1 for a database that cannot be reached), never shows a traceback and
writes nothing.

Bad arguments, missing files, folders given as files, bad JSON, wrong types, unwritable outputs,
an unusable database URL. In-process through `main` (argparse's own refusals exit 2 through
SystemExit); one case per kind also as a real subprocess.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from il2_tox.__main__ import main
from il2_tox.store import Database, migrate
from il2_tox.store import models as m
from tests.builders import CourseBuilder
from tests.integration.conftest import REPO_ROOT


@pytest.fixture
def folder(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of bad files, the commands pointed at this test's migrated database."""
    monkeypatch.setenv("IL2TOX_DATABASE_URL", database_url)
    migrate(database_url)
    (tmp_path / "bad.json").write_text("{bad", encoding="utf-8")
    (tmp_path / "list.json").write_text("[]", encoding="utf-8")
    (tmp_path / "latin1.json").write_bytes('{"name": "Jos\xe9"}'.encode("latin-1"))
    (tmp_path / "empty.json").write_text("", encoding="utf-8")
    (tmp_path / "folder.json").mkdir()
    wrong_type = CourseBuilder(patient_id="MRN-T").document()
    wrong_type["patient"]["weight_kg"] = "seventy"
    (tmp_path / "wrong-type.json").write_text(json.dumps(wrong_type), "utf-8")
    good = CourseBuilder(patient_id="MRN-GOOD").obs("8867-4", 90, "/min", at=1).document()
    (tmp_path / "good.json").write_text(json.dumps(good), encoding="utf-8")
    return tmp_path


def run(argv: list[str], folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    finally:
        os.chdir(cwd)
    return code, capsys.readouterr().err


# (arguments, exit code, what the message must name)
CASES = [
    ([], 2, "COMMAND"),
    (["nosuch"], 2, "COMMAND"),
    (["import"], 2, "FILE"),
    (["import", "missing.json"], 2, "missing.json: file:"),
    (["import", "bad.json"], 2, "bad.json: (document): not valid JSON"),
    (["import", "list.json"], 2, "list.json: (document): a course file must hold one JSON"),
    (["import", "latin1.json"], 2, "latin1.json: file:"),
    (["import", "empty.json"], 2, "empty.json: (document): not valid JSON"),
    (["import", "folder.json"], 2, "folder.json: file:"),
    (["import", "wrong-type.json"], 2, "wrong-type.json: patient.weight_kg:"),
    (["assess"], 2, "give course files, or --db"),
    (["assess", "missing.json"], 2, "missing.json: file:"),
    (["assess", "wrong-type.json"], 2, "patient.weight_kg"),
    (["assess", "good.json", "--out", "x.csv"], 2, "--out goes with --db"),
    (["assess", "--db", "--workers", "0"], 2, "--workers"),
    (["assess", "--db", "--workers", "many"], 2, "--workers"),
    (["assess", "--db", "--out", "folder.json"], 2, "--out: cannot write folder.json"),
    (["export"], 2, "--patient"),
    (["export", "--patient", "NOBODY"], 2, "no patient NOBODY"),
    (["export", "--patient", "MRN-GOOD", "--admitted-at", "yesterday"], 2, "--admitted-at"),
    (["export", "--patient", "MRN-GOOD", "-o", "folder.json"], 2, "--output: cannot write"),
    (["export", "--patient", "MRN-GOOD", "-o", "no/such/dir/x.json"], 2, "--output"),
    (["demo", "--now", "noon"], 2, "--now"),
    (["demo", "--out", "good.json"], 2, "--out: cannot write to good.json"),
    (["user"], 2, "ACTION"),
    (["user", "add"], 2, "NAME"),
    (["user", "add", "Bad Name!", "--role", "nurse", "--password-stdin"], 2, "username:"),
    (["user", "add", "ok", "--role", "king", "--password-stdin"], 2, "role:"),
    (["user", "add", "ok", "--role", "nurse", "--password-stdin"], 2, "password:"),
    (["rules", "--file", "missing.toml"], 2, "missing.toml"),
    (["rules", "--file", "bad.json"], 2, "not valid TOML"),
    (["rules", "--file", "folder.json"], 2, "cannot be read"),
]


@pytest.mark.parametrize(("argv", "expected_code", "names"), CASES, ids=str)
def test_bad_input_is_refused_in_one_line_naming_it(
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    expected_code: int,
    names: str,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    if argv[:1] == ["export"] and "MRN-GOOD" in argv:
        assert main(["import", str(folder / "good.json")]) == 0
        capsys.readouterr()
    before = counts()
    code, err = run(argv, folder, capsys)
    assert code == expected_code, err
    assert names in err
    assert "Traceback" not in err
    if argv[:1] != ["assess"] or "--db" not in argv:
        assert counts() == before  # nothing written, not even half a course


def counts() -> dict[str, int]:
    db = Database()
    try:
        with db.read_session() as session:
            return {
                table.name: session.scalar(select(func.count()).select_from(table)) or 0
                for table in (m.Patient.__table__, m.Admission.__table__, m.Observation.__table__)
            }
    finally:
        db.dispose()


def subprocess_run(
    args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "il2_tox", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_database_that_cannot_be_reached_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text("{}", encoding="utf-8")
    done = subprocess_run(
        ["import", "c.json"],
        {"IL2TOX_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
        tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("database postgresql+psycopg://nobody@127.0.0.1:1/none ")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_database_url_that_is_not_one_is_named_and_exit_2(tmp_path: Path) -> None:
    done = subprocess_run(["migrate"], {"IL2TOX_DATABASE_URL": "not a url"}, tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("IL2TOX_DATABASE_URL: not a database URL")
    assert "Traceback" not in done.stderr


def test_a_sqlite_file_in_a_place_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    done = subprocess_run(
        ["migrate"], {"IL2TOX_DATABASE_URL": f"sqlite:///{blocker}/sub/x.db"}, tmp_path
    )
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_an_unwritable_export_as_a_real_process_exits_2_without_a_traceback(
    folder: Path, database_url: str
) -> None:
    env = {"IL2TOX_DATABASE_URL": database_url}
    assert subprocess_run(["import", "good.json"], env, folder).returncode == 0
    done = subprocess_run(["export", "--patient", "MRN-GOOD", "-o", "folder.json"], env, folder)
    assert done.returncode == 2
    assert done.stderr.startswith("--output: cannot write folder.json")
    assert "Traceback" not in done.stderr
