"""The audit trail is complete: every write, sign-in, failed sign-in and export leaves exactly its
own entry, in the same transaction (a write that fails leaves none), and the database refuses to
change or delete an entry. Both backends.

Personas: Ada (nurse), Grace (physician), Root (admin).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from il2_tox.__main__ import main
from il2_tox.services import audit as audit_service
from il2_tox.services import course_io, drafts, users
from il2_tox.services.audit import AuditQuery, export_csv
from il2_tox.services.bedside import (
    acknowledge_flag,
    admit_patient,
    record_dose,
    record_observations,
)
from il2_tox.services.course_io import cohort_export_ids, export_course, import_course
from il2_tox.services.drafts import encode_draft, sign_out_idle, take_draft
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.observation_import import import_observation_csv
from il2_tox.services.users import (
    SignedIn,
    SystemActor,
    add_user,
    authenticate,
    record_sign_out,
    reset_password,
    set_active,
    set_sso_subject,
    unlock_user,
)
from il2_tox.store import Database
from il2_tox.store.models import AuditEvent
from tests.builders import CourseBuilder
from tests.integration.test_bedside import (
    HISTORY,
    PATIENT,
    STEROIDS,
    admission_now,
    steroid_flag_time,
)

SBP = "8480-6"
CLI = SystemActor("cli:test")
Entry = tuple[str, str, str]  # (actor, action, entity)


def person(db: Database, username: str, role: str) -> SignedIn:
    password = f"{username}-password-9"
    add_user(db, username, role, password, username.title(), actor=CLI)
    signed_in = authenticate(db, username, password)
    assert signed_in is not None
    return signed_in


def entries(db: Database) -> list[Entry]:
    with db.read_session() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(event.actor, event.action, event.entity) for event in events]


def audit_count(db: Database) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


class Ward:
    """A ward with Ada, Grace and Root signed in, a patient on steroids and a plain patient."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.ada = person(db, "ada", "nurse")
        self.grace = person(db, "grace", "physician")
        self.root = person(db, "root", "admin")
        plain = import_course(
            db, CourseBuilder(patient_id="MRN-AUD").obs(SBP, 112, "mm[Hg]", at=1).build()
        )
        steroids = import_course(
            db, CourseBuilder(patient_id="MRN-STER").history(systemic_steroids=True).build()
        )
        assert plain.admission_id is not None and steroids.admission_id is not None
        self.admission_id = plain.admission_id
        self.on_steroids = steroids.admission_id


@pytest.fixture
def ward(db: Database) -> Ward:
    return Ward(db)


def now() -> datetime:
    return datetime.now(UTC)


def _key() -> str:
    return uuid.uuid4().hex


# Each write, and the one entry it must leave: (actor, action, entity).
WRITES: dict[str, tuple[Callable[[Ward], object], Entry]] = {
    "observation set": (
        lambda w: record_observations(
            w.db,
            w.admission_id,
            [(SBP, 110, "mm[Hg]", None)],
            now() - timedelta(minutes=5),
            w.ada,
            _key(),
        ),
        ("ada", "record_observations", "admission"),
    ),
    "dose": (
        lambda w: record_dose(
            w.db,
            w.admission_id,
            status="held",
            time=now() - timedelta(minutes=1),
            reason="SBP low",
            actor=w.grace,
            idempotency_key=_key(),
        ),
        ("grace", "record_dose", "dose"),
    ),
    "admission": (
        lambda w: admit_patient(
            w.db, patient=PATIENT, admission=admission_now(), history=HISTORY, actor=w.ada
        ),
        ("ada", "import", "admission"),
    ),
    "acknowledgement": (
        lambda w: acknowledge_flag(
            w.db,
            w.on_steroids,
            STEROIDS,
            steroid_flag_time(w.db, w.on_steroids),
            w.grace,
            "reviewed: taper done",
        ),
        ("grace", "acknowledge_flag", "flag_acknowledgement"),
    ),
    "CSV import": (
        lambda w: import_observation_csv(
            w.db,
            w.admission_id,
            f"time,code,value,unit\n{(now() - timedelta(hours=1)).isoformat()},{SBP},101,mm[Hg]\n",
            w.ada,
            _key(),
        ),
        ("ada", "import_observations", "admission"),
    ),
    "course import": (
        lambda w: import_course(
            w.db, CourseBuilder(patient_id="MRN-NEW2").build(), recorded_by="import"
        ),
        ("import", "import", "admission"),
    ),
    "account added": (
        lambda w: add_user(w.db, "alan", "nurse", "turing-machine-1", actor=w.root),
        ("root", "add", "user"),
    ),
    "account disabled": (
        lambda w: set_active(w.db, "ada", False, actor=w.root, reason="left the ward"),
        ("root", "disable", "user"),
    ),
    "password reset": (
        lambda w: reset_password(w.db, "ada", "a-brand-new-secret", actor=w.root),
        ("root", "reset_password", "user"),
    ),
    "sign-on identity mapped": (
        lambda w: set_sso_subject(w.db, "ada", "ada@example.org", actor=w.root),
        ("root", "map_sso", "user"),
    ),
    "sign-in": (
        lambda w: authenticate(w.db, "ada", "ada-password-9"),
        ("ada", "sign_in", "user"),
    ),
    "failed sign-in": (
        lambda w: authenticate(w.db, "ada", "not-her-password"),
        ("ada", "sign_in_failed", "user"),
    ),
    "sign-out": (lambda w: record_sign_out(w.db, w.ada), ("ada", "sign_out", "user")),
    "idle sign-out": (
        lambda w: sign_out_idle(w.db, w.ada, encode_draft({"entry.obs.1.0.8480-6": 95})[0]),
        ("ada", "sign_out", "user"),
    ),
    "course export": (
        lambda w: export_course(w.db, "MRN-AUD", actor=w.grace),
        ("grace", "export", "admission"),
    ),
    "cohort export": (
        lambda w: cohort_export_ids(w.db, actor=CLI, destination="flags.csv"),
        ("cli:test", "export", "cohort"),
    ),
    "audit log export": (
        lambda w: export_csv(w.db, AuditQuery(actor="ada"), actor=w.root),
        ("root", "export", "audit_log"),
    ),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_every_write_leaves_exactly_its_own_audit_entry(ward: Ward, write: str) -> None:
    act, expected = WRITES[write]
    before = entries(ward.db)
    act(ward)
    assert entries(ward.db)[len(before) :] == [expected]


def test_the_fifth_failed_sign_in_leaves_its_entry_and_the_lock(ward: Ward) -> None:
    for _ in range(4):
        authenticate(ward.db, "ada", "wrong-guess-123")
    before = len(entries(ward.db))
    authenticate(ward.db, "ada", "wrong-guess-123")
    assert entries(ward.db)[before:] == [
        ("ada", "sign_in_failed", "user"),
        ("ada", "lock", "user"),
    ]


def test_unlocking_and_enabling_leave_their_entries(ward: Ward) -> None:
    for _ in range(5):
        authenticate(ward.db, "ada", "wrong-guess-123")
    set_active(ward.db, "ada", False, actor=ward.root)
    before = len(entries(ward.db))
    unlock_user(ward.db, "ada", actor=ward.root, reason="called the ward")
    set_active(ward.db, "ada", True, actor=ward.root)
    assert entries(ward.db)[before:] == [("root", "unlock", "user"), ("root", "enable", "user")]


def test_restoring_a_draft_leaves_its_entry(ward: Ward) -> None:
    sign_out_idle(ward.db, ward.ada, encode_draft({"entry.obs.1.0.8480-6": 95})[0])
    before = len(entries(ward.db))
    take_draft(ward.db, ward.ada)
    assert entries(ward.db)[before:] == [("ada", "restore_draft", "user")]


def test_the_command_line_export_is_audited_under_the_operator(
    ward: Ward, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IL2TOX_DATABASE_URL", ward.db.url.render_as_string(hide_password=False))
    monkeypatch.setattr("getpass.getuser", lambda: "ops")
    assert main(["export", "--patient", "MRN-AUD"]) == 0
    capsys.readouterr()
    with ward.db.read_session() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event is not None
    assert (event.actor, event.action, event.entity) == ("cli:ops", "export", "admission")
    assert event.after is not None
    assert (event.after["patient"], event.after["destination"]) == ("MRN-AUD", "stdout")


def test_a_cohort_export_is_audited_with_its_count_and_destination(
    ward: Ward,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: object,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("IL2TOX_DATABASE_URL", ward.db.url.render_as_string(hide_password=False))
    monkeypatch.setattr("getpass.getuser", lambda: "ops")
    out = f"{tmp_path}/flags.csv"
    assert main(["assess", "--db", "--out", out, "--workers", "1"]) == 0
    capsys.readouterr()
    (event,) = audit_service.list_events(
        ward.db, AuditQuery(action="export", entity="cohort"), actor=ward.root
    )
    assert event.actor == "cli:ops"
    assert event.after == {"admissions": 2, "format": "cohort flags (CSV)", "destination": out}


# -- a write that fails leaves no entry ---------------------------------------------------------


FAILED_WRITES: dict[str, Callable[[Ward], object]] = {
    "refused observation": lambda w: record_observations(
        w.db, w.admission_id, [(SBP, 999, "mm[Hg]", None)], now(), w.ada, _key()
    ),
    "dose by an admin": lambda w: record_dose(
        w.db,
        w.admission_id,
        status="given",
        time=now(),
        reason=None,
        actor=w.root,
        idempotency_key=_key(),
    ),
    "account added by a nurse": lambda w: add_user(
        w.db, "eve", "admin", "eve-password-1", actor=w.ada
    ),
    "weak password reset": lambda w: reset_password(w.db, "ada", "password1", actor=w.root),
    "nurse disables an account": lambda w: set_active(w.db, "grace", False, actor=w.ada),
    "admin disables self": lambda w: set_active(w.db, "root", False, actor=w.root),
    "unknown account unlocked": lambda w: unlock_user(w.db, "nobody", actor=w.root),
    "export of an unknown patient": lambda w: export_course(w.db, "MRN-NONE", actor=w.grace),
    "audit export by a physician": lambda w: export_csv(w.db, AuditQuery(), actor=w.grace),
    "audit export with bad times": lambda w: export_csv(
        w.db, AuditQuery(since=now(), until=now() - timedelta(days=1)), actor=w.root
    ),
}


@pytest.mark.parametrize("write", list(FAILED_WRITES))
def test_a_write_that_is_refused_leaves_no_entry(ward: Ward, write: str) -> None:
    before = audit_count(ward.db)
    with pytest.raises((Refused, PermissionDenied, course_io.NotFound)):
        FAILED_WRITES[write](ward)
    assert audit_count(ward.db) == before


@pytest.mark.parametrize(
    ("module", "write"),
    [
        (users, lambda w: set_active(w.db, "ada", False, actor=w.root)),
        (users, lambda w: reset_password(w.db, "ada", "a-brand-new-secret", actor=w.root)),
        (users, lambda w: authenticate(w.db, "ada", "wrong-guess-123")),
        (course_io, lambda w: export_course(w.db, "MRN-AUD", actor=w.grace)),
        (audit_service, lambda w: export_csv(w.db, AuditQuery(), actor=w.root)),
        (drafts, lambda w: sign_out_idle(w.db, w.ada, encode_draft({"a.b": 1})[0])),
    ],
    ids=["disable", "reset", "failed sign-in", "course export", "audit export", "idle sign-out"],
)
def test_a_change_and_its_entry_are_written_together_or_not_at_all(
    ward: Ward, monkeypatch: pytest.MonkeyPatch, module: object, write: Callable[[Ward], object]
) -> None:
    def broken_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit log unavailable")

    with ward.db.read_session() as session:
        from il2_tox.store.models import FormDraft, User

        accounts_before = [
            (u.username, u.active, u.password_hash, u.failed_attempts)
            for u in session.scalars(select(User).order_by(User.id))
        ]
    before = audit_count(ward.db)
    monkeypatch.setattr(module, "record_event", broken_audit)
    with pytest.raises(RuntimeError):
        write(ward)
    assert audit_count(ward.db) == before
    with ward.db.read_session() as session:
        accounts_after = [
            (u.username, u.active, u.password_hash, u.failed_attempts)
            for u in session.scalars(select(User).order_by(User.id))
        ]
        assert session.scalar(select(func.count()).select_from(FormDraft)) == 0
    assert accounts_after == accounts_before


# -- the database refuses to change the log ----------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET reason = 'nothing happened'",
        "UPDATE audit_log SET actor = 'mallory' WHERE action = 'sign_in'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE action = 'sign_in_failed'",
    ],
)
def test_the_database_refuses_to_change_or_delete_audit_entries(ward: Ward, statement: str) -> None:
    authenticate(ward.db, "ada", "wrong-guess-123")
    before = entries(ward.db)
    with (
        pytest.raises(IntegrityError, match="audit_log is append-only"),
        ward.db.write_session() as session,
    ):
        session.execute(text(statement))
    assert entries(ward.db) == before


def test_postgresql_refuses_to_truncate_the_audit_log(ward: Ward, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's (SQLite has none; its DELETE is refused above)")
    before = entries(ward.db)
    with (
        pytest.raises(IntegrityError, match="audit_log is append-only"),
        ward.db.write_session() as session,
    ):
        session.execute(text("TRUNCATE audit_log"))
    assert entries(ward.db) == before


def test_an_audit_entry_changed_through_the_orm_is_refused(ward: Ward) -> None:
    with pytest.raises(IntegrityError), ward.db.write_session() as session:
        event = session.scalars(select(AuditEvent).limit(1)).one()
        event.actor = "mallory"
    assert ("mallory", "add", "user") not in entries(ward.db)


def test_no_password_appears_in_the_audit_log_or_its_export(ward: Ward) -> None:
    authenticate(ward.db, "ada", "typo-of-ada-password-9")
    reset_password(ward.db, "grace", "grace-new-secret-77", actor=ward.root)
    exported = export_csv(ward.db, AuditQuery(), actor=ward.root)
    for secret in ("ada-password-9", "typo-of-ada-password-9", "grace-new-secret-77", "$argon2"):
        assert secret not in exported
