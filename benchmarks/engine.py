"""Benchmark the toxicity engine: one full course, the parse floor, and a 1,000-course cohort.

    .venv/bin/python benchmarks/engine.py [--courses 1000] [--repeat 200] [--workers 2]

Courses are two-cycle simulated courses (28 doses) across the simulator's scenarios. Prints a
Markdown table for docs/benchmarks.md. Not a test: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from il2_tox.assess import assess
from il2_tox.course import Course, load_course, save_course
from il2_tox.rules.config import load_rules
from il2_tox.simulate import SCENARIOS, simulate_course

START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
MIX = ("uneventful", "capillary_leak", "cholestatic", "hepatocellular", "colitis", "pneumonitis")


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


def peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--courses", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    rules = load_rules()
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
        assess_files(paths)
        serial_s = time.perf_counter() - began

        chunks = [paths[i :: args.workers] for i in range(args.workers)]
        began = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            list(pool.map(assess_files, chunks))
        parallel_s = time.perf_counter() - began

    med_assess = statistics.median(assess_s) * 1000
    med_parse = statistics.median(parse_s) * 1000
    p95_assess = sorted(assess_s)[int(0.95 * len(assess_s)) - 1] * 1000
    print(
        f"machine: {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()}"
    )
    print(
        f"command: .venv/bin/python benchmarks/engine.py --courses {args.courses} "
        f"--repeat {args.repeat} --workers {args.workers}"
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
    print(f"| assess / parse ratio | {med_assess / med_parse:.2f} |")
    print(
        f"| {args.courses} courses ({observations} observations): parse + assess, 1 process "
        f"| {serial_s:.2f} s |"
    )
    print(f"| the same, {args.workers} processes | {parallel_s:.2f} s |")
    print(f"| peak resident memory | {peak_rss_mib():.0f} MiB |")
    print(f"| (generating the courses, not part of the budget) | {generated_s:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
