"""Accounts and sign-in: local users with argon2id password hashes, and who is acting.

A person signs in with `authenticate`, which returns a `SignedIn` (or None). Every use case that
writes takes that `SignedIn` as its actor and checks it itself, against the users table, inside
its own transaction (`acting_user`): the user must still exist, be active and have a role
allowed for the action. Hiding a button in the dashboard is not a check; this is.

Passwords are never stored, logged or put in a message: only their argon2id hash is stored.
`system` users (the importer, the demo loader) have no password and can never sign in.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.store import models as m
from il2_tox.store.engine import Database
from il2_tox.store.records import record_event

# Roles a person can hold; `system` (in the users table too) is for processes only.
PERSON_ROLES = ("nurse", "physician", "admin")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this only stops a pasted file
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_DISPLAY_NAME = 200
# The audit actor of a failed sign-in under a name that is not an account. The typed name is
# not recorded: people type their password into the username box often enough.
UNKNOWN_ACTOR = "(unknown user)"

# argon2id with the library's default (RFC 9106 low-memory) cost. Tests swap in a cheaper
# hasher; a hash records its own parameters, so any hash verifies whatever the current cost.
HASHER = PasswordHasher()


@dataclass(frozen=True)
class SignedIn:
    """A person who signed in: what the dashboard keeps, and the actor every use case takes."""

    user_id: int
    username: str
    display_name: str
    role: str


@dataclass(frozen=True)
class SystemActor:
    """A process run by someone with direct access to the database (the command line, the demo
    loader): not a signed-in person. Recorded in the audit log under `name`."""

    name: str


@dataclass(frozen=True)
class UserSummary:
    """One account as an admin sees it (never the hash)."""

    user_id: int
    username: str
    display_name: str
    role: str
    active: bool
    created_at: datetime


def _summary(user: m.User) -> UserSummary:
    return UserSummary(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        active=user.active,
        created_at=user.created_at,
    )


def normalize_username(username: str) -> str:
    """Return the username as stored: trimmed and lower case ("Nurse " signs in as "nurse")."""
    return username.strip().lower()


def password_problem(password: str, username: str) -> str | None:
    """Return why a password is too weak for this username, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    if password.strip().lower() == normalize_username(username):
        return "must not be the username"
    return None


def add_user(
    db: Database,
    username: str,
    role: str,
    password: str,
    display_name: str | None = None,
    *,
    actor: SignedIn | SystemActor,
) -> UserSummary:
    """Create an account that can sign in; return it. One transaction with its audit entry.

    Raise Refused naming every field at fault: username (empty, not 1-64 of a-z 0-9 . _ -, or
    taken), role (not nurse, physician or admin), password (under 8 characters or the
    username), display_name (over 200 characters; default: the username). Raise
    PermissionDenied when a signed-in actor is not an active admin; a `SystemActor` (the command
    line) may add accounts.
    """
    name = normalize_username(username)
    shown = (display_name or "").strip() or name
    errors: dict[str, str] = {}
    if not name:
        errors["username"] = "is required"
    elif not USERNAME_PATTERN.fullmatch(name):
        errors["username"] = "use 1-64 lower-case letters, digits, '.', '_' or '-'"
    if role not in PERSON_ROLES:
        errors["role"] = f"{role!r} is not one of {', '.join(PERSON_ROLES)}"
    problem = password_problem(password, name)
    if problem is not None:
        errors["password"] = problem
    if len(shown) > MAX_DISPLAY_NAME or "\x00" in shown:
        errors["display_name"] = f"must be at most {MAX_DISPLAY_NAME} characters of plain text"
    if errors:
        raise Refused(errors)
    password_hash = HASHER.hash(password)  # slow on purpose: outside the write transaction
    try:
        with db.write_session() as session:
            audit_actor = _audit_name(session, actor, "add accounts")
            if session.scalars(select(m.User.id).where(m.User.username == name)).first():
                raise Refused({"username": f"{name!r} already exists"})
            user = m.User(
                username=name,
                display_name=shown,
                role=role,
                password_hash=password_hash,
                active=True,
            )
            session.add(user)
            session.flush()
            record_event(
                session,
                actor=audit_actor,
                action="add",
                entity="user",
                entity_id=user.id,
                after={"username": name, "display_name": shown, "role": role, "active": True},
            )
            return _summary(user)
    except IntegrityError:
        # Someone added the same name between our look and our insert.
        raise Refused({"username": f"{name!r} already exists"}) from None


def _audit_name(session: Session, actor: SignedIn | SystemActor, action: str) -> str:
    if isinstance(actor, SystemActor):
        return actor.name
    return acting_user(session, actor, ("admin",), action).username


def authenticate(db: Database, username: str, password: str) -> SignedIn | None:
    """Return the signed-in user, or None; either way write one audit entry.

    None for an unknown name, a wrong password, an inactive account or a `system` user, all
    alike to the caller (say "unknown username or wrong password", never which). A password is
    checked against a dummy hash when there is no usable account, so a failure takes about as
    long either way. A hash made with an older cost is replaced on success.
    """
    name = normalize_username(username)
    with db.write_session() as session:
        user = None
        if USERNAME_PATTERN.fullmatch(name):
            user = session.scalars(select(m.User).where(m.User.username == name)).one_or_none()
        usable = (
            user is not None
            and user.active
            and user.role in PERSON_ROLES
            and user.password_hash is not None
        )
        stored = user.password_hash if usable and user is not None else None
        matches = _verify(stored if stored is not None else _dummy_hash(), password)
        if user is None or stored is None or not matches:
            record_event(
                session,
                actor=user.username if user is not None else UNKNOWN_ACTOR,
                action="sign_in_failed",
                entity="user",
                entity_id=user.id if user is not None else None,
                reason=_failure_reason(user, matches),
            )
            return None
        if HASHER.check_needs_rehash(stored):
            user.password_hash = HASHER.hash(password)
        record_event(
            session, actor=user.username, action="sign_in", entity="user", entity_id=user.id
        )
        return SignedIn(
            user_id=user.id, username=user.username, display_name=user.display_name, role=user.role
        )


def _failure_reason(user: m.User | None, matches: bool) -> str:
    if user is None:
        return "unknown username"
    if user.role not in PERSON_ROLES or user.password_hash is None:
        return "system account: cannot sign in"
    if not user.active:
        return "account inactive"
    return "wrong password"


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_dummy_hashes: dict[tuple[int, int, int], str] = {}


def _dummy_hash() -> str:
    """Return a hash of nothing anyone can type, made with the current cost (made once)."""
    cost = (HASHER.time_cost, HASHER.memory_cost, HASHER.parallelism)
    if cost not in _dummy_hashes:
        _dummy_hashes[cost] = HASHER.hash("\x00 no account \x00")
    return _dummy_hashes[cost]


def record_sign_out(db: Database, user: SignedIn) -> None:
    """Write the audit entry of a sign-out."""
    with db.write_session() as session:
        record_event(
            session, actor=user.username, action="sign_out", entity="user", entity_id=user.user_id
        )


def list_users(db: Database) -> list[UserSummary]:
    """Return every account (system users too), by username."""
    with db.read_session() as session:
        users = session.scalars(select(m.User).order_by(m.User.username))
        return [_summary(user) for user in users]


def acting_user(
    session: Session, actor: SignedIn | None, roles: Collection[str], action: str
) -> m.User:
    """Return the actor's user row if it may do `action`; raise PermissionDenied otherwise.

    Checked against the database, in the caller's transaction, not against what the actor
    object says: the account must exist under that name, be active, and hold one of `roles`
    now. `action` completes "... may not ___" in the message.
    """
    if not isinstance(actor, SignedIn):
        raise PermissionDenied(f"Not signed in: sign in to {action}.")
    user = session.get(m.User, actor.user_id)
    if user is None or user.username != actor.username or not user.active:
        raise PermissionDenied(f"The account {actor.username!r} is not active: cannot {action}.")
    if user.role not in roles:
        allowed = " or ".join(f"{role}s" for role in roles)
        raise PermissionDenied(f"{user.username} ({user.role}) may not {action}: {allowed} only.")
    return user
