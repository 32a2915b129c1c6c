"""Kill benchmark: SIGKILL a real `python -m il2_tox import` mid-way, again and again.

    .venv/bin/python benchmarks/kill.py                      # 20 kills, SQLite in a temp dir
    .venv/bin/python benchmarks/kill.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/kill.py --kills 20 --files 6 --observations 1500

Each kill imports a new batch of course files in a subprocess and kills it with SIGKILL once a
random number of them is stored, plus a random 0-150 ms (so it lands inside a transaction or
between two). After every kill the database must pass its integrity check (SQLite `PRAGMA
integrity_check` and `foreign_key_check`; PostgreSQL: no orphan rows) and hold only whole
courses (each admission's observations, doses and prior toxicities exactly as many as its
file's, with its import audit entry; none twice). Finally every file is imported again without
a kill, and every course must then be stored exactly once. See tests/integration/killing.py.

Prints a table, writes JSON to benchmarks/out/kill-<backend>-<time>.json, exits 1 on any
problem.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import (  # noqa: E402
    drop_postgres_schema,
    fresh_postgres_schema,
    report_head,
    write_report,
)

from il2_tox.store import migrate  # noqa: E402
from tests.integration import killing  # noqa: E402

OUT = REPO / "benchmarks" / "out"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="SIGKILL a course import at random points; check integrity and whole "
        "courses after each kill."
    )
    parser.add_argument("--kills", type=int, default=20, help="imports to kill (default 20)")
    parser.add_argument("--files", type=int, default=6, help="course files per import (6)")
    parser.add_argument(
        "--observations", type=int, default=1500, help="observations per course file (1500)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the kill points")
    parser.add_argument(
        "--postgres", metavar="URL", help="run on this PostgreSQL server (a fresh schema)"
    )
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the JSON report")
    args = parser.parse_args(argv)

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="il2tox-kill-") as folder:
        schema = None
        if args.postgres:
            url, schema = fresh_postgres_schema(args.postgres)
        else:
            url = f"sqlite:///{Path(folder) / 'kill.db'}"
        try:
            migrate(url)
            report = killing.run(
                url, Path(folder) / "courses", args.kills, args.files, args.observations, args.seed
            )
        finally:
            if schema is not None:
                drop_postgres_schema(args.postgres, schema)
    wall = time.perf_counter() - began

    backend = "postgresql" if args.postgres else "sqlite"
    killed = sum(1 for r in report.rounds if r.exit_signal == 9)
    partial_batches = sum(1 for r in report.rounds if 0 < r.stored_before_kill < r.files)
    result = report_head(
        "kill",
        backend=backend,
        kills=args.kills,
        killed_by_sigkill=killed,
        files_per_import=args.files,
        observations_per_file=args.observations,
        admissions_checked_at_end=report.admissions_checked,
        problems=report.problems,
        rounds=[asdict(r) for r in report.rounds],
        wall_s=round(wall, 1),
    )
    path = write_report(args.out, f"kill-{backend}", result)

    print(f"Kill on {backend}: {platform.platform()}, {os.cpu_count()} CPUs")
    print("| kills | killed by SIGKILL | killed part-way through a batch "
          "| integrity / whole-course problems | courses stored once at the end |")  # fmt: skip
    print("|---|---|---|---|---|")
    print(f"| {args.kills} | {killed} | {partial_batches} | {len(report.problems)} "
          f"| {report.admissions_checked} of {args.kills * args.files} |")  # fmt: skip
    print("courses stored when killed, per round: "
          + " ".join(str(r.stored_before_kill) for r in report.rounds))  # fmt: skip
    for problem in report.problems[:20]:
        print(f"  ! {problem}", file=sys.stderr)
    print(f"JSON: {path} ({wall:.0f} s)")
    return 1 if report.problems or killed != args.kills else 0


if __name__ == "__main__":
    sys.exit(main())
