"""`python -m il2_tox user add NAME --role ROLE [--name "Display"] | user list`: accounts.

The password is never an argument (it would sit in the shell history and the process list):
`user add` asks for it twice without echo, or with `--password-stdin` reads one line from
standard input, for scripts. Exit codes: 0 done; 2 bad input (one line on stderr naming the
field); 1 the database is not migrated.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from il2_tox.commands.store import _open_migrated
from il2_tox.services.errors import Refused
from il2_tox.services.users import PERSON_ROLES, SystemActor, add_user, list_users


def register(subparsers: Any) -> None:
    """Add the user command and its add and list subcommands."""
    parser = subparsers.add_parser(
        "user",
        help="add or list the accounts that can sign in to the dashboard",
        description="Manage dashboard accounts (stored in the database, passwords hashed "
        "with argon2id).",
    )
    actions = parser.add_subparsers(dest="user_command", required=True, metavar="ACTION")

    add = actions.add_parser(
        "add",
        help="create an account (asks for the password)",
        description="Create an account. The password is asked for twice without echo; it is "
        "never taken on the command line. At least 8 characters, not the username.",
    )
    add.add_argument("username", metavar="NAME", help="the sign-in name (a-z 0-9 . _ -)")
    add.add_argument("--role", required=True, metavar="ROLE", help=" | ".join(PERSON_ROLES))
    add.add_argument("--name", metavar="DISPLAY", help="the name shown (default: NAME)")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from one line of standard input (for scripts)",
    )
    add.set_defaults(func=run_add)

    listing = actions.add_parser("list", help="list the accounts")
    listing.set_defaults(func=run_list)


def _read_password(from_stdin: bool) -> str:
    """Return the new password; raise Refused when it cannot be read or the two differ."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise Refused({"password": "nothing on standard input"})
        return line.rstrip("\r\n")
    try:
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Password again: ")
    except (EOFError, KeyboardInterrupt):
        raise Refused({"password": "not entered"}) from None
    if first != second:
        raise Refused({"password": "the two entries differ"})
    return first


def _operator() -> str:
    """Return the audit name of whoever runs the command: `cli:<login>`."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in a bare container
        return "cli"


def run_add(args: argparse.Namespace) -> int:
    try:
        password = _read_password(args.password_stdin)
    except Refused as refusal:
        print(refusal, file=sys.stderr)
        return 2
    db = _open_migrated()
    if db is None:
        return 1
    try:
        user = add_user(
            db,
            args.username,
            args.role,
            password,
            args.name,
            actor=SystemActor(_operator()),
        )
    except Refused as refusal:
        print(refusal, file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(f"added {user.username} ({user.role}): {user.display_name}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    db = _open_migrated()
    if db is None:
        return 1
    try:
        users = list_users(db)
    finally:
        db.dispose()
    for user in users:
        state = "" if user.active else "  (cannot sign in)"
        print(f"{user.username:<24} {user.role:<10} {user.display_name}{state}")
    return 0
