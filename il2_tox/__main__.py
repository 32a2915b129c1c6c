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

# Which module registers each command. Only the invoked command's module is imported, so
# `assess` does not pay for loading the database layer (help imports them all).
COMMANDS = {
    "assess": "il2_tox.commands.assess",
    "migrate": "il2_tox.commands.store",
    "import": "il2_tox.commands.store",
    "export": "il2_tox.commands.store",
    "demo": "il2_tox.commands.demo",
    "user": "il2_tox.commands.users",
    "rules": "il2_tox.commands.rules",
    "backup": "il2_tox.commands.backup",
    "restore": "il2_tox.commands.backup",
    "handoff": "il2_tox.commands.sheets",
    "vitals": "il2_tox.commands.sheets",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Return the parser with one command registered, or all of them when `command` is None."""
    parser = argparse.ArgumentParser(
        prog="python -m il2_tox",
        description="il2-tox: toxicity monitoring for high-dose IL-2",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in wanted:
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
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(args_list)
    try:
        code: int = args.func(args)
    except Exception as error:
        fault = _environment_fault(error)
        if fault is None:
            raise  # a defect: the traceback is wanted
        code, line = fault
        print(line, file=sys.stderr)
    return code


def _environment_fault(error: Exception) -> tuple[int, str] | None:
    """Return (exit code, one line) for a fault of the surroundings rather than of the code:
    an unusable database URL (2, it is input), a database that cannot be reached or a file or
    folder the system refuses (1). None for anything else."""
    exc = sys.modules.get("sqlalchemy.exc")  # loaded only by commands that use the database
    if exc is not None and isinstance(error, exc.ArgumentError):
        return 2, f"IL2TOX_DATABASE_URL: not a database URL ({error})"
    if exc is not None and isinstance(error, exc.OperationalError | exc.InterfaceError):
        from il2_tox.store.engine import database_url, display_url

        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        return 1, f"database {display_url(database_url())} cannot be used: {reason}"
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return 1, f"{where}{error.strerror or error.__class__.__name__}"
    return None


if __name__ == "__main__":
    sys.exit(main())
