"""Benchmark the toxicity engine: one full course, the parse floor, and a 1,000-course cohort.

    .venv/bin/python benchmarks/engine.py [--courses 1000] [--repeat 200] [--workers 2]

Courses are two-cycle simulated courses (28 doses) across the simulator's scenarios. Prints a
Markdown table for docs/benchmarks.md. Not a test: it reports, it does not assert.

Cohort mode is timed end to end: the courses are imported into a fresh SQLite database in a
temporary folder (import time reported apart, not part of the budget), then
`python -m il2_tox assess --db --out FILE.csv` runs as a subprocess with `IL2TOX_DATABASE_URL`
pointing at it. With `IL2TOX_TEST_POSTGRES_URL` set, the same is done on PostgreSQL in a fresh
schema (dropped afterwards). Peak memory of cohort mode is the peak of the summed resident
memory of the command and its worker processes, sampled from /proc every 20 ms.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from il2_tox.assess import assess
from il2_tox.course import Course, load_course, save_course
from il2_tox.rules.config import load_rules
from il2_tox.simulate import SCENARIOS, simulate_course

REPO_ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
MIX = ("uneventful", "capillary_leak", "cholestatic", "hepatocellular", "colitis", "pneumonitis")
POSTGRES_URL_ENV = "IL2TOX_TEST_POSTGRES_URL"


def two_cycle_course(seed: int) -> Course:
    """Return a full two-cycle course; the scenario rotates with the seed."""
    scenario = replace(SCENARIOS[MIX[seed % len(MIX)]], cycles=2)
    return simulate_course(scenario, seed=seed, start=START, patient_id=f"BENCH-{seed:05d}")


def timed(func: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        func()
        samples.append(time.perf_counter() - began)
    return samples


def assess_files(paths: list[str]) -> int:
    rules = load_rules()
    flags = 0
    for path in paths:
        flags += len(assess(load_course(path), rules).flags)
    return flags


def parse_files(paths: list[str]) -> int:
    return sum(len(load_course(path).observations) for path in paths)


def peak_rss_mib() -> float:
    """Return the peak resident memory of this process (the file-mode runs), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------------
# Cohort mode


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    """Return pid and its descendants (Linux /proc/<pid>/task/<tid>/children)."""
    found = [pid]
    for current in found:
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{current}/task/{tid}/children", encoding="ascii") as handle:
                    found.extend(int(child) for child in handle.read().split())
            except OSError:
                continue
    return found


@dataclass
class CohortRun:
    seconds: float
    cpu_seconds: float  # user + system, the command and its workers
    rows: int
    peak_mib: float


def run_cohort(url: str, out: Path, workers: int) -> CohortRun:
    """Run `python -m il2_tox assess --db --out OUT` on URL; return time, CSV rows, peak RSS."""
    env = {**os.environ, "IL2TOX_DATABASE_URL": url, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "il2_tox", "assess", "--db", "--out", str(out)]
    command += ["--workers", str(workers)]
    peak = 0
    began = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, sum(_rss_kib(pid) for pid in _tree(process.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)  # its usage includes its (waited) workers
    seconds = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"cohort mode failed ({process.returncode}): {stderr.decode()[-2000:]}")
    with out.open(encoding="utf-8") as handle:
        rows = sum(1 for _ in handle) - 1
    return CohortRun(seconds, usage.ru_utime + usage.ru_stime, rows, peak / 1024)


def best_of(url: str, out: Path, workers: int, repeat: int) -> CohortRun:
    runs = [run_cohort(url, out, workers) for _ in range(max(1, repeat))]
    return min(runs, key=lambda run: run.seconds)


def import_into(url: str, paths: list[str], processes: int = 1) -> float:
    """Migrate the empty database at URL and import the course files; return the seconds.

    With `processes` > 1 (PostgreSQL only: it takes concurrent writers), the files after the
    first are imported by that many processes. PostgreSQL's statistics are refreshed after.
    """
    from il2_tox.store import migrate

    began = time.perf_counter()
    migrate(url)
    import_chunk(url, paths[:1])  # creates the import user once
    rest = paths[1:]
    if processes > 1 and rest:
        chunks = [rest[i::processes] for i in range(processes)]
        with ProcessPoolExecutor(max_workers=processes) as pool:
            list(pool.map(import_chunk, [url] * processes, chunks))
    else:
        import_chunk(url, rest)
    if url.startswith("postgresql"):
        analyze(url)
    return time.perf_counter() - began


def analyze(url: str) -> None:
    """Refresh PostgreSQL's planner statistics, as autovacuum would soon after a bulk import.

    Without it the planner, still believing the tables small, picks a plan that doubles the
    cohort time on a freshly imported database.
    """
    from sqlalchemy import text

    from il2_tox.store import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
    finally:
        engine.dispose()


def import_chunk(url: str, paths: list[str]) -> None:
    from il2_tox.services import import_files
    from il2_tox.store import Database

    db = Database(url)
    try:
        results = import_files(db, paths, progress=False)
    finally:
        db.dispose()
    refused = [r.describe() for r in results if r.refused]
    if refused:
        raise SystemExit(f"import refused {len(refused)} courses: {refused[0]}")


def postgres_schema(base: str) -> tuple[str, Callable[[], None]]:
    """Create a fresh schema on the server; return its URL and a function that drops it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


# ---------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def memory_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--courses", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-cohort", action="store_true", help="skip the database runs")
    parser.add_argument(
        "--cohort-repeat", type=int, default=1, help="runs of each cohort case (best is shown)"
    )
    args = parser.parse_args()

    load_start = os.getloadavg()
    rules = load_rules()
    cohort: list[tuple[str, int, float, CohortRun]] = []
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        paths = []
        observations = 0
        for seed in range(args.courses):
            course = two_cycle_course(seed)
            observations += len(course.observations)
            path = Path(folder) / f"{seed:05d}.json"
            save_course(course, path)
            paths.append(str(path))
        generated_s = time.perf_counter() - began

        one = load_course(paths[0])
        assess(one, rules)  # warm caches (rules, schema validator)
        assess_s = timed(lambda: assess(one, rules), args.repeat)
        parse_s = timed(lambda: load_course(paths[0]), args.repeat)

        began = time.perf_counter()
        parse_files(paths)
        parse_all_s = time.perf_counter() - began

        began = time.perf_counter()
        assess_files(paths)
        serial_s = time.perf_counter() - began

        chunks = [paths[i :: args.workers] for i in range(args.workers)]
        began = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            list(pool.map(assess_files, chunks))
        parallel_s = time.perf_counter() - began
        file_rss = peak_rss_mib()

        if not args.no_cohort:
            # The command runs as an installed program does: from compiled bytecode. (pip
            # compiles what it installs; a program run from a checkout compiles itself on its
            # first run, unless PYTHONDONTWRITEBYTECODE is set, as it is on these machines:
            # then every run would compile il2_tox again, about 0.3 s of CPU.)
            compileall.compile_dir(REPO_ROOT / "il2_tox", quiet=1)
            url = f"sqlite:///{Path(folder) / 'cohort.db'}"
            imported = import_into(url, paths)
            for workers in sorted({1, args.workers}):
                run = best_of(url, Path(folder) / f"s{workers}.csv", workers, args.cohort_repeat)
                cohort.append(("SQLite", workers, imported, run))
            base = os.environ.get(POSTGRES_URL_ENV, "").strip()
            if base:
                pg_url, drop = postgres_schema(base)
                try:
                    imported = import_into(pg_url, paths, args.workers)
                    for workers in sorted({1, args.workers}):
                        out = Path(folder) / f"p{workers}.csv"
                        run = best_of(pg_url, out, workers, args.cohort_repeat)
                        cohort.append(("PostgreSQL", workers, imported, run))
                finally:
                    drop()
    load_end = os.getloadavg()

    med_assess = statistics.median(assess_s) * 1000
    med_parse = statistics.median(parse_s) * 1000
    p95_assess = sorted(assess_s)[int(0.95 * len(assess_s)) - 1] * 1000
    print(
        f"machine: {platform.node()} · {os.cpu_count()} cores · {cpu_model()} · "
        f"{memory_gib():.0f} GiB RAM · Python {platform.python_version()}"
    )
    print(
        "load average (1/5/15 min): "
        f"{' / '.join(f'{x:.2f}' for x in load_start)} at start, "
        f"{' / '.join(f'{x:.2f}' for x in load_end)} at end"
    )
    print(
        f"command: .venv/bin/python benchmarks/engine.py --courses {args.courses} "
        f"--repeat {args.repeat} --workers {args.workers}"
        + (" --no-cohort" if args.no_cohort else "")
        + (f" --cohort-repeat {args.cohort_repeat}" if args.cohort_repeat != 1 else "")
    )
    print()
    print("| measure | result |")
    print("|---|---|")
    print(
        f"| course used for single-course timing | {len(one.observations)} observations, "
        f"{len(one.doses)} doses |"
    )
    print(f"| assess one course, median (p95) | {med_assess:.2f} ms ({p95_assess:.2f} ms) |")
    print(f"| parse + validate the same file, median | {med_parse:.2f} ms |")
    print(f"| assess / parse ratio, one course | {med_assess / med_parse:.2f} |")
    print(
        f"| {args.courses} course files ({observations} observations): parse only, 1 process "
        f"| {parse_all_s:.2f} s |"
    )
    print(f"| the same: parse + assess, 1 process | {serial_s:.2f} s |")
    print(
        f"| assess / parse ratio, {args.courses} files | "
        f"{(serial_s - parse_all_s) / parse_all_s:.2f} |"
    )
    print(f"| the same: parse + assess, {args.workers} processes | {parallel_s:.2f} s |")
    print(f"| peak resident memory, file runs (this process) | {file_rss:.0f} MiB |")
    for backend, workers, _, run in cohort:
        print(
            f"| cohort mode, {backend}, `assess --db --out --workers {workers}` end to end "
            f"({run.rows} flag rows) | {run.seconds:.2f} s ({run.cpu_seconds:.1f} s CPU), "
            f"peak {run.peak_mib:.0f} MiB |"
        )
    imports = {backend: imported for backend, _, imported, _ in cohort}
    for backend, imported in imports.items():
        writers = args.workers if backend == "PostgreSQL" else 1
        print(
            f"| (importing into {backend}, {writers} process{'es' if writers > 1 else ''}, "
            f"not part of the budget) | {imported:.1f} s |"
        )
    print(f"| (generating the courses, not part of the budget) | {generated_s:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
