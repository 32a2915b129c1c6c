"""`python -m il2_tox rules`: check the rules file in force and describe it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from il2_tox.rules.config import RulesError, load_rules
from il2_tox.rules.docs import render_markdown


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rules",
        help="check the site rules file (IL2TOX_RULES or data/rules.toml)",
        description="Check the site rules file in force; --markdown prints docs/rules.md.",
    )
    parser.add_argument("--file", help="a rules file to check instead of the one in force")
    parser.add_argument("--markdown", action="store_true", help="print the rules as Markdown")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(args.file)
    except RulesError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.markdown:
        sys.stdout.write(render_markdown(rules))
    else:
        print(
            f"{rules.path}: {len(rules.rules)} rules, {len(rules.reference)} reference limits, ok"
        )
    return 0
