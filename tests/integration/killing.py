"""Kill -9 a real `python -m il2_tox import` at random points, then check what it left behind.

Used by tests/integration/test_kill_random.py (a few kills per backend) and benchmarks/kill.py (20).

One round: write a batch of new course files (each with many observations, so an import
transaction takes a while), start `python -m il2_tox import` on them as a subprocess, wait
until a random number of them is stored (0 .. all but one) plus a random few milliseconds, and
SIGKILL it: no clean-up, no rollback by Python, exactly what a power cut or the OOM killer
does to the writer. Then `check` opens the database fresh and asks:
  - SQLite: `PRAGMA integrity_check` says ok and `PRAGMA foreign_key_check` finds nothing;
    PostgreSQL (no such check): no row points at a missing admission;
  - every stored admission is whole: its observations, doses and prior toxicities count
    exactly what its source file holds, and it has its import audit entry;
  - no course is stored twice.
After the kills, importing every file again (not killed) loads each missing course once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from il2_tox.course import load_course
from il2_tox.store import Database
from il2_tox.store import models as m
from tests.builders import CourseBuilder

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Round:
    """One kill: how far the import had got when it was killed."""

    files: int
    stored_before_kill: int
    extra_delay_ms: float
    exit_signal: int | None


@dataclass
class Report:
    rounds: list[Round] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    admissions_checked: int = 0


def write_batch(folder: Path, prefix: str, files: int, observations: int) -> list[Path]:
    """Write `files` course files (new MRNs) with about `observations` observations each."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(files):
        course = CourseBuilder(patient_id=f"{prefix}-{n:02d}").prior("colitis", grade=2)
        for dose in range(1, 9):
            course.dose(1, dose, at=2 + 8 * (dose - 1))
        for i in range(observations // 3):
            hour = i * 0.25
            course.obs("8480-6", 100 + i % 30, "mm[Hg]", at=hour)
            course.obs("8867-4", 80 + i % 40, "/min", at=hour)
            course.obs("8310-5", 98.6 + (i % 5) / 2, "[degF]", at=hour)
        path = folder / f"{prefix}-{n:02d}.json"
        path.write_text(json.dumps(course.document()), encoding="utf-8")
        paths.append(path)
    return paths


def admissions_stored(db: Database) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(m.Admission)) or 0


def start_import(url: str, paths: list[Path]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "IL2TOX_DATABASE_URL": url, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "il2_tox", "import", *map(str, paths)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill_round(db: Database, url: str, paths: list[Path], rng: random.Random) -> Round:
    """Import `paths` in a subprocess and SIGKILL it part-way; return how far it got."""
    before = admissions_stored(db)
    target = rng.randrange(len(paths))  # courses stored before the kill: 0 .. all but one
    delay = rng.uniform(0, 0.15)
    process = start_import(url, paths)
    deadline = time.monotonic() + 300
    seen, seen_at, per_course = 0, time.monotonic(), float("inf")
    while time.monotonic() < deadline and process.poll() is None:
        stored = admissions_stored(db) - before
        if stored != seen:
            at = time.monotonic()
            if seen >= 1:  # from one stored course to the next: one course's import
                per_course = min(per_course, (at - seen_at) / (stored - seen))
            seen, seen_at = stored, at
        if stored >= target:
            break
        time.sleep(0.005)
    # A random point inside (or between) the next transactions; while the import still has
    # work: at most half of what the courses left take, where one course's time was seen (a
    # faster import than the 0.15 s would otherwise finish before the kill).
    delay = min(delay, 0.5 * per_course * (len(paths) - target))
    time.sleep(delay)
    stored_at_kill = admissions_stored(db) - before
    process.send_signal(signal.SIGKILL)
    returncode = process.wait(timeout=60)
    return Round(
        files=len(paths),
        stored_before_kill=stored_at_kill,
        extra_delay_ms=round(delay * 1000, 1),
        exit_signal=-returncode if returncode < 0 else None,
    )


def check(db: Database, sources: dict[str, Path]) -> tuple[int, list[str]]:
    """Return (admissions checked, problems): integrity, and every stored course whole."""
    problems: list[str] = []
    with db.write_engine.connect() as connection:
        if db.backend == "sqlite":
            result = connection.exec_driver_sql("PRAGMA integrity_check").scalars().all()
            if result != ["ok"]:
                problems.append(f"integrity_check: {result[:5]}")
            orphans = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if orphans:
                problems.append(f"foreign_key_check: {orphans[:5]}")
        else:
            for table in ("observations", "doses", "prior_toxicities"):
                orphans_n = connection.execute(
                    text(
                        f"SELECT count(*) FROM {table} t LEFT JOIN admissions a "
                        "ON a.id = t.admission_id WHERE a.id IS NULL"
                    )
                ).scalar()
                if orphans_n:
                    problems.append(f"{table}: {orphans_n} rows of a missing admission")
    with db.read_session() as session:
        admissions = session.execute(select(m.Admission.id, m.Patient.mrn).join(m.Patient)).all()
        counts: dict[str, dict[int, int]] = {}
        for name, model in (
            ("observations", m.Observation),
            ("doses", m.Dose),
            ("prior_toxicities", m.PriorToxicity),
        ):
            counts[name] = dict(
                session.execute(  # type: ignore[arg-type]
                    select(model.admission_id, func.count()).group_by(model.admission_id)
                ).all()
            )
        audited = {
            after.get("patient")
            for after in session.scalars(
                select(m.AuditEvent.after).where(m.AuditEvent.action == "import")
            )
            if after
        }
    mrns = [mrn for _, mrn in admissions]
    for mrn in {mrn for mrn in mrns if mrns.count(mrn) > 1}:
        problems.append(f"{mrn}: stored {mrns.count(mrn)} times")
    expected_cache: dict[str, Any] = {}
    for admission_id, mrn in admissions:
        if mrn not in sources:
            problems.append(f"{mrn}: stored but no source file")
            continue
        course = expected_cache.setdefault(mrn, load_course(sources[mrn]))
        expected = {
            "observations": len(course.observations),
            "doses": len(course.doses),
            "prior_toxicities": len(course.prior_toxicities),
        }
        for name, wanted in expected.items():
            got = counts[name].get(admission_id, 0)
            if got != wanted:
                problems.append(f"{mrn}: {got} {name} stored, its file has {wanted}")
        if mrn not in audited:
            problems.append(f"{mrn}: stored without its import audit entry")
    return len(admissions), problems


def finish(url: str, paths: list[Path]) -> int:
    """Import every file to completion (no kill); return the exit code."""
    process = start_import(url, paths)
    return process.wait(timeout=600)


def run(url: str, folder: Path, kills: int, files: int, observations: int, seed: int = 1) -> Report:
    """Kill `kills` imports (a new batch each), check after each, then finish and check."""
    rng = random.Random(seed)
    report = Report()
    sources: dict[str, Path] = {}
    batches: list[list[Path]] = []
    db = Database(url)
    try:
        for k in range(kills):
            paths = write_batch(folder, f"KILL{k:02d}", files, observations)
            batches.append(paths)
            sources.update({p.stem: p for p in paths})
            report.rounds.append(kill_round(db, url, paths, rng))
            checked, problems = check(db, sources)
            report.problems += [f"after kill {k + 1}: {p}" for p in problems]
        every = [p for batch in batches for p in batch]
        code = finish(url, every)
        if code != 0:
            report.problems.append(f"the import after the kills exited {code}")
        checked, problems = check(db, sources)
        report.problems += [f"after finishing: {p}" for p in problems]
        report.admissions_checked = checked
        if checked != len(every):
            report.problems.append(f"after finishing: {checked} admissions, {len(every)} files")
    finally:
        db.dispose()
    return report
