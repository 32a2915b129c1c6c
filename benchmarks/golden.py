"""Golden output of the engine: prove that a speed change changes no result.

    .venv/bin/python benchmarks/golden.py --write   # with the code before the change
    .venv/bin/python benchmarks/golden.py           # after it: exit 1 if anything differs

Simulates courses of every scenario (one and two cycles) into a folder (default
/tmp/engine-golden/), adds the demo courses in data/demo/, and records for each file the sha256
of the course as read (`repr(load_course(path))`) and of its assessment
(`json.dumps(assess(course, rules).to_dict(), sort_keys=True)`). It then imports a dozen of them
into a fresh SQLite database and records the hash of each course read back (`iter_courses`) and
of the CSV of `python -m il2_tox assess --db --out FILE.csv` with 1 and 2 workers. The hashes
are kept in the folder's `hashes.json`; a check compares every one and names what differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from il2_tox.assess import assess
from il2_tox.course import load_course, save_course
from il2_tox.rules.config import load_rules
from il2_tox.simulate import SCENARIOS, simulate_course

REPO_ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
COHORT_COURSES = 12


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_courses(folder: Path, count: int) -> list[Path]:
    """Write `count` simulated courses (scenarios rotating, cycles 1 or 2) and the demo files."""
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(SCENARIOS)
    paths = []
    for seed in range(count):
        name = names[seed % len(names)]
        cycles = 2 if (seed // len(names)) % 2 == 0 else 1
        scenario = replace(SCENARIOS[name], cycles=max(cycles, SCENARIOS[name].cycles))
        course = simulate_course(scenario, seed=seed, start=START, patient_id=f"GOLD-{seed:03d}")
        path = folder / f"sim-{seed:03d}-{name}.json"
        save_course(course, path)
        paths.append(path)
    demo = sorted((REPO_ROOT / "data" / "demo").glob("*.json"))
    return paths + demo


def file_hashes(paths: list[Path]) -> dict[str, str]:
    rules = load_rules()
    out: dict[str, str] = {}
    for path in paths:
        course = load_course(path)
        out[f"course:{path.name}"] = _sha(repr(course))
        out[f"assess:{path.name}"] = _sha(
            json.dumps(assess(course, rules).to_dict(), sort_keys=True)
        )
    return out


def cohort_hashes(paths: list[Path]) -> dict[str, str]:
    from il2_tox.services import import_files
    from il2_tox.services.course_io import iter_courses
    from il2_tox.store import Database, migrate

    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'golden.db'}"
        migrate(url)
        db = Database(url)
        try:
            results = import_files(db, [str(p) for p in paths], progress=False)
            refused = [r.describe() for r in results if r.refused]
            if refused:
                raise SystemExit(f"import refused: {refused[0]}")
            for i, course in enumerate(iter_courses(db, batch_size=5)):
                out[f"db-course:{i:03d}:{course.patient.id}"] = _sha(repr(course))
        finally:
            db.dispose()
        env = {**os.environ, "IL2TOX_DATABASE_URL": url, "PYTHONPATH": str(REPO_ROOT)}
        for workers in (1, 2):
            csv_path = Path(folder) / f"cohort-{workers}.csv"
            command = [sys.executable, "-m", "il2_tox", "assess", "--db", "--out", str(csv_path)]
            command += ["--workers", str(workers)]
            subprocess.run(command, env=env, cwd=REPO_ROOT, check=True, capture_output=True)
            out[f"cohort-csv:workers={workers}"] = _sha(csv_path.read_text(encoding="utf-8"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/engine-golden"))
    parser.add_argument("--courses", type=int, default=64)
    parser.add_argument("--write", action="store_true", help="record the hashes (old code)")
    args = parser.parse_args()

    paths = make_courses(args.folder, args.courses)
    hashes = file_hashes(paths)
    # Cohort mode reads from the database: a dozen courses of every scenario (and the demo).
    cohort = paths[:COHORT_COURSES] + paths[-3:]
    hashes.update(cohort_hashes(cohort))
    store = args.folder / "hashes.json"
    if args.write:
        store.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {len(hashes)} hashes to {store}")
        return 0
    expected = json.loads(store.read_text(encoding="utf-8"))
    differ = sorted(
        key for key in expected.keys() | hashes.keys() if expected.get(key) != hashes.get(key)
    )
    for key in differ:
        print(f"DIFFERS: {key}")
    print(f"{len(hashes) - len(differ)} of {len(expected)} hashes identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
