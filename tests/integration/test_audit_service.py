"""Reading the audit log (admins only): each filter at its edges, free text in before/after and
reason on both backends, and the CSV export: its content, and its own audit entry."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from il2_tox.services.audit import (
    AuditQuery,
    AuditRow,
    events_csv,
    export_csv,
    list_events,
    vocabulary,
)
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.users import SignedIn, SystemActor, add_user, authenticate
from il2_tox.store import Database
from il2_tox.store.models import AuditEvent

T0 = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)  # a day before anything else in the log
DAY = timedelta(days=1)
CLI = SystemActor("cli:test")


def person(db: Database, username: str, role: str) -> SignedIn:
    add_user(db, username, role, f"{username}-password-9", actor=CLI)
    signed_in = authenticate(db, username, f"{username}-password-9")
    assert signed_in is not None
    return signed_in


@pytest.fixture
def root(db: Database) -> SignedIn:
    return person(db, "root", "admin")


@pytest.fixture
def log(db: Database, root: SignedIn) -> Database:
    """Four entries at T0, T0+1h, T0+2h, T0+3h (besides the accounts' own)."""
    rows = [
        AuditEvent(
            at=T0,
            actor="ada",
            action="record_dose",
            entity="dose",
            entity_id="7",
            after={"status": "held", "reason": "SBP 84 — Café au lait"},
        ),
        AuditEvent(
            at=T0 + timedelta(hours=1),
            actor="grace",
            action="acknowledge_flag",
            entity="flag_acknowledgement",
            entity_id="3",
            reason="100% sure: reviewed",
        ),
        AuditEvent(
            at=T0 + timedelta(hours=2),
            actor="ada",
            action="record_observations",
            entity="admission",
            entity_id="1",
            before=None,
            after={"observations": 3},
            reason='=HYPERLINK("http://evil")',
        ),
        AuditEvent(at=T0 + timedelta(hours=3), actor="grace", action="sign_out", entity="user"),
    ]
    with db.write_session() as session:
        session.add_all(rows)
    return db


def ids(rows: list[AuditRow]) -> list[str | None]:
    return [row.entity_id for row in rows if row.at >= T0 and row.at < T0 + timedelta(days=1)]


def test_it_lists_newest_first(log: Database, root: SignedIn) -> None:
    rows = list_events(log, AuditQuery(since=T0, until=T0 + timedelta(days=1)), actor=root)
    assert [row.action for row in rows] == [
        "sign_out",
        "record_observations",
        "acknowledge_flag",
        "record_dose",
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (AuditQuery(actor="ada"), ["1", "7"]),
        (AuditQuery(action="acknowledge_flag"), ["3"]),
        (AuditQuery(entity="dose"), ["7"]),
        (AuditQuery(entity_id="1"), ["1"]),
        (AuditQuery(actor="ada", entity="dose"), ["7"]),
        (AuditQuery(actor="nobody"), []),
    ],
)
def test_it_filters_by_exact_fields(
    log: Database, root: SignedIn, query: AuditQuery, expected: list[str]
) -> None:
    assert ids(list_events(log, query, actor=root)) == expected


def test_since_is_inclusive_and_until_exclusive(log: Database, root: SignedIn) -> None:
    one, two = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    rows = list_events(log, AuditQuery(since=one, until=two), actor=root)
    assert [row.at for row in rows] == [one]
    rows = list_events(
        log, AuditQuery(since=one, until=two + timedelta(microseconds=1)), actor=root
    )
    assert [row.at for row in rows] == [two, one]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("held", ["7"]),  # in after
        ("CAFÉ", ["7"]),  # non-ASCII, any case
        ("100%", ["3"]),  # a LIKE wildcard is a plain character
        ("100_", []),
        ("hyperlink", ["1"]),  # in the reason
        ("GRACE", ["", "3"]),  # the actor
    ],
)
def test_it_finds_text_anywhere_in_an_entry(
    log: Database, root: SignedIn, text: str, expected: list[str]
) -> None:
    rows = list_events(log, AuditQuery(text=text, since=T0, until=T0 + DAY), actor=root)
    assert [row.entity_id or "" for row in rows] == expected


def test_it_returns_at_most_the_limit(log: Database, root: SignedIn) -> None:
    rows = list_events(log, AuditQuery(since=T0, until=T0 + DAY), actor=root, limit=2)
    assert [row.action for row in rows] == ["sign_out", "record_observations"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (AuditQuery(since=datetime(2026, 11, 27)), "since"),
        (AuditQuery(since=T0, until=T0), "until"),
        (AuditQuery(text="x" * 201), "text"),
        (AuditQuery(actor="a\x00b"), "actor"),
    ],
)
def test_a_bad_filter_is_refused_naming_it(
    log: Database, root: SignedIn, query: AuditQuery, field: str
) -> None:
    with pytest.raises(Refused) as refused:
        list_events(log, query, actor=root)
    assert refused.value.field == field


@pytest.mark.parametrize("role", ["nurse", "physician"])
def test_only_an_admin_may_read_the_log(log: Database, role: str) -> None:
    someone = person(log, "someone", role)
    with pytest.raises(PermissionDenied, match=f"someone \\({role}\\) may not read the audit log"):
        list_events(log, AuditQuery(), actor=someone)
    with pytest.raises(PermissionDenied):
        vocabulary(log, actor=someone)
    with pytest.raises(PermissionDenied, match="Not signed in"):
        list_events(log, AuditQuery(), actor=None)


def test_the_filter_menus_list_what_occurs(log: Database, root: SignedIn) -> None:
    known = vocabulary(log, actor=root)
    assert {"ada", "grace", "root", "cli:test"} <= set(known.actors)
    assert {"record_dose", "sign_out", "add", "sign_in"} <= set(known.actions)


def test_the_csv_holds_every_match_oldest_first_and_defuses_formulas(
    log: Database, root: SignedIn
) -> None:
    text = export_csv(log, AuditQuery(actor="ada"), actor=root, destination="test")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["action"] for row in rows] == ["record_dose", "record_observations"]
    assert rows[0]["at"] == T0.isoformat()
    assert rows[0]["after"] == '{"reason": "SBP 84 — Café au lait", "status": "held"}'
    assert rows[0]["before"] == ""
    assert rows[1]["reason"] == '\'=HYPERLINK("http://evil")'


def test_the_export_is_recorded_with_its_filters_and_row_count(
    log: Database, root: SignedIn
) -> None:
    export_csv(log, AuditQuery(actor="ada", since=T0), actor=root, destination="dashboard")
    (event,) = list_events(log, AuditQuery(action="export"), actor=root)
    assert (event.actor, event.entity) == ("root", "audit_log")
    assert event.after == {
        "rows": 2,
        "filters": {"actor": "ada", "since": T0.isoformat()},
        "format": "csv",
        "destination": "dashboard",
    }


def test_the_command_line_may_export_as_its_operator(log: Database, root: SignedIn) -> None:
    export_csv(log, AuditQuery(), actor=CLI)
    (event,) = list_events(log, AuditQuery(action="export"), actor=root)
    assert event.actor == "cli:test"


def test_an_empty_export_is_a_header_only() -> None:
    assert events_csv([]) == "id,at,actor,action,entity,entity_id,before,after,reason\r\n"
