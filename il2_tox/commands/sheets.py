"""`python -m il2_tox handoff | vitals`: the printable sheets, written to a file.

    python -m il2_tox handoff --ward --out handoff.pdf
    python -m il2_tox handoff --patient DEMO-003 --out DEMO-003.pdf --page-size letter
    python -m il2_tox vitals --patient DEMO-003 [--cycle 1] --out DEMO-003-vitals.csv

Times print in the ward's time zone (IL2TOX_TIMEZONE, default UTC), as on the dashboard. Each
export is recorded in the audit log as `cli:<login>`. Exit codes: 0 written; 2 bad input (an
unknown patient, a cycle the course does not have, a file type or page size not offered, a
bad time or time zone), one line on stderr naming it; 1 the database is not migrated.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from collections.abc import Callable

    from il2_tox.services.sheets import Export
    from il2_tox.services.users import SystemActor
    from il2_tox.store.engine import Database

TIMEZONE_ENV = "IL2TOX_TIMEZONE"
PAGE_SIZES = ("A4", "letter")


def register(subparsers: Any) -> None:
    """Add the handoff and vitals commands."""
    parser = subparsers.add_parser(
        "handoff",
        help="write the I-PASS handoff sheet (PDF) of one patient or the whole ward",
        description="Write the handoff sheet in I-PASS order (illness severity, patient "
        "summary with charts, active flags, prior ICI toxicity, next dose advice, open to-dos, "
        "lines for the receiver) as a PDF.",
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--patient", metavar="MRN", help="one patient (the current admission)")
    who.add_argument("--ward", action="store_true", help="every patient on the ward")
    _common(parser)
    parser.set_defaults(func=run_handoff)

    parser = subparsers.add_parser(
        "vitals",
        help="write a patient's vitals sheet for one cycle (CSV or PDF)",
        description="Write the vitals sheet (time down the side, measurements across, doses "
        "and flags marked) of one cycle; the file type follows --out (.csv or .pdf).",
    )
    parser.add_argument("--patient", required=True, metavar="MRN", help="the patient's MRN")
    parser.add_argument("--cycle", type=int, metavar="N", help="the cycle (default: the latest)")
    _common(parser)
    parser.set_defaults(func=run_vitals)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    parser.add_argument(
        "--page-size",
        default="A4",
        metavar="SIZE",
        help=f"paper for the PDF: {' or '.join(PAGE_SIZES)} (default A4)",
    )
    parser.add_argument(
        "--now", metavar="ISO", help="the time the sheet is made at (default: now), e.g. for a demo"
    )


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def _clock(args: argparse.Namespace) -> tuple[datetime | None, tzinfo]:
    """Return (now or None, the ward's zone); raise ValueError with a line naming the input."""
    from il2_tox.course import CourseError, parse_time

    name = os.environ.get(TIMEZONE_ENV, "UTC")
    try:
        tz = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{TIMEZONE_ENV}: {name!r} is not a time zone (e.g. Europe/Amsterdam)"
        ) from None
    try:
        now = parse_time(args.now, "--now") if args.now else None
    except CourseError as error:
        raise ValueError(str(error)) from None
    return now, tz


def _check_folder(path: Path) -> str | None:
    """Return why the file cannot be written there, before anything is exported and audited."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return f"--out: the folder {str(folder)!r} does not exist"
    if path.is_dir():
        return f"--out: {str(path)!r} is a folder"
    return None


def _write(path: Path, data: bytes) -> int:
    try:
        path.write_bytes(data)
    except OSError as error:
        return _fail(f"--out: cannot write {path}: {error.strerror}")
    return 0


def _export_to(
    out: Path,
    args: argparse.Namespace,
    make: Callable[[Database, SystemActor, datetime | None, tzinfo], Export],
    describe: Callable[[Export], str],
) -> int:
    """Check the folder and the clock, make the sheet (audited) and write it to `out`.

    Exit 2 with one line naming the input at fault, before anything is exported, or for a
    refusal of the service; 1 when the database is not migrated.
    """
    from il2_tox.commands.store import _open_migrated, operator
    from il2_tox.services.errors import Refused

    problem = _check_folder(out)
    if problem is not None:
        return _fail(problem)
    try:
        now, tz = _clock(args)
    except ValueError as error:
        return _fail(str(error))
    db = _open_migrated()
    if db is None:
        return 1
    try:
        export = make(db, operator(), now, tz)
    except Refused as refusal:
        return _fail(f"--{refusal.field.replace('_', '-')}: {refusal.errors[refusal.field]}")
    finally:
        db.dispose()
    code = _write(out, export.data)
    if code == 0:
        print(f"{out}: {describe(export)}, {len(export.data)} bytes")
    return code


def run_handoff(args: argparse.Namespace) -> int:
    from il2_tox.services.sheets import export_handoff

    out = Path(args.out)
    if out.suffix.lower() != ".pdf":
        return _fail(f"--out: {args.out!r}: the handoff sheet is a PDF; name the file .pdf")
    return _export_to(
        out,
        args,
        lambda db, actor, now, tz: export_handoff(
            db,
            actor,
            patient_id=None if args.ward else args.patient,
            now=now,
            page_size=args.page_size,
            tz=tz,
        ),
        lambda export: f"handoff of {len(export.patients)} patient(s)",
    )


def run_vitals(args: argparse.Namespace) -> int:
    from il2_tox.services.sheets import export_vitals

    out = Path(args.out)
    kind = out.suffix.lower().lstrip(".")
    if kind not in ("csv", "pdf"):
        return _fail(f"--out: {args.out!r}: name the file .csv or .pdf")
    return _export_to(
        out,
        args,
        lambda db, actor, now, tz: export_vitals(
            db,
            actor,
            patient_id=args.patient,
            cycle=args.cycle,
            fmt="csv" if kind == "csv" else "pdf",
            now=now,
            page_size=args.page_size,
            tz=tz,
        ),
        lambda export: f"vitals sheet of {args.patient}",
    )
