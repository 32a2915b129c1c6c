"""The audit log, for admins: list and filter its entries, and export them as CSV.

Every write, sign-in, failed sign-in and export in il2-tox appends one entry (who, when, what,
before/after, why) in the same transaction as the change (`il2_tox.store.records.record_event`);
the database refuses to change or delete an entry. Reading it is for admins only; an export of
it is itself an audited export, written in the transaction that reads the rows.

from il2_tox.services.audit import AuditQuery, list_events, export_csv
rows = list_events(db, AuditQuery(actor="ada", since=...), actor=admin)
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, func, or_, select
from sqlalchemy.orm import Session

from il2_tox.services.errors import Refused
from il2_tox.services.users import SignedIn, SystemActor, acting_user
from il2_tox.store import models as m
from il2_tox.store.engine import Database
from il2_tox.store.records import record_event

READERS = ("admin",)
MAX_TEXT = 200
DEFAULT_LIMIT = 500
CSV_COLUMNS = ("id", "at", "actor", "action", "entity", "entity_id", "before", "after", "reason")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditQuery:
    """Which entries: every given filter must match (None: any).

    `actor`, `action`, `entity` and `entity_id` match exactly; `since` is inclusive and
    `until` exclusive (aware datetimes); `text` is found, in any case, in the actor, the
    entity id, the reason or the before/after values.
    """

    actor: str | None = None
    action: str | None = None
    entity: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None

    def described(self) -> dict[str, str]:
        """Return the filters in use, as text (for the export's own audit entry)."""
        return {
            name: value.isoformat() if isinstance(value, datetime) else str(value)
            for name, value in asdict(self).items()
            if value not in (None, "")
        }


@dataclass(frozen=True)
class AuditRow:
    """One audit entry as read."""

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


@dataclass(frozen=True)
class AuditVocabulary:
    """The actors, actions and entities that occur in the log (for filter menus), sorted."""

    actors: list[str]
    actions: list[str]
    entities: list[str]


def _checked(query: AuditQuery) -> AuditQuery:
    errors: dict[str, str] = {}
    for name in ("since", "until"):
        moment = getattr(query, name)
        if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
            errors[name] = "give a time with its UTC offset"
    if (
        not errors
        and query.since is not None
        and query.until is not None
        and query.until <= query.since
    ):
        errors["until"] = "must be after the start of the range"
    if query.text is not None and (len(query.text) > MAX_TEXT or "\x00" in query.text):
        errors["text"] = f"must be at most {MAX_TEXT} characters of plain text"
    for name in ("actor", "action", "entity", "entity_id"):
        value = getattr(query, name)
        if value is not None and (len(value) > 64 or "\x00" in value):
            errors[name] = "must be at most 64 characters of plain text"
    if errors:
        raise Refused(errors)
    return query


def _contains(column: Any, needle: str) -> ColumnElement[bool]:
    return func.lower(cast(column, String)).contains(needle, autoescape=True)


def _select(query: AuditQuery) -> Select[m.AuditEvent]:
    statement = select(m.AuditEvent)
    for name in ("actor", "action", "entity", "entity_id"):
        value = getattr(query, name)
        if value not in (None, ""):
            statement = statement.where(getattr(m.AuditEvent, name) == value)
    if query.since is not None:
        statement = statement.where(m.AuditEvent.at >= query.since)
    if query.until is not None:
        statement = statement.where(m.AuditEvent.at < query.until)
    needle = (query.text or "").strip().lower()
    if needle:
        # JSON text may hold non-ASCII characters escaped (\u00e9): look for both spellings.
        escaped = json.dumps(needle)[1:-1].lower()
        spellings = {needle, escaped}
        statement = statement.where(
            or_(
                *(
                    condition
                    for spelling in spellings
                    for condition in (
                        func.lower(m.AuditEvent.actor).contains(spelling, autoescape=True),
                        func.lower(m.AuditEvent.entity_id).contains(spelling, autoescape=True),
                        func.lower(m.AuditEvent.reason).contains(spelling, autoescape=True),
                        _contains(m.AuditEvent.before, spelling),
                        _contains(m.AuditEvent.after, spelling),
                    )
                )
            )
        )
    return statement.order_by(m.AuditEvent.at.desc(), m.AuditEvent.id.desc())


def _row(event: m.AuditEvent) -> AuditRow:
    return AuditRow(
        id=event.id,
        at=event.at,
        actor=event.actor,
        action=event.action,
        entity=event.entity,
        entity_id=event.entity_id,
        before=event.before,
        after=event.after,
        reason=event.reason,
    )


def _reader(session: Session, actor: SignedIn | SystemActor | None, action: str) -> str:
    if isinstance(actor, SystemActor):
        return actor.name
    return acting_user(session, actor, READERS, action).username


def list_events(
    db: Database,
    query: AuditQuery,
    *,
    actor: SignedIn | None,
    limit: int = DEFAULT_LIMIT,
) -> list[AuditRow]:
    """Return the matching entries, newest first, at most `limit`. Admins only.

    Raise Refused naming the filter at fault (a time without offset, `until` not after
    `since`, text over 200 characters), PermissionDenied for anyone but an active admin.
    """
    checked = _checked(query)
    with db.read_session() as session:
        _reader(session, actor, "read the audit log")
        events = session.scalars(_select(checked).limit(max(1, limit)))
        return [_row(event) for event in events]


def vocabulary(db: Database, *, actor: SignedIn | None) -> AuditVocabulary:
    """Return the actors, actions and entities in the log, for the filter menus. Admins only."""
    with db.read_session() as session:
        _reader(session, actor, "read the audit log")

        def distinct(column: Any) -> list[str]:
            return sorted(session.scalars(select(column).distinct()))

        return AuditVocabulary(
            actors=distinct(m.AuditEvent.actor),
            actions=distinct(m.AuditEvent.action),
            entities=distinct(m.AuditEvent.entity),
        )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def events_csv(rows: Sequence[AuditRow]) -> str:
    """Return rows as CSV text (a header, then one line per entry; before/after as JSON).

    A cell that a spreadsheet would run as a formula (starting = + - @, tab or return) gets a
    leading apostrophe, the usual defence against CSV injection; nothing else is changed.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(_cell(getattr(row, column)) for column in CSV_COLUMNS)
    return out.getvalue()


def export_csv(
    db: Database,
    query: AuditQuery,
    *,
    actor: SignedIn | SystemActor | None,
    destination: str | None = None,
) -> str:
    """Return every matching entry as CSV (oldest first), and audit the export. Admins only.

    The rows are read and the `export` entry (entity `audit_log`, the filters and the number
    of rows, `destination` if given) written in one transaction: an export that is not
    recorded does not happen. Refused / PermissionDenied as `list_events`.
    """
    checked = _checked(query)
    with db.write_session() as session:
        reader = _reader(session, actor, "export the audit log")
        events = list(session.scalars(_select(checked)))
        events.reverse()
        rows = [_row(event) for event in events]
        record_event(
            session,
            actor=reader,
            action="export",
            entity="audit_log",
            after={
                "rows": len(rows),
                "filters": checked.described(),
                "format": "csv",
                "destination": destination,
            },
        )
    return events_csv(rows)
