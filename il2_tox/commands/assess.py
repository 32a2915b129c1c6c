"""`python -m il2_tox assess FILE...`: print the assessment of each course file as JSON.

`python -m il2_tox assess --db [--out FILE.csv] [--workers N]` is cohort mode: every admission
in the database, one CSV row per flag, oldest admission first, with a progress bar on stderr.
With more than one worker (default: one per CPU), batches of admissions are read and assessed
in worker processes, each with its own database connection; the main process writes their rows
in admission order, so the file is the same whatever the number of workers.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import multiprocessing.util
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import IO, TYPE_CHECKING, Any

from tqdm import tqdm

from il2_tox.assess import assess
from il2_tox.course import Course, CourseError, format_time, gc_paused, load_course
from il2_tox.rules.config import Rules, RulesError, load_rules

if TYPE_CHECKING:
    from il2_tox.store import Database

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
COHORT_BATCH = 25  # admissions per unit of work in cohort mode

CohortRow = tuple[object, ...]


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
    parser.add_argument(
        "--workers",
        type=_positive,
        default=os.cpu_count() or 1,
        metavar="N",
        help="cohort mode: worker processes (default: the number of CPUs)",
    )
    parser.set_defaults(func=run)


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return number


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
        if args.out:
            try:
                open(args.out, "a", encoding="utf-8").close()  # can it be written? say so first
            except OSError as error:
                print(
                    f"--out: cannot write {args.out} ({error.strerror or error})", file=sys.stderr
                )
                return 2
        return _cohort(rules, args.out, args.workers)
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


def _cohort(rules: Rules, out_path: str | None, workers: int) -> int:
    from il2_tox.commands.store import operator
    from il2_tox.services.course_io import cohort_export_ids
    from il2_tox.store import Database

    db = Database()
    try:
        # The export is audited (who, how many admissions, where) before any row is written.
        ids = cohort_export_ids(
            db, actor=operator(), what="cohort flags (CSV)", destination=out_path or "stdout"
        )
    finally:
        db.dispose()  # no connection is open when the workers are forked
    batches = [ids[i : i + COHORT_BATCH] for i in range(0, len(ids), COHORT_BATCH)]
    handle: IO[str] = open(out_path, "w", newline="", encoding="utf-8") if out_path else sys.stdout  # noqa: SIM115
    pool = None
    try:
        writer = csv.writer(handle)
        writer.writerow(COHORT_COLUMNS)
        results: Iterator[list[CohortRow]]
        if workers > 1 and len(batches) > 1:
            # Fork where the platform allows it: workers start without importing anything again.
            context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
            pool = ProcessPoolExecutor(
                min(workers, len(batches)),
                mp_context=context,
                initializer=_start_worker,
                initargs=(rules, True),
            )
            results = pool.map(_assess_batch, batches)  # in order of submission
        else:
            _start_worker(rules)
            results = map(_assess_batch, batches)
        with tqdm(
            total=len(ids), desc="assessing", unit="course", file=sys.stderr, disable=None
        ) as bar:
            for batch, rows in zip(batches, results, strict=True):
                writer.writerows(rows)
                bar.update(len(batch))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _stop_worker()
        if out_path:
            handle.close()
    print(f"assessed {len(ids)} admissions", file=sys.stderr)
    return 0


# The state of a cohort worker (a worker process, or the main process with one worker).
_worker_rules: Rules | None = None
_worker_db: Database | None = None


def _start_worker(rules: Rules, in_pool: bool = False) -> None:
    global _worker_rules, _worker_db  # noqa: PLW0603
    from il2_tox.store import Database

    _worker_rules = rules
    _worker_db = Database()
    if in_pool:  # a pool's worker process ends without running atexit hooks
        multiprocessing.util.Finalize(None, _stop_worker, exitpriority=10)


def _stop_worker() -> None:
    global _worker_db  # noqa: PLW0603
    if _worker_db is not None:
        _worker_db.dispose()
        _worker_db = None


def _assess_batch(admissions: list[int]) -> list[CohortRow]:
    """Return the CSV rows of a batch of admissions (by database id), in that order."""
    from il2_tox.services.course_io import iter_courses

    assert _worker_db is not None and _worker_rules is not None
    rows: list[CohortRow] = []
    courses = iter_courses(_worker_db, batch_size=len(admissions), admissions=admissions)
    with gc_paused():  # the batch's courses are alive: a collection would scan them all, often
        for course in courses:
            admitted = format_time(course.admission.admitted_at)
            rows.extend(
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
                for flag in assess(course, _worker_rules).flags
            )
    return rows
