"""Fuzz benchmark: many generated inputs against every input the product reads.

    .venv/bin/python benchmarks/fuzz.py                       # 1,250 per target, 10,000 in all
    .venv/bin/python benchmarks/fuzz.py --examples 5000 --targets course_mutated,csv_import

Runs each target of tests/fuzzing.py (the course reader on text, bytes, any JSON value and
mutated valid courses; the bedside entry checks; the entry form; the CSV import; the admission
form) with Hypothesis `max_examples`, without shrinking (a failure is reported as found).
Passes when no exception other than the documented refusal escaped and every refusal named a
field of its input. Prints a table and writes JSON to benchmarks/out/fuzz-<time>.json; exit 1
on any failure.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import report_head, write_report  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402

from tests.fuzzing import TARGETS  # noqa: E402

OUT = REPO / "benchmarks" / "out"


def fuzz(name: str, examples: int, seed: int) -> dict[str, Any]:
    strategy, check = TARGETS[name]
    counted = {"inputs": 0}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(sample: Any) -> None:
        counted["inputs"] += 1
        check(sample)

    run = hypothesis_seed(seed)(run)
    began = time.perf_counter()
    failure = None
    try:
        run()
    except Exception as error:  # the failure is the finding: reported, not hidden
        failure = "".join(traceback.format_exception_only(error)).strip()[-2000:]
    return {
        "target": name,
        "inputs": counted["inputs"],
        "seconds": round(time.perf_counter() - began, 1),
        "failure": failure,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz every input the product reads.")
    parser.add_argument(
        "--examples", type=int, default=1250, help="generated inputs per target (default 1250)"
    )
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated targets")
    parser.add_argument("--seed", type=int, default=2026, help="Hypothesis seed")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the JSON report")
    args = parser.parse_args(argv)
    names = [name for name in args.targets.split(",") if name]
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")

    results = []
    for name in names:
        print(f"{name}: {args.examples} inputs...", file=sys.stderr)
        results.append(fuzz(name, args.examples, args.seed))
    total = sum(r["inputs"] for r in results)
    report = report_head("fuzz", inputs=total, targets=results)
    path = write_report(args.out, "fuzz", report)
    print("| target | inputs | seconds | result |")
    print("|---|---|---|---|")
    for r in results:
        outcome = "ok" if r["failure"] is None else f"FAILED: {r['failure'].splitlines()[-1]}"
        print(f"| {r['target']} | {r['inputs']} | {r['seconds']} | {outcome} |")
    print(f"| all | {total} | {sum(r['seconds'] for r in results):.1f} | |")
    print(f"JSON: {path}")
    return 1 if any(r["failure"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
