"""Backups of the SQLite database, and restoring one: a consistent copy while the ward writes.

`backup_sqlite` uses SQLite's online backup API (`sqlite3.Connection.backup`): it copies a
snapshot of the database as of one moment, whole transactions only, while other connections
keep reading and writing (WAL). The copy is written beside the target as `FILE.partial`, checked
(`PRAGMA integrity_check`, the Alembic revision) and only then renamed to FILE, so a backup that
fails or is killed leaves no half file under the name. The copy is a single self-contained file
(rollback journal, not WAL).

`restore_sqlite` checks the backup first (integrity, an Alembic revision this code knows) and
refuses to overwrite a database that holds any record unless forced. It copies with the same
API, so the target is replaced in one transaction: a process killed mid-restore leaves the
target as it was.

PostgreSQL is backed up with its own tools (`pg_dump` / `pg_restore`): `postgres_commands`
returns the exact commands for a URL; docs/backups.md explains them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, make_url

from il2_tox.store.engine import SQLITE_BUSY_TIMEOUT_MS

# The tables whose rows make a database "hold data" (alembic_version alone does not).
DATA_TABLES = (
    "users",
    "patients",
    "admissions",
    "prior_toxicities",
    "doses",
    "observations",
    "flag_acknowledgements",
    "audit_log",
)


class BackupError(ValueError):
    """A backup or restore that was not done; `str()` is one line saying why."""


@dataclass(frozen=True)
class BackupInfo:
    """A checked backup file: where, its schema revision, and how many rows each table holds."""

    path: Path
    revision: str
    rows: dict[str, int]


def sqlite_path(url: str | URL) -> Path:
    """Return the file of a SQLite URL; raise BackupError for other databases or memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(
            f"{parsed.get_backend_name()} database: use pg_dump (see docs/backups.md)"
        )
    if parsed.database in (None, "", ":memory:"):
        raise BackupError("an in-memory database cannot be backed up")
    return Path(parsed.database)


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    target = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    connection = sqlite3.connect(target, uri=True, isolation_level=None)
    connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    return connection


def _known_revisions() -> set[str]:
    from il2_tox.store import alembic_config  # the package imports this module's users

    scripts = ScriptDirectory.from_config(alembic_config())
    return {script.revision for script in scripts.walk_revisions()}


def check_backup(path: Path) -> BackupInfo:
    """Return what a backup file holds, or raise BackupError: unreadable, damaged (integrity
    check), not an il2-tox database, or made by a newer schema than this code knows."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        connection = _connect(path, read_only=True)
    except sqlite3.Error as error:
        raise BackupError(f"{path}: cannot be opened as SQLite ({error})") from None
    try:
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"{path}: fails its integrity check: {'; '.join(problems[:3])}")
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if "alembic_version" not in tables or not set(DATA_TABLES) <= tables:
            raise BackupError(f"{path}: not an il2-tox database (no schema revision or tables)")
        versions = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
        rows = {
            table: int(connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
            for table in DATA_TABLES
        }
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path}: not a usable SQLite database ({error})") from None
    finally:
        connection.close()
    if len(versions) != 1:
        raise BackupError(f"{path}: not an il2-tox database (no schema revision)")
    (revision,) = versions
    if revision not in _known_revisions():
        raise BackupError(
            f"{path}: schema revision {revision} is not one this il2-tox knows (made by a newer "
            "version?): restore it with that version"
        )
    return BackupInfo(path=path, revision=revision, rows=rows)


def backup_sqlite(url: str | URL, target: str | Path) -> BackupInfo:
    """Copy the SQLite database at `url` to the new file `target`, online; return it checked.

    Refused (BackupError): a target that exists (a backup never overwrites one), a source that
    is not a migrated il2-tox SQLite file.
    """
    source = sqlite_path(url)
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target}: exists; a backup never overwrites a file: choose a new name")
    if not source.is_file():
        raise BackupError(f"{source}: no such database file")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = _connect(source, read_only=True)
        try:
            dst = sqlite3.connect(partial, isolation_level=None)
            try:
                src.backup(dst)  # one step: a single consistent snapshot
                dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            finally:
                dst.close()
        finally:
            src.close()
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        info = check_backup(partial)
        os.replace(partial, target)
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"{source}: backup failed ({error})") from None
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    return BackupInfo(path=target, revision=info.revision, rows=info.rows)


def _tables(connection: sqlite3.Connection) -> set[str]:
    query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return {row[0] for row in connection.execute(query)}


def held_rows(path: Path) -> dict[str, int]:
    """Return the rows of each data table of a SQLite file ({} when it has no schema or file)."""
    if not path.is_file() or path.stat().st_size == 0:
        return {}
    connection = _connect(path, read_only=True)
    try:
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        return {
            table: int(connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
            for table in DATA_TABLES
            if table in tables
        }
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path}: the target is not a usable SQLite database ({error})") from None
    finally:
        connection.close()


def restore_sqlite(backup: str | Path, url: str | URL, *, force: bool = False) -> BackupInfo:
    """Replace the SQLite database at `url` with the backup file; return the backup checked.

    The backup is checked first (`check_backup`). A target holding any record is refused
    unless `force`: a restore replaces everything in it. The copy is one transaction on the
    target.
    """
    info = check_backup(Path(backup))
    target = sqlite_path(url)
    held = {table: n for table, n in held_rows(target).items() if n}
    if held and not force:
        counts = ", ".join(f"{n} {table}" for table, n in held.items())
        raise BackupError(
            f"{target} holds data ({counts}): a restore would replace it all; "
            "use --force if that is what you want"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    src = _connect(info.path, read_only=True)
    try:
        dst = _connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = WAL")  # as the application runs it
            problems = [row[0] for row in dst.execute("PRAGMA integrity_check")]
        finally:
            dst.close()
    except sqlite3.Error as error:
        raise BackupError(f"{target}: restore failed ({error}); the target is unchanged") from None
    finally:
        with contextlib.suppress(sqlite3.Error):
            src.close()
    if problems != ["ok"]:
        raise BackupError(f"{target}: fails its integrity check after restore: {problems[:3]}")
    return info


def postgres_commands(url: str | URL, file: str) -> tuple[str, str]:
    """Return the pg_dump and pg_restore commands for a PostgreSQL URL (password masked)."""
    parsed = make_url(url).set(drivername="postgresql")
    libpq = parsed.render_as_string(hide_password=True)
    dump = f"pg_dump --format=custom --file={file} '{libpq}'"
    restore = f"pg_restore --clean --if-exists --no-owner --dbname='{libpq}' {file}"
    return dump, restore
