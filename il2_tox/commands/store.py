"""`python -m il2_tox migrate | import FILE... | export --patient ID [--fhir]`: database commands.

The database is `IL2TOX_DATABASE_URL`, else SQLite at `data/il2_tox.db`. Exit codes: 0 done;
2 bad input (a refused file, an unknown patient, a bad time), one line each on stderr; 1 the
database is not migrated or cannot be used.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from il2_tox.course import CourseError, dump_course, parse_time, save_course
from il2_tox.services import NotFound, export_course, import_files
from il2_tox.services.users import SystemActor
from il2_tox.store import (
    Database,
    current_revision,
    database_url,
    display_url,
    head_revision,
    migrate,
)


def register(subparsers: Any) -> None:
    """Add the migrate, import and export commands."""
    parser = subparsers.add_parser(
        "migrate",
        help="create or upgrade the database schema (alembic upgrade head)",
        description="Bring the database (IL2TOX_DATABASE_URL or data/il2_tox.db) to the newest "
        "schema. Safe to run again.",
    )
    parser.set_defaults(func=run_migrate)

    parser = subparsers.add_parser(
        "import",
        help="load course files (or FHIR R4 Bundles) into the database",
        description="Load il2-tox-course/1 files or FHIR R4 Bundles, one transaction each. "
        "A refused file changes nothing and is named on stderr; the others still load. "
        "A course already stored is left as it is.",
    )
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="course files or FHIR Bundles (JSON)"
    )
    parser.set_defaults(func=run_import)

    parser = subparsers.add_parser(
        "export",
        help="write a stored course back as a course file",
        description="Write a patient's course (the latest admission unless --admitted-at) as an "
        "il2-tox-course/1 file: current records, values and units as entered.",
    )
    parser.add_argument("--patient", required=True, metavar="ID", help="the patient's MRN")
    parser.add_argument(
        "--admitted-at", metavar="ISO", help="which admission, e.g. 2026-11-20T06:00:00Z"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.add_argument(
        "--fhir",
        action="store_true",
        help="write a FHIR R4 Bundle (the course and its flags as DetectedIssues; docs/fhir.md)",
    )
    parser.set_defaults(func=run_export)


def operator() -> SystemActor:
    """Return who runs the command, for the audit log: `cli:<login>`."""
    try:
        return SystemActor(f"cli:{getpass.getuser()}")
    except (KeyError, OSError):  # no login name in a bare container
        return SystemActor("cli")


def run_migrate(args: argparse.Namespace) -> int:
    revision = migrate()
    print(f"{display_url(database_url())}: schema at revision {revision} (newest)")
    return 0


def _open_migrated() -> Database | None:
    """Return the database, or None (having said why on stderr) if its schema is not the newest."""
    db = Database()
    current, head = current_revision(db), head_revision()
    if current != head:
        state = "has no schema" if current is None else f"is at schema {current}, not {head}"
        print(
            f"{display_url(db.url)} {state}: run `python -m il2_tox migrate` first",
            file=sys.stderr,
        )
        db.dispose()
        return None
    return db


def run_import(args: argparse.Namespace) -> int:
    db = _open_migrated()
    if db is None:
        return 1
    try:
        results = import_files(db, args.files)
    finally:
        db.dispose()
    for result in results:
        print(result.describe(), file=sys.stderr if result.refused else sys.stdout)
    return 2 if any(result.refused for result in results) else 0


def run_export(args: argparse.Namespace) -> int:
    try:
        admitted_at = parse_time(args.admitted_at, "--admitted-at") if args.admitted_at else None
    except CourseError as error:
        print(error, file=sys.stderr)
        return 2
    db = _open_migrated()
    if db is None:
        return 1
    if args.fhir:
        return _export_fhir(db, args.patient, admitted_at, args.output)
    try:
        course = export_course(
            db,
            args.patient,
            admitted_at,
            actor=operator(),
            destination=args.output or "stdout",
        )
    except NotFound as error:
        print(error, file=sys.stderr)
        return 2
    finally:
        db.dispose()
    if args.output:
        try:
            save_course(course, args.output)
        except OSError as error:
            print(
                f"--output: cannot write {args.output} ({error.strerror or error})", file=sys.stderr
            )
            return 2
        print(f"{args.output}: {len(course.observations)} observations, {len(course.doses)} doses")
    else:
        sys.stdout.write(dump_course(course))
    return 0


def _export_fhir(
    db: Database, patient: str, admitted_at: datetime | None, output: str | None
) -> int:
    """Write the FHIR Bundle of a patient's course to a file or stdout; close the database."""
    from il2_tox.services.fhir_io import export_bundle

    try:
        bundle = export_bundle(db, patient, admitted_at, actor=operator())
    except NotFound as error:
        print(error, file=sys.stderr)
        return 2
    finally:
        db.dispose()
    text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    if output:
        target = Path(output)
        partial = target.with_name(target.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
        kinds = Counter(entry["resource"]["resourceType"] for entry in bundle["entry"])
        print(f"{output}: FHIR Bundle, " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    else:
        sys.stdout.write(text)
    return 0
