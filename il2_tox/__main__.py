"""The command line: `python -m il2_tox COMMAND ...`.

Each command lives in `il2_tox/commands/<name>.py` and exposes `register(subparsers)`, which adds
its parser and sets `func` (taking the parsed arguments, returning the exit code). Exit codes:
0 success, 2 bad input (one line on stderr naming the field), 1 anything else.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "il2_tox.commands.assess",
    "il2_tox.commands.store",
    "il2_tox.commands.demo",
    "il2_tox.commands.users",
    "il2_tox.commands.rules",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog="python -m il2_tox",
        description="il2-tox: toxicity monitoring for high-dose IL-2",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command not built yet
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
