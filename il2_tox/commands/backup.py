"""`python -m il2_tox backup FILE | restore FILE [--force]`: copy the database out and back.

SQLite (the default database): `backup` takes an online copy with SQLite's backup API while the
ward keeps working, checks it and writes it to FILE (never over an existing file); `restore`
checks FILE (integrity, schema revision) and replaces the database with it, refusing a database
that holds records unless `--force`. Both are written to the audit log (the backup's entry is
inside the backup; the restore's is in the restored database). PostgreSQL: both commands print
the exact `pg_dump` / `pg_restore` commands to run instead (docs/backups.md) and exit 1.

Exit codes: 0 done; 2 refused (FILE exists, a damaged or foreign backup, a target holding data
without --force), one line on stderr; 1 anything else (PostgreSQL, a database not migrated).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from sqlalchemy.engine import make_url

from il2_tox.store import Database, current_revision, database_url, display_url, head_revision
from il2_tox.store.backup import (
    BackupError,
    BackupInfo,
    backup_sqlite,
    postgres_commands,
    restore_sqlite,
)
from il2_tox.store.records import record_event


def register(subparsers: Any) -> None:
    """Add the backup and restore commands."""
    parser = subparsers.add_parser(
        "backup",
        help="copy the database to a new file while it is in use (SQLite)",
        description="Write an online, consistent copy of the SQLite database "
        "(IL2TOX_DATABASE_URL or data/il2_tox.db) to FILE, checked before it is named FILE. "
        "Never overwrites a file. For PostgreSQL it prints the pg_dump command to use.",
    )
    parser.add_argument("file", metavar="FILE", help="the new backup file")
    parser.set_defaults(func=run_backup)

    parser = subparsers.add_parser(
        "restore",
        help="replace the database with a backup file (SQLite)",
        description="Check FILE (integrity, schema revision) and replace the SQLite database "
        "with it. Refuses a database that holds any record unless --force. For PostgreSQL it "
        "prints the pg_restore command to use.",
    )
    parser.add_argument("file", metavar="FILE", help="a file written by `backup`")
    parser.add_argument(
        "--force", action="store_true", help="replace a database that holds records"
    )
    parser.set_defaults(func=run_restore)


def _actor() -> str:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return f"command line ({who})"[:64]


def _postgres(url: str, file: str) -> int:
    dump, restore = postgres_commands(url, file)
    print(
        f"{display_url(url)} is PostgreSQL: back it up and restore it with PostgreSQL's own "
        f"tools (docs/backups.md):\n  backup:  {dump}\n  restore: {restore}",
        file=sys.stderr,
    )
    return 1


def _describe(info: BackupInfo) -> str:
    counts = ", ".join(
        f"{info.rows[t]} {t}" for t in ("patients", "admissions", "observations", "doses")
    )
    return f"schema {info.revision}; {counts}"


def run_backup(args: argparse.Namespace) -> int:
    url = database_url()
    if make_url(url).get_backend_name() != "sqlite":
        return _postgres(url, args.file)
    db = Database(url)
    try:
        if current_revision(db) is None:
            print(f"{display_url(url)} has no schema: nothing to back up", file=sys.stderr)
            return 1
        with db.write_session() as session:
            record_event(
                session,
                actor=_actor(),
                action="backup",
                entity="database",
                after={"file": args.file},
            )
    finally:
        db.dispose()
    try:
        info = backup_sqlite(url, args.file)
    except BackupError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"{info.path}: backup of {display_url(url)} ({_describe(info)})")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    url = database_url()
    if make_url(url).get_backend_name() != "sqlite":
        return _postgres(url, args.file)
    try:
        info = restore_sqlite(args.file, url, force=args.force)
    except BackupError as error:
        print(error, file=sys.stderr)
        return 2
    db = Database(url)
    try:
        if info.revision == head_revision() and current_revision(db) == info.revision:
            with db.write_session() as session:
                record_event(
                    session,
                    actor=_actor(),
                    action="restore",
                    entity="database",
                    after={"file": args.file, "force": bool(args.force)},
                )
    finally:
        db.dispose()
    print(f"{display_url(url)}: restored from {args.file} ({_describe(info)})")
    if info.revision != head_revision():
        print(
            f"The backup is at schema {info.revision}, older than {head_revision()}: run "
            "`python -m il2_tox migrate` before use.",
            file=sys.stderr,
        )
    return 0
