"""`python -m il2_tox demo [--now ISO] [--out DIR]`: the synthetic demo ward.

With `--out DIR` the ward's course files are written there (`DEMO-001.json`, ...) and no
database is touched. Without it the database (`IL2TOX_DATABASE_URL`, else `data/il2_tox.db`) is
migrated and the ward loaded, skipping any demo patient already stored, so running it twice
does not double the data. It also creates the demo accounts `nurse`, `physician` and `admin`
(password `il2-demo`) if they are missing. Exit codes: 0 done; 2 a bad `--now` or a refused
course (one line each on stderr).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from il2_tox.course import Course, CourseError, format_time, parse_time, save_course
from il2_tox.simulate import demo_ward

if TYPE_CHECKING:
    from il2_tox.store import Database

RECORDED_BY = "demo"
# The demo ward's accounts: (username, role, display name). Synthetic data only: never use
# these on a ward with real patients.
DEMO_ACCOUNTS = (
    ("nurse", "nurse", "Demo Nurse"),
    ("physician", "physician", "Demo Physician"),
    ("admin", "admin", "Demo Admin"),
)
DEMO_PASSWORD = "il2-demo"


def register(subparsers: Any) -> None:
    """Add the demo command."""
    parser = subparsers.add_parser(
        "demo",
        help="load (or write) the synthetic demo ward",
        description="Generate the synthetic demo ward, placed so that NOW falls inside each "
        "course. Without --out: migrate the database and load the ward, skipping demo patients "
        "already stored. With --out: write one course file per patient, no database.",
    )
    parser.add_argument(
        "--now",
        metavar="ISO",
        help="the moment the ward should look live at, with an offset "
        "(default: the current time), e.g. 2026-11-21T12:00:00Z",
    )
    parser.add_argument("--out", metavar="DIR", help="write course files here instead")
    parser.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    try:
        now = parse_time(args.now, "--now") if args.now else datetime.now(UTC)
    except CourseError as error:
        print(error, file=sys.stderr)
        return 2
    ward = demo_ward(now)
    if args.out:
        try:
            return _write(ward, Path(args.out))
        except OSError as error:
            print(f"--out: cannot write to {args.out} ({error.strerror or error})", file=sys.stderr)
            return 2
    return _load(ward)


def _write(ward: list[Course], out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    for course in ward:
        path = out / f"{course.patient.id}.json"
        save_course(course, path)
        print(f"{path}: {_describe(course)}")
    return 0


def _load(ward: list[Course]) -> int:
    """Migrate, then import each demo patient not already in the database."""
    # Imported here so that `--out` works without the database packages configured.
    from sqlalchemy import select

    from il2_tox.services import import_course
    from il2_tox.store import Database, display_url, migrate
    from il2_tox.store import models as m

    migrate()
    db = Database()
    refused = 0
    try:
        ids = [course.patient.id for course in ward]
        with db.read_session() as session:
            # The demo is keyed by patient: another `now` gives other admission times, and a
            # second copy of the same patient would double the ward.
            stored = set(session.scalars(select(m.Patient.mrn).where(m.Patient.mrn.in_(ids))))
        for course in ward:
            if course.patient.id in stored:
                print(f"{course.patient.id}: already in the database; skipped")
                continue
            try:
                result = import_course(db, course, recorded_by=RECORDED_BY, source="demo")
            except CourseError as error:
                print(f"{course.patient.id}: {error}", file=sys.stderr)
                refused += 1
                continue
            print(f"{course.patient.id}: {result.status} ({_describe(course)})")
        _add_demo_accounts(db)
        print(f"demo ward loaded into {display_url(db.url)}")
    finally:
        db.dispose()
    return 2 if refused else 0


def _add_demo_accounts(db: Database) -> None:
    """Create each demo account that is missing (an existing one is left as it is)."""
    from il2_tox.services.errors import Refused
    from il2_tox.services.users import SystemActor, add_user, list_users

    existing = {user.username for user in list_users(db)}
    for username, role, display_name in DEMO_ACCOUNTS:
        if username in existing:
            print(f"account {username}: already exists; left as it is")
            continue
        try:
            add_user(
                db, username, role, DEMO_PASSWORD, display_name, actor=SystemActor(RECORDED_BY)
            )
        except Refused as refusal:
            if refusal.field != "username":  # only "added meanwhile" is expected here
                raise
        print(f"account {username}: {role}, password {DEMO_PASSWORD}")


def _describe(course: Course) -> str:
    a = course.admission
    return (
        f"{course.patient.name}, bed {a.bed}, admitted {format_time(a.admitted_at)}, "
        f"{len(course.doses)} doses, {len(course.observations)} observations"
    )
