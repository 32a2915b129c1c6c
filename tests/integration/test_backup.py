"""`python -m il2_tox backup FILE | restore FILE`: an online SQLite copy that holds whole
transactions while the ward writes, restored row for row; refusals named in one line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from il2_tox.__main__ import main
from il2_tox.course import load_course
from il2_tox.services import import_course, list_admissions
from il2_tox.services.bedside import Entry, record_observations
from il2_tox.services.users import SignedIn, SystemActor, add_user, authenticate
from il2_tox.store import Database, migrate
from il2_tox.store.backup import BackupError, backup_sqlite, check_backup, restore_sqlite
from tests.integration.conftest import REPO_ROOT


def table_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of every table of a SQLite file, in rowid order."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            name: connection.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
            for name in names
        }
    finally:
        connection.close()


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def ward(tmp_path: Path) -> Iterator[tuple[Database, Path]]:
    """A SQLite database holding the demo ward, and its file."""
    path = tmp_path / "ward.db"
    migrate(url_of(path))
    db = Database(url_of(path))
    for course in sorted((REPO_ROOT / "data" / "demo").glob("*.json")):
        import_course(db, load_course(course), recorded_by="demo")
    yield db, path
    db.dispose()


@pytest.fixture
def nurse(ward: tuple[Database, Path]) -> SignedIn:
    db, _ = ward
    add_user(db, "ada", "nurse", "ada-password", "Ada", actor=SystemActor("test"))
    user = authenticate(db, "ada", "ada-password")
    assert user is not None
    return user


class Writer(threading.Thread):
    """Saves observation sets, one after another, until stopped; counts them."""

    def __init__(self, db: Database, admission_id: int, nurse: SignedIn) -> None:
        super().__init__()
        self.db, self.admission_id, self.nurse = db, admission_id, nurse
        self.saved = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                record_observations(
                    self.db,
                    self.admission_id,
                    [Entry("8867-4", 80 + self.saved % 40, "/min"), Entry("8480-6", 110, "mm[Hg]")],
                    datetime.now(UTC) - timedelta(minutes=1),
                    self.nurse,
                    f"writer-{self.saved}",
                )
                self.saved += 1
        except BaseException as error:  # reported by the test
            self.error = error

    def wait_for(self, sets: int) -> None:
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while self.saved < sets and self.error is None and datetime.now(UTC) < deadline:
            self.stop.wait(0.01)
        assert self.error is None, self.error
        assert self.saved >= sets, "the writer did not get going"


def whole_sets(path: Path) -> None:
    """Assert the file holds whole observation sets: each set's rows with its audit entry."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        keys = {
            row[0]
            for row in connection.execute(
                "SELECT idempotency_key FROM observations WHERE idempotency_key LIKE 'writer-%'"
            )
        }
        stored_ids = {row[0] for row in connection.execute("SELECT id FROM observations")}
        entries = [
            json.loads(row[0])
            for row in connection.execute(
                "SELECT after FROM audit_log WHERE action = 'record_observations'"
            )
        ]
    sets = {key.rsplit("/", 1)[0] for key in keys}
    assert len(entries) == len(sets) > 0
    for key in sets:
        assert {f"{key}/0", f"{key}/1"} <= keys, key
    for after in entries:
        assert set(after["observation_ids"]) <= stored_ids


def test_a_backup_taken_while_a_nurse_saves_holds_whole_sets_and_restores_row_for_row(
    ward: tuple[Database, Path], nurse: SignedIn, tmp_path: Path
) -> None:
    db, source = ward
    admission_id = list_admissions(db)[0].admission_id
    writer = Writer(db, admission_id, nurse)
    writer.start()
    try:
        writer.wait_for(3)
        backup = backup_sqlite(url_of(source), tmp_path / "backup.db")
        taken_at = writer.saved
        writer.wait_for(taken_at + 3)  # still writing after the backup
    finally:
        writer.stop.set()
        writer.join()
    assert writer.error is None, writer.error

    whole_sets(backup.path)
    assert backup.rows["patients"] == 10
    assert not Path(f"{backup.path}-wal").exists()  # one self-contained file

    restored = tmp_path / "restored.db"
    restore_sqlite(backup.path, url_of(restored))
    assert table_rows(restored) == table_rows(backup.path)
    with sqlite3.connect(restored) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    # Once the writing stops, a backup is the database, row for row.
    db.dispose()
    final = backup_sqlite(url_of(source), tmp_path / "final.db")
    assert table_rows(final.path) == table_rows(source)
    assert final.rows["observations"] > backup.rows["observations"]


def test_a_backup_never_overwrites_a_file(ward: tuple[Database, Path], tmp_path: Path) -> None:
    _, source = ward
    existing = tmp_path / "keep.db"
    existing.write_bytes(b"someone's file")
    with pytest.raises(BackupError, match="exists; a backup never overwrites"):
        backup_sqlite(url_of(source), existing)
    assert existing.read_bytes() == b"someone's file"


def test_a_restore_refuses_a_database_holding_records_unless_forced(
    ward: tuple[Database, Path], tmp_path: Path
) -> None:
    _, source = ward
    backup = backup_sqlite(url_of(source), tmp_path / "backup.db")
    other = tmp_path / "other.db"
    migrate(url_of(other))
    other_db = Database(url_of(other))
    add_user(other_db, "bea", "nurse", "bea-password", actor=SystemActor("test"))
    other_db.dispose()
    before = table_rows(other)
    with pytest.raises(BackupError, match=r"holds data \(1 users, 1 audit_log\).*--force"):
        restore_sqlite(backup.path, url_of(other))
    assert table_rows(other) == before
    restore_sqlite(backup.path, url_of(other), force=True)
    assert table_rows(other) == table_rows(backup.path)


def test_a_restore_into_a_migrated_empty_database_needs_no_force(
    ward: tuple[Database, Path], tmp_path: Path
) -> None:
    _, source = ward
    backup = backup_sqlite(url_of(source), tmp_path / "backup.db")
    empty = tmp_path / "empty.db"
    migrate(url_of(empty))
    restore_sqlite(backup.path, url_of(empty))
    assert table_rows(empty) == table_rows(backup.path)


def test_a_damaged_backup_is_refused_and_the_target_left_alone(
    ward: tuple[Database, Path], tmp_path: Path
) -> None:
    _, source = ward
    backup = backup_sqlite(url_of(source), tmp_path / "backup.db")
    damaged = tmp_path / "damaged.db"
    data = bytearray(backup.path.read_bytes())
    # Overwrite pages in the middle of the file (past the header and the schema page).
    middle = len(data) // 2
    data[middle : middle + 8192] = b"\xa5" * 8192
    damaged.write_bytes(bytes(data))
    with pytest.raises(BackupError, match=r"damaged.db: (fails its integrity check|not a usable)"):
        restore_sqlite(damaged, url_of(tmp_path / "target.db"))
    assert not (tmp_path / "target.db").exists() or table_rows(tmp_path / "target.db") == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not an il2-tox database"),
        (b"not a database at all, just text" * 100, "not a usable SQLite database|cannot be"),
    ],
)
def test_a_file_that_is_not_a_backup_is_refused(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "file.db"
    path.write_bytes(content)
    with pytest.raises(BackupError, match=message):
        check_backup(path)


def test_a_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(BackupError, match="not an il2-tox database"):
        check_backup(path)


def test_a_backup_from_a_newer_schema_is_refused(
    ward: tuple[Database, Path], tmp_path: Path
) -> None:
    _, source = ward
    backup = backup_sqlite(url_of(source), tmp_path / "backup.db")
    with sqlite3.connect(backup.path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(BackupError, match="revision 9999 is not one this il2-tox knows"):
        check_backup(backup.path)


# -- the command line -----------------------------------------------------------------------------


def test_the_commands_back_up_and_restore_with_an_audit_entry_each(
    ward: tuple[Database, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db, source = ward
    db.dispose()
    file = tmp_path / "ward-backup.db"
    monkeypatch.setenv("IL2TOX_DATABASE_URL", url_of(source))
    assert main(["backup", str(file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{file}: backup of sqlite:///{source} (schema ")
    assert "10 patients" in out
    assert main(["backup", str(file)]) == 2
    assert "exists; a backup never overwrites" in capsys.readouterr().err

    target = tmp_path / "restored.db"
    monkeypatch.setenv("IL2TOX_DATABASE_URL", url_of(target))
    assert main(["restore", str(file)]) == 0
    assert "restored from" in capsys.readouterr().out
    restored = table_rows(target)
    backed_up = table_rows(file)
    assert restored["observations"] == backed_up["observations"]
    assert [row[3] for row in backed_up["audit_log"]][-1] == "backup"  # (id, at, actor, action
    assert [row[3] for row in restored["audit_log"]][-2:] == ["backup", "restore"]
    assert main(["restore", str(file)]) == 2  # it holds data now
    assert "--force" in capsys.readouterr().err


def test_for_postgresql_the_commands_say_which_tools_to_use(tmp_path: Path) -> None:
    env = {
        "IL2TOX_DATABASE_URL": "postgresql+psycopg://ward:secret@db.example:5432/il2tox",
        "PYTHONPATH": str(REPO_ROOT),
        "PATH": "/usr/bin:/bin",
    }
    for command in ("backup", "restore"):
        done = subprocess.run(
            [sys.executable, "-m", "il2_tox", command, str(tmp_path / "x.dump")],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 1
        assert "pg_dump --format=custom" in done.stderr
        assert "pg_restore --clean --if-exists" in done.stderr
        assert "postgresql://ward:***@db.example:5432/il2tox" in done.stderr
        assert "secret" not in done.stderr
    assert not (tmp_path / "x.dump").exists()


# -- PostgreSQL: the documented pg_dump / pg_restore commands, round trip ------------------------


@pytest.mark.postgres
def test_the_documented_postgresql_commands_restore_every_row(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    import shutil
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from il2_tox.store.backup import postgres_commands

    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump / pg_restore not on PATH")
    migrate(postgres_schema_url)
    db = Database(postgres_schema_url)
    for course in sorted((REPO_ROOT / "data" / "demo").glob("*.json"))[:3]:
        import_course(db, load_course(course), recorded_by="demo")
    db.dispose()
    source = make_url(postgres_schema_url)
    schema = dict(source.query)["options"].split("=", 1)[1]
    target_db = f"restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(source.set(query={}), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {target_db}"))
    target = source.set(database=target_db)
    try:
        dump, restore = postgres_commands(source.set(query={}), str(tmp_path / "ward.dump"))
        assert dump.startswith("pg_dump --format=custom --file=")
        assert restore.startswith("pg_restore --clean --if-exists --no-owner --dbname=")
        # The documented commands, with --schema only because this test's data lives in one.
        libpq = source.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
        libpq_target = target.set(drivername="postgresql", query={}).render_as_string(
            hide_password=False
        )
        file = str(tmp_path / "ward.dump")
        subprocess.run(
            ["pg_dump", "--format=custom", f"--file={file}", f"--schema={schema}", libpq],
            check=True,
        )
        subprocess.run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                f"--dbname={libpq_target}",
                file,
            ],
            check=True,
        )
        restored_url = target.update_query_dict({"options": f"-csearch_path={schema}"})
        rows = {}
        for url in (source, restored_url):
            engine = create_engine(url, poolclass=NullPool)
            with engine.connect() as connection:
                tables = (
                    connection.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY 1"),
                        {"s": schema},
                    )
                    .scalars()
                    .all()
                )
                rows[str(url)] = {
                    t: connection.execute(text(f'SELECT * FROM "{t}" ORDER BY 1')).all()
                    for t in tables
                }
            engine.dispose()
        source_rows, restored_rows = rows.values()
        assert restored_rows == source_rows
        assert len(source_rows["observations"]) > 0
        # The append-only triggers came back with the tables.
        engine = create_engine(restored_url, poolclass=NullPool)
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_log"))
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {target_db} WITH (FORCE)"))
        admin.dispose()
