"""`python -m il2_tox user ACTION ...`: accounts, for whoever runs the server.

`add NAME --role ROLE [--name "Display"]`, `list`, `disable NAME`, `enable NAME`,
`reset NAME` (a new password), `unlock NAME` (end a lockout), `sso NAME IDENTITY|--clear` (map a
single sign-on identity). Accounts are never deleted: disable them. Each change is audited under
`cli:<login>`. The password is never an argument (it would sit in the shell history and the
process list): it is asked for twice without echo, or with `--password-stdin` read from one line
of standard input, for scripts. Exit codes: 0 done; 2 bad input (one line on stderr naming the
field); 1 the database is not migrated.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from typing import Any

from il2_tox.commands.store import _open_migrated, operator
from il2_tox.services.errors import Refused
from il2_tox.services.users import (
    PERSON_ROLES,
    UserSummary,
    add_user,
    list_users,
    reset_password,
    set_active,
    set_sso_subject,
    unlock_user,
)


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

    for action, text in (
        ("disable", "stop an account from signing in (accounts are never deleted)"),
        ("enable", "let a disabled account sign in again"),
        ("unlock", "end an account's lockout after failed sign-ins"),
    ):
        change = actions.add_parser(action, help=text, description=text[0].upper() + text[1:])
        change.add_argument("username", metavar="NAME")
        change.add_argument("--reason", metavar="TEXT", help="why (kept in the audit log)")
        change.set_defaults(func=run_change, change=action)

    reset = actions.add_parser(
        "reset",
        help="give an account a new password (asks for it)",
        description="Set a new password (asked for twice without echo) and end any lockout.",
    )
    reset.add_argument("username", metavar="NAME")
    reset.add_argument("--reason", metavar="TEXT", help="why (kept in the audit log)")
    reset.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    reset.set_defaults(func=run_reset)

    sso = actions.add_parser(
        "sso",
        help="map a single sign-on identity (OIDC sub or e-mail) to an account",
        description="Map the identity a single sign-on provider gives (its `sub`, or a verified "
        "e-mail address) to an account: signing in with it is signing in as that account, with "
        "its role.",
    )
    sso.add_argument("username", metavar="NAME")
    target = sso.add_mutually_exclusive_group(required=True)
    target.add_argument("identity", nargs="?", metavar="IDENTITY", help="sub or e-mail")
    target.add_argument("--clear", action="store_true", help="remove the mapping")
    sso.set_defaults(func=run_sso)


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
            actor=operator(),
        )
    except Refused as refusal:
        print(refusal, file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(f"added {user.username} ({user.role}): {user.display_name}")
    return 0


def _changed(user: UserSummary) -> None:
    state = "active" if user.active else "disabled"
    lock = f", locked until {user.locked_until.isoformat()}" if user.locked_until else ""
    sso = f", sign-on {user.sso_subject}" if user.sso_subject else ""
    print(f"{user.username} ({user.role}): {state}{lock}{sso}")


def run_change(args: argparse.Namespace) -> int:
    db = _open_migrated()
    if db is None:
        return 1
    try:
        if args.change == "unlock":
            user = unlock_user(db, args.username, actor=operator(), reason=args.reason)
        else:
            active = args.change == "enable"
            user = set_active(db, args.username, active, actor=operator(), reason=args.reason)
    except Refused as refusal:
        print(refusal, file=sys.stderr)
        return 2
    finally:
        db.dispose()
    _changed(user)
    return 0


def run_reset(args: argparse.Namespace) -> int:
    try:
        password = _read_password(args.password_stdin)
    except Refused as refusal:
        print(refusal, file=sys.stderr)
        return 2
    db = _open_migrated()
    if db is None:
        return 1
    try:
        user = reset_password(db, args.username, password, actor=operator(), reason=args.reason)
    except Refused as refusal:
        print(refusal, file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(f"{user.username}: password reset")
    return 0


def run_sso(args: argparse.Namespace) -> int:
    db = _open_migrated()
    if db is None:
        return 1
    try:
        identity = None if args.clear else args.identity
        user = set_sso_subject(db, args.username, identity, actor=operator())
    except Refused as refusal:
        print(refusal, file=sys.stderr)
        return 2
    finally:
        db.dispose()
    _changed(user)
    return 0


def run_list(args: argparse.Namespace) -> int:
    db = _open_migrated()
    if db is None:
        return 1
    try:
        users = list_users(db)
    finally:
        db.dispose()
    now = datetime.now(UTC)
    for user in users:
        state = "" if user.active else "  (cannot sign in)"
        if user.active and user.locked(now):
            assert user.locked_until is not None
            state = f"  (locked until {user.locked_until.isoformat(timespec='seconds')})"
        print(f"{user.username:<24} {user.role:<10} {user.display_name}{state}")
    return 0
