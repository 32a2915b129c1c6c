"""`python -m il2_tox assess FILE...`: print the assessment of each course file as JSON.

`python -m il2_tox assess --db [--out FILE.csv]` is cohort mode: every admission in the
database, one CSV row per flag, with a progress bar on stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import IO, Any

from tqdm import tqdm

from il2_tox.assess import assess
from il2_tox.course import Course, CourseError, format_time, load_course
from il2_tox.rules.config import Rules, RulesError, load_rules

COHORT_COLUMNS = (
    "patient_id",
    "admitted_at",
    "category",
    "severity",
    "code",
    "time",
    "cycle",
    "after_dose",
    "active",
    "message",
    "source",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "assess",
        help="assess course files (JSON, one object per line) or the whole database (--db)",
        description="Print the il2-tox-assessment/1 JSON of each course file, one per line; "
        "with --db, assess every admission in the database and write one CSV row per flag.",
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="course file(s)")
    parser.add_argument("--db", action="store_true", help="cohort mode: every admission")
    parser.add_argument("--out", metavar="FILE.csv", help="cohort mode: CSV file (default stdout)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Assess files or the database; a bad file: one line on stderr, nothing on stdout, exit 2."""
    if bool(args.files) == bool(args.db):
        print("assess: give course files, or --db (not both)", file=sys.stderr)
        return 2
    if args.out and not args.db:
        print("assess: --out goes with --db", file=sys.stderr)
        return 2
    try:
        rules = load_rules()
    except RulesError as exc:
        print(f"rules: {exc}", file=sys.stderr)
        return 2
    if args.db:
        return _cohort(rules, args.out)
    courses: list[Course] = []
    for path in args.files:
        try:
            courses.append(load_course(path))
        except CourseError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            return 2
    out = sys.stdout
    for course in courses:
        out.write(json.dumps(assess(course, rules).to_dict(), ensure_ascii=False))
        out.write("\n")
    out.flush()
    return 0


def _cohort(rules: Rules, out_path: str | None) -> int:
    from il2_tox.services.course_io import iter_courses
    from il2_tox.store import Database

    db = Database()
    handle: IO[str] = open(out_path, "w", newline="", encoding="utf-8") if out_path else sys.stdout  # noqa: SIM115
    try:
        writer = csv.writer(handle)
        writer.writerow(COHORT_COLUMNS)
        total = 0
        for course in tqdm(iter_courses(db), desc="assessing", unit="course", file=sys.stderr):
            total += 1
            admitted = format_time(course.admission.admitted_at)
            for flag in assess(course, rules).flags:
                writer.writerow(
                    (
                        course.patient.id,
                        admitted,
                        flag.category,
                        flag.severity,
                        flag.code,
                        format_time(flag.time),
                        flag.cycle,
                        flag.after_dose,
                        flag.active,
                        flag.message,
                        flag.source,
                    )
                )
    finally:
        if out_path:
            handle.close()
        db.dispose()
    print(f"assessed {total} admissions", file=sys.stderr)
    return 0
