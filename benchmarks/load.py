"""Load benchmark: many nurses saving observation sets at once, through the service layer.

    .venv/bin/python benchmarks/load.py                       # SQLite in a temporary folder
    .venv/bin/python benchmarks/load.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/load.py --writers 20 --sets 200 --patients 20,4

Each writer is its own **process** (on SQLite, separate processes contend for the file lock
exactly as the dashboard server, the command line and a second server would; threads would
share one interpreter lock and hide some of it). Each signs in as its own nurse account
(`authenticate`, the real sign-in) and saves `--sets` pre-dose observation sets with
`il2_tox.services.bedside.record_observations`, each under a fresh idempotency key; every
`--replay-every`-th set is submitted a second time with the same key (a double click), which
must store nothing and give back the first set. All writers start together (a barrier).

Scenarios (`--patients`, comma separated): with 20 patients each writer has its own patient;
with fewer, writers share patients (writer i writes on patient i mod N), which is harder (the
same admission's rows and advice read and written at once) and closer to a ward where several
people chart on the same patient.

Afterwards the database is compared with what each writer believes it saved:
  lost       = sets a writer was told were saved whose rows are missing, or differ (ids,
               codes, values as entered, time), or whose audit entry is missing;
  duplicated = rows under a run key no writer was told about, or more than one row per
               (set, entry), or a replay that stored anything;
  errors     = any exception a writer got (what a user would see); a busy or locked database
               must be retried inside the service, not shown.
Latency: "save" is the write transaction (role check, value checks, the rows and their audit
entry, commit, any retry), timed by wrapping the service's store step; "call" is the whole
`record_observations` call as the dashboard makes it, which also reads the course back and
assesses it to return the next-dose advice (that read grows with the course).

Prints a table and writes JSON to benchmarks/out/load-<backend>-<time>.json. Exit code 0 when
nothing was lost or duplicated and no writer saw an error (the latency goal is reported, not
enforced: the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import drop_postgres_schema, fresh_postgres_schema, report_head, write_report  # noqa: E402
from sqlalchemy import select  # noqa: E402

from il2_tox.course import parse_course  # noqa: E402
from il2_tox.services import bedside  # noqa: E402
from il2_tox.services.bedside import record_observations  # noqa: E402
from il2_tox.services.course_io import import_course  # noqa: E402
from il2_tox.services.users import SystemActor, add_user, authenticate  # noqa: E402
from il2_tox.store import Database, migrate  # noqa: E402
from il2_tox.store import models as m  # noqa: E402

OUT = REPO / "benchmarks" / "out"
GOAL_P95_MS = 50.0
PASSWORD = "load-benchmark-password"
HR, SBP, TEMP, SPO2, RR, ACVPU = (
    "8867-4",
    "8480-6",
    "8310-5",
    "59408-5",
    "9279-1",
    "il2tox:acvpu",
)


@dataclass
class Saved:
    """One set as its writer was told it was saved."""

    key: str
    admission_id: int
    observation_ids: list[int]
    entries: list[list[Any]]  # [code, value, unit]
    observed_at: str


@dataclass
class WriterReport:
    writer: int
    saved: list[Saved] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # the whole call
    save_ms: list[float] = field(default_factory=list)  # its write transaction(s) only
    replays: int = 0
    bad_replays: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Set-up


def admit_patients(db: Database, count: int, admitted_at: datetime) -> list[int]:
    """Import `count` new courses (admission only, no observation yet); return admission ids."""
    ids = []
    for i in range(count):
        course = parse_course(
            {
                "format": "il2-tox-course/1",
                "patient": {"id": f"LOAD-{i + 1:03d}", "name": f"Load, Patient {i + 1}",
                            "weight_kg": 70 + i % 15},
                "admission": {"admitted_at": admitted_at.isoformat(), "ward": "7B",
                              "bed": str(i + 1), "regimen_iu_per_kg": 600000,
                              "usual_sbp_mmhg": 120},
                "doses": [],
                "observations": [],
            }
        )  # fmt: skip
        result = import_course(db, course, recorded_by="load-benchmark")
        assert result.admission_id is not None
        ids.append(result.admission_id)
    return ids


def add_nurses(db: Database, count: int) -> None:
    for i in range(count):
        add_user(db, f"nurse{i:02d}", "nurse", PASSWORD, f"Nurse {i}", actor=SystemActor("load"))


# ---------------------------------------------------------------------------------------------
# One writer (runs in its own process)


def entries_for(rng: random.Random) -> list[list[Any]]:
    """Return one pre-dose set: six vitals with values a ward might see, as typed."""
    return [
        [HR, rng.randint(60, 130), "/min"],
        [SBP, rng.randint(85, 140), "mm[Hg]"],
        [TEMP, round(rng.uniform(36.0, 39.5), 1), "Cel"],
        [SPO2, rng.randint(90, 100), "%"],
        [RR, rng.randint(12, 28), "/min"],
        [ACVPU, rng.choice("AAAAC"), None],
    ]


def run_writer(
    url: str,
    writer: int,
    admission_id: int,
    sets: int,
    replay_every: int,
    run: str,
    barrier: Any,
    queue: Any,
) -> None:
    report = WriterReport(writer)
    # Time the write transaction apart from the advice the call also computes: wrap the
    # service's own store step (the benchmark's instrument; the product is unchanged).
    store = bedside._store_observations
    pending: list[float] = []

    def timed_store(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return store(*args, **kwargs)
        finally:
            pending.append((time.perf_counter() - began) * 1000)

    bedside._store_observations = timed_store  # type: ignore[assignment]
    db = Database(url)
    try:
        # Everyone signs in at once too, as at the start of a shift; a failed sign-in is an
        # error a user sees. The barrier is passed either way, so no writer waits forever.
        try:
            actor = authenticate(db, f"nurse{writer:02d}", PASSWORD)
        finally:
            barrier.wait()
        if actor is None:
            report.errors.append("sign-in refused")
            return
        rng = random.Random(writer)
        for j in range(sets):
            key = f"{run}-w{writer:02d}-s{j:04d}"
            entries = entries_for(rng)
            observed_at = datetime.now(UTC) - timedelta(seconds=rng.randint(0, 600))
            pending.clear()
            began = time.perf_counter()
            try:
                result = record_observations(
                    db, admission_id, [(*e, None) for e in entries], observed_at,
                    actor, key,
                )  # fmt: skip
            except Exception as error:  # what a user would see: counted
                report.errors.append(f"{key}: {error.__class__.__name__}: {error}")
                continue
            report.latencies_ms.append((time.perf_counter() - began) * 1000)
            report.save_ms.append(sum(pending))
            report.saved.append(
                Saved(key, admission_id, list(result.observation_ids), entries,
                      observed_at.isoformat())
            )  # fmt: skip
            if replay_every and j % replay_every == replay_every - 1:
                report.replays += 1
                try:
                    again = record_observations(
                        db, admission_id, [(*e, None) for e in entries], observed_at,
                        actor, key,
                    )  # fmt: skip
                except Exception as error:
                    report.errors.append(f"{key} (replay): {error.__class__.__name__}: {error}")
                    continue
                if not again.replayed or again.observation_ids != result.observation_ids:
                    report.bad_replays.append(key)
    except Exception:  # reported, never hidden
        report.errors.append(traceback.format_exc())
    finally:
        db.dispose()
        queue.put(asdict(report))


# ---------------------------------------------------------------------------------------------
# Checking the database against what the writers believe


def check(db: Database, run: str, reports: list[dict[str, Any]]) -> dict[str, Any]:
    with db.read_session() as session:
        rows = session.execute(
            select(
                m.Observation.id, m.Observation.idempotency_key, m.Observation.admission_id,
                m.Observation.code, m.Observation.entered_value, m.Observation.entered_unit,
                m.Observation.observed_at,
            ).where(m.Observation.idempotency_key.startswith(f"{run}-"))
        ).all()  # fmt: skip
        audited: set[int] = set()
        for after in session.scalars(
            select(m.AuditEvent.after).where(m.AuditEvent.action == "record_observations")
        ):
            audited.update((after or {}).get("observation_ids", []))
    by_set: dict[str, list[Any]] = {}
    for row in rows:
        set_key, _, _index = row.idempotency_key.rpartition("/")
        by_set.setdefault(set_key, []).append(row)
    believed = {s["key"]: s for r in reports for s in r["saved"]}
    lost: list[str] = []
    for key, s in believed.items():
        stored = sorted(by_set.get(key, []), key=lambda row: row.id)
        expected = [(code, json.dumps(value), unit) for code, value, unit in s["entries"]]
        found = [(row.code, row.entered_value, row.entered_unit) for row in stored]
        if (
            [row.id for row in stored] != sorted(s["observation_ids"])
            or found != expected
            or any(row.admission_id != s["admission_id"] for row in stored)
            or any(row.observed_at != datetime.fromisoformat(s["observed_at"]) for row in stored)
            or not all(row.id in audited for row in stored)
        ):
            lost.append(key)
    unknown = sorted(set(by_set) - set(believed))
    per_entry = Counter(row.idempotency_key for row in rows)
    duplicated = unknown + sorted(k for k, n in per_entry.items() if n > 1)
    duplicated += [k for r in reports for k in r["bad_replays"]]
    return {
        "sets_believed_saved": len(believed),
        "rows_stored": len(rows),
        "rows_expected": sum(len(s["entries"]) for s in believed.values()),
        "lost": lost,
        "duplicated": duplicated,
    }


# ---------------------------------------------------------------------------------------------


def percentile(ordered: list[float], q: float) -> float:
    """Return the q-quantile (nearest rank) of sorted samples."""
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def scenario(url: str, writers: int, sets: int, patients: int, replay_every: int) -> dict[str, Any]:
    run = f"load{uuid.uuid4().hex[:8]}"
    db = Database(url)
    try:
        # Admitted two hours ago: every set is a current entry, none backdated past admission.
        ids = admit_patients(db, patients, datetime.now(UTC) - timedelta(hours=2))
    finally:
        db.dispose()  # no connection is inherited by the writers
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    barrier = context.Barrier(writers + 1)
    queue = context.Queue()
    processes = [
        context.Process(
            target=run_writer,
            args=(url, w, ids[w % patients], sets, replay_every, run, barrier, queue),
        )
        for w in range(writers)
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=600)
    began = time.perf_counter()
    reports = [queue.get(timeout=3600) for _ in processes]
    wall = time.perf_counter() - began
    for process in processes:
        process.join()
    db = Database(url)
    try:
        outcome = check(db, run, reports)
    finally:
        db.dispose()
    latencies = sorted(x for r in reports for x in r["latencies_ms"])
    saves = sorted(x for r in reports for x in r["save_ms"])
    errors = [e for r in reports for e in r["errors"]]
    crashed = [p.pid for p in processes if p.exitcode != 0]
    return {
        "writers": writers,
        "sets_per_writer": sets,
        "patients": patients,
        "replays": sum(r["replays"] for r in reports),
        "wall_s": round(wall, 2),
        "saves_per_s": round(len(latencies) / wall, 1) if wall else None,
        "save_p50_ms": round(statistics.median(saves), 1) if saves else None,
        "save_p95_ms": round(percentile(saves, 0.95), 1) if saves else None,
        "save_max_ms": round(saves[-1], 1) if saves else None,
        "call_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "call_p95_ms": round(percentile(latencies, 0.95), 1) if latencies else None,
        "call_max_ms": round(latencies[-1], 1) if latencies else None,
        "errors": len(errors),
        "error_samples": errors[:5],
        "writer_processes_failed": crashed,
        "lost": len(outcome["lost"]),
        "lost_samples": outcome["lost"][:5],
        "duplicated": len(outcome["duplicated"]),
        "duplicated_samples": outcome["duplicated"][:5],
        "sets_saved": outcome["sets_believed_saved"],
        "rows_stored": outcome["rows_stored"],
        "rows_expected": outcome["rows_expected"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Concurrent writers saving observation sets through the service layer; "
        "counts lost, duplicated and errors, and save latency.",
    )
    parser.add_argument("--writers", type=int, default=20, help="writer processes (default 20)")
    parser.add_argument("--sets", type=int, default=200, help="sets per writer (default 200)")
    parser.add_argument(
        "--patients",
        default="20,4",
        help="comma-separated scenarios: patients shared by the writers "
        "(default '20,4': one patient each, then five writers per patient)",
    )
    parser.add_argument(
        "--replay-every", type=int, default=10, help="resubmit every Nth set (0: never)"
    )
    parser.add_argument(
        "--postgres", metavar="URL", help="run on this PostgreSQL server (a fresh schema) "
        "instead of SQLite in a temporary folder",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the JSON report")
    args = parser.parse_args(argv)
    scenarios = [int(n) for n in args.patients.split(",") if n.strip()]

    results = []
    for patients in scenarios:
        with tempfile.TemporaryDirectory(prefix="il2tox-load-") as folder:
            schema = None
            if args.postgres:
                url, schema = fresh_postgres_schema(args.postgres)
            else:
                url = f"sqlite:///{Path(folder) / 'load.db'}"
            try:
                migrate(url)
                db = Database(url)
                try:
                    add_nurses(db, args.writers)
                finally:
                    db.dispose()
                print(f"{args.writers} writers x {args.sets} sets on {patients} patient(s)...",
                      file=sys.stderr)  # fmt: skip
                results.append(scenario(url, args.writers, args.sets, patients, args.replay_every))
            finally:
                if schema is not None:
                    drop_postgres_schema(args.postgres, schema)

    backend = "postgresql" if args.postgres else "sqlite"
    report = report_head("load", backend=backend, goal_p95_ms_sqlite=GOAL_P95_MS, scenarios=results)
    path = write_report(args.out, f"load-{backend}", report)

    print(f"\nLoad on {backend}: {platform.platform()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| writers x sets | patients | saves | lost | duplicated | errors | replays "
          "| save p50 / p95 / max ms | call p50 / p95 / max ms | saves/s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['writers']} x {r['sets_per_writer']} | {r['patients']} | {r['sets_saved']} "
            f"| {r['lost']} | {r['duplicated']} | {r['errors']} | {r['replays']} "
            f"| {r['save_p50_ms']} / {r['save_p95_ms']} / {r['save_max_ms']} "
            f"| {r['call_p50_ms']} / {r['call_p95_ms']} / {r['call_max_ms']} "
            f"| {r['saves_per_s']} |"
        )
        for sample in r["error_samples"] + r["lost_samples"] + r["duplicated_samples"]:
            print(f"  ! {sample}", file=sys.stderr)
    print(f"\nJSON: {path}")
    bad = any(r["lost"] or r["duplicated"] or r["errors"] or r["writer_processes_failed"]
              for r in results)  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
