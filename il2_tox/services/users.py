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
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from il2_tox.services.common_passwords import COMMON_PASSWORDS
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.store import models as m
from il2_tox.store.engine import Database
from il2_tox.store.records import record_event
from il2_tox.store.retry import retrying

# Roles a person can hold; `system` (in the users table too) is for processes only.
PERSON_ROLES = ("nurse", "physician", "admin")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this only stops a pasted file
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_DISPLAY_NAME = 200
# The audit actor of a failed sign-in under a name that is not an account. The typed name is
# not recorded: people type their password into the username box often enough.
UNKNOWN_ACTOR = "(unknown user)"
# Lockout: this many failed sign-ins in a row lock the account for LOCKOUT_PERIOD (an admin can
# unlock it sooner). A success resets the count; so does the end of a lock.
LOCKOUT_ATTEMPTS = 5
LOCKOUT_PERIOD = timedelta(minutes=15)
MAX_SSO_SUBJECT = 255

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
    failed_attempts: int = 0
    locked_until: datetime | None = None
    sso_subject: str | None = None

    def locked(self, now: datetime) -> bool:
        """Return whether the account is locked at `now` (a lock ends at `locked_until`)."""
        return self.locked_until is not None and now < self.locked_until


def _summary(user: m.User) -> UserSummary:
    return UserSummary(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        active=user.active,
        created_at=user.created_at,
        failed_attempts=user.failed_attempts or 0,
        locked_until=user.locked_until,
        sso_subject=user.sso_subject,
    )


def normalize_username(username: str) -> str:
    """Return the username as stored: trimmed and lower case ("Nurse " signs in as "nurse")."""
    return username.strip().lower()


def password_problem(password: str, username: str) -> str | None:
    """Return why a password is too weak for this username, or None when it is acceptable.

    Refused: under 8 or over 1024 characters, the username (any case, blanks around it), one
    of the common passwords (`common_passwords.py`, any case), or one character repeated.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    folded = password.strip().lower()
    if folded == normalize_username(username):
        return "must not be the username"
    if folded in COMMON_PASSWORDS:
        return "is one of the most common passwords: choose another"
    if len(set(password)) == 1:
        return "must not be one character repeated"
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
            return _audited(
                session,
                user,
                None,
                actor=audit_actor,
                action="add",
                after={"username": name, "display_name": shown, "role": role, "active": True},
            )
    except IntegrityError:
        # Someone added the same name between our look and our insert.
        raise Refused({"username": f"{name!r} already exists"}) from None


def _audit_name(session: Session, actor: SignedIn | SystemActor, action: str) -> str:
    if isinstance(actor, SystemActor):
        return actor.name
    return acting_user(session, actor, ("admin",), action).username


def authenticate(
    db: Database, username: str, password: str, *, now: datetime | None = None
) -> SignedIn | None:
    """Return the signed-in user, or None; either way write the audit entries, in one transaction.

    None for an unknown name, a wrong password, an inactive or locked account or a `system`
    user, all alike to the caller (say "unknown username or wrong password", never which). A
    password is checked against a dummy hash when there is no usable account, so a failure takes
    about as long either way. A hash made with an older cost is replaced on success.

    Lockout: the 5th wrong password in a row locks the account for 15 minutes from that
    attempt (`lock` in the audit log); while locked even the right password is refused, and
    failures do not extend the lock. At `locked_until` the lock ends and the count starts again.
    A success resets the count. `now` (default: the clock) is the time of the attempt.

    The hash is checked before the write transaction, not inside it (it is slow on purpose):
    people signing in at the start of a shift must not queue behind one another's hashing
    while holding the write lock (on SQLite they did, and timed out as "database is locked").
    The account is read again, locked, in the transaction; if its hash changed in between (a
    password reset) the attempt fails.
    """
    name = normalize_username(username)
    at = now or m.utcnow()
    seen: m.User | None = None
    if USERNAME_PATTERN.fullmatch(name):
        with db.read_session() as session:
            seen = session.scalars(select(m.User).where(m.User.username == name)).one_or_none()
    seen_usable = seen is not None and seen.active and seen.role in PERSON_ROLES
    checked_hash = seen.password_hash if seen_usable and seen is not None else None
    matches = _verify(checked_hash if checked_hash is not None else _dummy_hash(), password)
    new_hash = (
        HASHER.hash(password)
        if matches and checked_hash is not None and HASHER.check_needs_rehash(checked_hash)
        else None
    )

    def attempt() -> SignedIn | None:
        with db.write_session() as session:
            user = None
            if USERNAME_PATTERN.fullmatch(name):
                # FOR UPDATE on PostgreSQL: two attempts at once count as two. SQLite's BEGIN
                # IMMEDIATE already serializes writers.
                user = session.scalars(
                    select(m.User).where(m.User.username == name).with_for_update()
                ).one_or_none()
            usable = (
                user is not None
                and user.active
                and user.role in PERSON_ROLES
                and user.password_hash is not None
            )
            stored = user.password_hash if usable and user is not None else None
            right = matches and stored is not None and stored == checked_hash
            if user is not None and user.locked_until is not None and at >= user.locked_until:
                user.failed_attempts, user.locked_until = 0, None  # the lock has run its time
            locked = user is not None and user.locked_until is not None
            if user is None or stored is None or not right or locked:
                _record_failure(session, user, right, locked, at)
                return None
            if new_hash is not None:
                user.password_hash = new_hash
            if user.failed_attempts:
                user.failed_attempts = 0
            record_event(
                session, actor=user.username, action="sign_in", entity="user", entity_id=user.id
            )
            return _signed_in(user)

    return retrying(attempt, idempotent=False)


def _signed_in(user: m.User) -> SignedIn:
    return SignedIn(
        user_id=user.id, username=user.username, display_name=user.display_name, role=user.role
    )


def _record_failure(
    session: Session, user: m.User | None, matches: bool, locked: bool, at: datetime
) -> None:
    """Audit one failed sign-in; count a wrong password against the account, and lock it at 5."""
    if user is None:
        record_event(
            session,
            actor=UNKNOWN_ACTOR,
            action="sign_in_failed",
            entity="user",
            reason="unknown username",
        )
        return
    reason = _failure_reason(user, matches)
    counted = not locked and reason == "wrong password"
    if locked:
        assert user.locked_until is not None
        reason = f"account locked until {user.locked_until.isoformat()}"
    elif counted:
        user.failed_attempts = (user.failed_attempts or 0) + 1
    record_event(
        session,
        actor=user.username,
        action="sign_in_failed",
        entity="user",
        entity_id=user.id,
        after={"failed_attempts": user.failed_attempts} if counted else None,
        reason=reason,
    )
    if counted and user.failed_attempts >= LOCKOUT_ATTEMPTS:
        user.locked_until = at + LOCKOUT_PERIOD
        record_event(
            session,
            actor=user.username,
            action="lock",
            entity="user",
            entity_id=user.id,
            after={"locked_until": user.locked_until.isoformat()},
            reason=f"{user.failed_attempts} failed sign-ins in a row",
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


def record_sign_out(db: Database, user: SignedIn, reason: str | None = None) -> None:
    """Write the audit entry of a sign-out (`reason`: e.g. the idle timeout; None: by the user)."""
    with db.write_session() as session:
        record_event(
            session,
            actor=user.username,
            action="sign_out",
            entity="user",
            entity_id=user.user_id,
            reason=reason,
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


def check_still_allowed(
    db: Database, actor: SignedIn | None, roles: Collection[str], action: str
) -> None:
    """Raise PermissionDenied unless the actor's account, read now, may do `action` (see
    `acting_user`). For pages, which show records without writing: an account disabled, or
    given another role, after its owner signed in loses what it could see at once."""
    with db.read_session() as session:
        acting_user(session, actor, roles, action)


# ---------------------------------------------------------------------------------------------
# Account administration: admins (or the command line) create, disable, enable, reset, unlock
# and map single sign-on identities. Accounts are never deleted (the database refuses it).


def _account(session: Session, username: str) -> m.User:
    """Return the person's account to change (locked for this transaction); raise Refused."""
    name = normalize_username(username)
    user = session.scalars(
        select(m.User).where(m.User.username == name).with_for_update()
    ).one_or_none()
    if user is None or not name:
        raise Refused({"username": f"no account {name!r}"})
    if user.role not in PERSON_ROLES:
        raise Refused({"username": f"{name!r} is a system account: it has no sign-in to change"})
    return user


def _state(user: m.User) -> dict[str, Any]:
    return {
        "active": user.active,
        "failed_attempts": user.failed_attempts or 0,
        "locked_until": user.locked_until.isoformat() if user.locked_until else None,
        "sso_subject": user.sso_subject,
    }


def _audited(
    session: Session,
    user: m.User,
    before: dict[str, Any] | None,
    *,
    actor: str,
    action: str,
    reason: str | None = None,
    after: dict[str, Any] | None = None,
) -> UserSummary:
    """Write the change to `user` and its audit entry (`after` default: its state now), in the
    caller's transaction; return the account as it is now."""
    session.flush()
    record_event(
        session,
        actor=actor,
        action=action,
        entity="user",
        entity_id=user.id,
        before=before,
        after=after if after is not None else _state(user),
        reason=reason,
    )
    return _summary(user)


def _checked_reason(reason: str | None) -> str | None:
    text = (reason or "").strip()
    if len(text) > 1000 or "\x00" in text:
        raise Refused({"reason": "must be at most 1000 characters of plain text"})
    return text or None


def set_active(
    db: Database,
    username: str,
    active: bool,
    *,
    actor: SignedIn | SystemActor,
    reason: str | None = None,
) -> UserSummary:
    """Disable (`active=False`) or enable an account; return it. Audited as disable / enable.

    A disabled account cannot sign in and cannot act (every use case checks it). Admins only;
    an admin cannot disable their own account (so the last admin cannot shut everyone out by a
    slip). Doing what is already done changes nothing and writes nothing.
    """
    why = _checked_reason(reason)
    action = "enable" if active else "disable"
    with db.write_session() as session:
        audit_actor = _audit_name(session, actor, f"{action} accounts")
        user = _account(session, username)
        if not active and isinstance(actor, SignedIn) and user.id == actor.user_id:
            raise Refused({"username": "you cannot disable your own account"})
        if user.active == active:
            return _summary(user)
        before = _state(user)
        user.active = active
        if active:  # a fresh start: no lock carried over from before it was disabled
            user.failed_attempts, user.locked_until = 0, None
        return _audited(session, user, before, actor=audit_actor, action=action, reason=why)


def unlock_user(
    db: Database, username: str, *, actor: SignedIn | SystemActor, reason: str | None = None
) -> UserSummary:
    """End an account's lockout now and reset its failed sign-ins; return it. Admins only.

    An account that is not locked and has no failures is left as it is (nothing written).
    """
    why = _checked_reason(reason)
    with db.write_session() as session:
        audit_actor = _audit_name(session, actor, "unlock accounts")
        user = _account(session, username)
        if user.locked_until is None and not user.failed_attempts:
            return _summary(user)
        before = _state(user)
        user.failed_attempts, user.locked_until = 0, None
        return _audited(session, user, before, actor=audit_actor, action="unlock", reason=why)


def reset_password(
    db: Database,
    username: str,
    new_password: str,
    *,
    actor: SignedIn | SystemActor,
    reason: str | None = None,
) -> UserSummary:
    """Give an account a new password (and end any lockout); return it. Admins only.

    The password follows the same rules as a new account's (Refused naming `password`). The
    audit entry says that the password was reset, never the password or its hash.
    """
    why = _checked_reason(reason)
    name = normalize_username(username)
    problem = password_problem(new_password, name)
    if problem is not None:
        raise Refused({"password": problem})
    password_hash = HASHER.hash(new_password)  # slow on purpose: outside the transaction
    with db.write_session() as session:
        audit_actor = _audit_name(session, actor, "reset passwords")
        user = _account(session, name)
        before = _state(user)
        user.password_hash = password_hash
        user.failed_attempts, user.locked_until = 0, None
        return _audited(
            session,
            user,
            before,
            actor=audit_actor,
            action="reset_password",
            reason=why,
            after=_state(user) | {"password": "reset"},
        )


# ---------------------------------------------------------------------------------------------
# Single sign-on (OIDC through Streamlit's st.login): an identity signs in as the account whose
# `sso_subject` is its `sub` or its (verified) e-mail address. No account: no entry.


def normalize_sso_subject(subject: str) -> str:
    """Return an SSO identity as stored: trimmed; an e-mail address in lower case."""
    text = subject.strip()
    return text.lower() if "@" in text else text


def sso_identities(claims: Mapping[str, Any]) -> list[str]:
    """Return the identities an OIDC user's claims can be mapped by: `sub`, then `email`.

    The e-mail address counts only when the provider does not say it is unverified
    (`email_verified` false): otherwise anyone could claim a colleague's address.
    """
    found: list[str] = []
    sub = claims.get("sub")
    if isinstance(sub, str) and sub.strip():
        found.append(normalize_sso_subject(sub))
    email = claims.get("email")
    if isinstance(email, str) and email.strip() and claims.get("email_verified") is not False:
        address = normalize_sso_subject(email)
        if address not in found:
            found.append(address)
    return found


def set_sso_subject(
    db: Database, username: str, subject: str | None, *, actor: SignedIn | SystemActor
) -> UserSummary:
    """Map an SSO identity (OIDC `sub` or e-mail) to an account, or clear it (None or blank).

    Admins only. Refused: an identity longer than 255 characters, or already mapped to another
    account (`sso_subject`).
    """
    mapped = normalize_sso_subject(subject or "") or None
    if mapped is not None and (len(mapped) > MAX_SSO_SUBJECT or "\x00" in mapped):
        raise Refused({"sso_subject": f"must be at most {MAX_SSO_SUBJECT} characters"})
    try:
        with db.write_session() as session:
            audit_actor = _audit_name(session, actor, "map sign-on identities")
            user = _account(session, username)
            if user.sso_subject == mapped:
                return _summary(user)
            if mapped is not None:
                other = session.scalars(
                    select(m.User.username).where(m.User.sso_subject == mapped)
                ).first()
                if other is not None:
                    raise Refused({"sso_subject": f"is already mapped to {other!r}"})
            before = _state(user)
            user.sso_subject = mapped
            return _audited(session, user, before, actor=audit_actor, action="map_sso")
    except IntegrityError:
        raise Refused({"sso_subject": "was mapped to another account at the same moment"}) from None


def sso_sign_in(
    db: Database, claims: Mapping[str, Any], *, now: datetime | None = None
) -> SignedIn | None:
    """Return the account an OIDC identity maps to, signed in, or None; audited either way.

    None when no account maps to the identity, or the account is inactive, locked or a system
    account. The identity provider checked the person; this only decides which account, if any,
    they are here (its role is the role of that account).
    """
    at = now or m.utcnow()
    identities = sso_identities(claims)
    with db.write_session() as session:
        user = None
        for identity in identities:
            user = session.scalars(
                select(m.User).where(m.User.sso_subject == identity)
            ).one_or_none()
            if user is not None:
                break
        if user is None:
            record_event(
                session,
                actor=UNKNOWN_ACTOR,
                action="sign_in_failed",
                entity="user",
                after={"sso_identities": identities},
                reason="single sign-on: no account for this identity",
            )
            return None
        locked = user.locked_until is not None and at < user.locked_until
        if not user.active or user.role not in PERSON_ROLES or locked:
            reason = "account inactive" if not user.active else "account locked"
            if user.role not in PERSON_ROLES:
                reason = "system account: cannot sign in"
            record_event(
                session,
                actor=user.username,
                action="sign_in_failed",
                entity="user",
                entity_id=user.id,
                reason=f"single sign-on: {reason}",
            )
            return None
        record_event(
            session,
            actor=user.username,
            action="sign_in",
            entity="user",
            entity_id=user.id,
            reason="single sign-on",
        )
        return _signed_in(user)
