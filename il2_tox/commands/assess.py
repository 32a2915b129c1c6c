"""`python -m il2_tox assess FILE...`: print the assessment of each course file as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from il2_tox.assess import assess
from il2_tox.course import Course, CourseError, load_course
from il2_tox.rules.config import RulesError, load_rules


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "assess",
        help="assess course files (JSON, one object per line)",
        description="Print the il2-tox-assessment/1 JSON of each course file, one per line.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="course file(s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Assess every file; on any bad file print one line on stderr, nothing on stdout, exit 2."""
    try:
        rules = load_rules()
    except RulesError as exc:
        print(f"rules: {exc}", file=sys.stderr)
        return 2
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
