"""Idle timeout: sign a user out after a quiet spell, keeping their unsaved form contents.

`idle_expired` is the rule. When it says so, the dashboard calls `sign_out_idle` with what its
forms held (`encode_draft` of the session's form values): the draft is stored for that user,
with the sign-out's audit entry, in one transaction. When the same user signs in again,
`take_draft` gives it back (and deletes it) so the forms show what was typed. A draft belongs to
one account: it is read by user id from the signed-in actor, checked against the database, and
never shown to anyone else.

A form submitted after the timeout is not saved: the dashboard names it in `unsaved`, its values
go into the draft like any other, and the draft carries the names (`UNSAVED`) and the timeout
(`UNSAVED_AFTER`) so that the user is told, on signing in again, that it was not saved.

The timeout is `IL2TOX_IDLE_MINUTES` (default 15; a whole number of minutes, 1 to 720).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select

from il2_tox.services.errors import Refused
from il2_tox.services.users import SignedIn, acting_user
from il2_tox.store import models as m
from il2_tox.store.engine import Database
from il2_tox.store.records import record_event

IDLE_MINUTES_ENV = "IL2TOX_IDLE_MINUTES"
DEFAULT_IDLE = timedelta(minutes=15)
MAX_IDLE_MINUTES = 720
IDLE_REASON = "idle timeout"
MAX_DRAFT_VALUES = 2000
MAX_DRAFT_TEXT = 100_000
# Reserved keys of a stored draft (no form field name starts with "draft."): the forms whose
# submission arrived after the timeout and was not saved, and the timeout in minutes.
UNSAVED = "draft.unsaved"
UNSAVED_AFTER = "draft.idle_minutes"
RESERVED_PREFIX = "draft."
MAX_UNSAVED_NAME = 200


def idle_timeout(environ: Mapping[str, str] | None = None) -> timedelta:
    """Return the idle timeout: `IL2TOX_IDLE_MINUTES` minutes, else 15 minutes.

    Raise ValueError naming the variable when it is not a whole number from 1 to 720.
    """
    text = (os.environ if environ is None else environ).get(IDLE_MINUTES_ENV, "").strip()
    if not text:
        return DEFAULT_IDLE
    try:
        minutes = int(text)
    except ValueError:
        minutes = 0
    if not 1 <= minutes <= MAX_IDLE_MINUTES:
        raise ValueError(
            f"{IDLE_MINUTES_ENV}: {text!r} is not a whole number of minutes from 1 to "
            f"{MAX_IDLE_MINUTES}"
        )
    return timedelta(minutes=minutes)


def idle_expired(last_active: datetime, now: datetime, timeout: timedelta) -> bool:
    """Return whether a session last active at `last_active` has timed out at `now`.

    Timed out once the whole timeout has passed: at 14:59 of 15 minutes, not; at 15:00, yes.
    """
    return now - last_active >= timeout


# ---------------------------------------------------------------------------------------------
# Form values as JSON: each value tagged with its type, so a date comes back a date.


def encode_value(value: Any) -> Any:
    """Return a form value as JSON data, or raise TypeError for a value a form cannot hold.

    Kept exactly: text, whole numbers, finite decimals, booleans, None, dates, times and
    (aware) datetimes, and lists of these.
    """
    if value is None or isinstance(value, bool | int | str):
        return {"t": type(value).__name__ if value is not None else "none", "v": value}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError("not a finite number")
        return {"t": "float", "v": value}
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime")
        return {"t": "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {"t": "date", "v": value.isoformat()}
    if isinstance(value, time):
        return {"t": "time", "v": value.isoformat()}
    if isinstance(value, list | tuple):
        return {"t": "list", "v": [encode_value(item) for item in value]}
    raise TypeError(f"a form cannot hold a {type(value).__name__}")


def decode_value(data: Any) -> Any:
    """Return the value `encode_value` encoded; raise ValueError for anything else."""
    if not isinstance(data, dict) or set(data) != {"t", "v"}:
        raise ValueError("not an encoded form value")
    kind, value = data["t"], data["v"]
    simple = {"none": type(None), "bool": bool, "int": int, "str": str, "float": float}
    if kind in simple and type(value) is simple[kind]:
        return value
    if kind == "float" and type(value) is int:  # JSON may give 2.0 back as 2
        return float(value)
    if kind == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    if kind == "time" and isinstance(value, str):
        return time.fromisoformat(value)
    if kind == "datetime" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if kind == "list" and isinstance(value, list):
        return [decode_value(item) for item in value]
    raise ValueError(f"not an encoded form value of type {kind!r}")


def encode_draft(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Return (the encodable form values as JSON data, the keys left out), by key.

    A value a form cannot hold (an uploaded file, a result object) is left out and named.
    """
    encoded: dict[str, Any] = {}
    skipped: list[str] = []
    for key in sorted(values):
        try:
            encoded[key] = encode_value(values[key])
        except TypeError:
            skipped.append(key)
    return encoded, skipped


def decode_draft(contents: Mapping[str, Any]) -> dict[str, Any]:
    """Return the form values of a stored draft (a value that does not decode is left out)."""
    values: dict[str, Any] = {}
    for key, data in contents.items():
        try:
            values[key] = decode_value(data)
        except ValueError:
            continue
    return values


def split_draft(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str], int | None]:
    """Return (the form values, the forms not saved, the timeout in minutes) of a taken draft.

    A draft kept without an unsaved submission gives ([], None) for the last two; a reserved
    value of the wrong type is left out, never guessed.
    """
    form = {key: value for key, value in values.items() if not key.startswith(RESERVED_PREFIX)}
    names = values.get(UNSAVED)
    unsaved = [name for name in names if isinstance(name, str)] if isinstance(names, list) else []
    minutes = values.get(UNSAVED_AFTER)
    return form, unsaved, minutes if type(minutes) is int else None


def storable(data: Any) -> bool:
    """Return whether an encoded value (`encode_value`) can be stored in a draft: no NUL
    character, at most `MAX_DRAFT_TEXT` characters written out."""
    text = repr(data)
    return "\x00" not in text and len(text) <= MAX_DRAFT_TEXT


def _checked_contents(contents: Mapping[str, Any]) -> dict[str, Any]:
    if len(contents) > MAX_DRAFT_VALUES:
        raise Refused({"draft": f"holds more than {MAX_DRAFT_VALUES} values"})
    for key, data in contents.items():
        if not isinstance(key, str) or not key or len(key) > 200 or "\x00" in key:
            raise Refused({"draft": f"has a key that is not a form field name: {key!r:.60}"})
        if key.startswith(RESERVED_PREFIX):
            raise Refused({"draft": f"has a key that is not a form field name: {key!r:.60}"})
        decode_value(data)  # ValueError for anything not made by encode_value
        if not storable(data):
            raise Refused({"draft": f"value of {key} cannot be stored"})
    return dict(contents)


# ---------------------------------------------------------------------------------------------
# Storing and giving back


def _checked_unsaved(unsaved: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(unsaved))  # each form once, in the order pressed
    for name in names:
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_UNSAVED_NAME:
            raise Refused({"unsaved": f"is not the name of a form: {name!r:.60}"})
        if "\x00" in name:
            raise Refused({"unsaved": f"is not the name of a form: {name!r:.60}"})
    return names


def sign_out_idle(
    db: Database,
    user: SignedIn,
    contents: Mapping[str, Any],
    *,
    unsaved: Sequence[str] = (),
    timeout: timedelta = DEFAULT_IDLE,
    now: datetime | None = None,
) -> int:
    """Sign `user` out for inactivity, keeping `contents` (from `encode_draft`) as their draft.

    `unsaved` names the forms submitted after the timeout (so not saved; their values are in
    `contents`); the draft keeps the names and `timeout` so the user is told when it comes back.
    One transaction: the draft (replacing any earlier one; none when `contents` and `unsaved`
    are both empty) and the `sign_out` audit entry (reason "idle timeout", the number of values
    kept and, if any, the forms not saved). Return the number of values kept. Raise
    PermissionDenied if the account is no longer active (then nothing is kept: the dashboard
    signs out anyway).
    """
    try:
        checked = _checked_contents(contents)
    except ValueError as error:
        raise Refused({"draft": str(error)}) from None
    names = _checked_unsaved(unsaved)
    stored = dict(checked)
    after: dict[str, Any] = {"draft_values": len(checked)}
    if names:
        stored[UNSAVED] = encode_value(names)
        stored[UNSAVED_AFTER] = encode_value(int(timeout.total_seconds() // 60))
        after["unsaved"] = names
    at = now or m.utcnow()
    with db.write_session() as session:
        account = acting_user(session, user, ("nurse", "physician", "admin"), "keep a draft")
        session.execute(delete(m.FormDraft).where(m.FormDraft.user_id == account.id))
        if stored:
            session.add(m.FormDraft(user_id=account.id, saved_at=at, contents=stored))
        record_event(
            session,
            actor=account.username,
            action="sign_out",
            entity="user",
            entity_id=account.id,
            after=after,
            reason=IDLE_REASON,
        )
    return len(checked)


def take_draft(db: Database, user: SignedIn) -> dict[str, Any] | None:
    """Return the user's draft form values (decoded) and delete the draft; None if there is none.

    Only the draft of the signed-in account (by id, checked active): never anyone else's.
    Audited as `restore_draft` with the number of values (and the forms not saved, if any), in
    the same transaction. A draft with an unsaved submission also holds `UNSAVED` and
    `UNSAVED_AFTER`: `split_draft` separates them from the form values.
    """
    with db.write_session() as session:
        account = acting_user(
            session, user, ("nurse", "physician", "admin"), "have a draft given back"
        )
        draft = session.scalars(
            select(m.FormDraft).where(m.FormDraft.user_id == account.id)
        ).one_or_none()
        if draft is None:
            return None
        values = decode_draft(draft.contents)
        saved_at = draft.saved_at
        session.delete(draft)
        form, unsaved, _minutes = split_draft(values)
        after: dict[str, Any] = {"draft_values": len(form), "saved_at": saved_at.isoformat()}
        if unsaved:
            after["unsaved"] = unsaved
        record_event(
            session,
            actor=account.username,
            action="restore_draft",
            entity="user",
            entity_id=account.id,
            after=after,
        )
        return values
