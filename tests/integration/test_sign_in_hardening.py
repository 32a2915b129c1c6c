"""Sign-in hardening: lockout, password rules, what admins may do to accounts, single sign-on
mapping, and drafts kept across an idle timeout. Both backends.

Personas: Ada (nurse), Grace (physician), Root (admin). The clock is injected (`now=`).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from il2_tox.__main__ import main
from il2_tox.services.drafts import (
    UNSAVED,
    encode_draft,
    encode_value,
    idle_expired,
    idle_timeout,
    sign_out_idle,
    split_draft,
    take_draft,
)
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.users import (
    LOCKOUT_ATTEMPTS,
    LOCKOUT_PERIOD,
    SignedIn,
    SystemActor,
    add_user,
    authenticate,
    list_users,
    password_problem,
    reset_password,
    set_active,
    set_sso_subject,
    sso_identities,
    sso_sign_in,
    unlock_user,
)
from il2_tox.store import Database, migrate
from il2_tox.store.models import AuditEvent, User

CLI = SystemActor("cli:test")
ADA_PASSWORD = "correct horse battery"
T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


@pytest.fixture
def ada(db: Database) -> SignedIn:
    add_user(db, "ada", "nurse", ADA_PASSWORD, "Ada Nurse", actor=CLI)
    signed_in = authenticate(db, "ada", ADA_PASSWORD, now=T0)
    assert signed_in is not None
    return signed_in


@pytest.fixture
def root(db: Database) -> SignedIn:
    add_user(db, "root", "admin", "root-password-1", actor=CLI)
    signed_in = authenticate(db, "root", "root-password-1", now=T0)
    assert signed_in is not None
    return signed_in


@pytest.fixture
def grace(db: Database) -> SignedIn:
    add_user(db, "grace", "physician", "grace-hopper-1906", actor=CLI)
    signed_in = authenticate(db, "grace", "grace-hopper-1906", now=T0)
    assert signed_in is not None
    return signed_in


def fail(db: Database, times: int, at: datetime = T0) -> None:
    for _ in range(times):
        assert authenticate(db, "ada", "a wrong guess", now=at) is None


def account(db: Database, username: str = "ada") -> User:
    with db.read_session() as session:
        return session.scalars(select(User).where(User.username == username)).one()


def events(db: Database, action: str) -> list[AuditEvent]:
    with db.read_session() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


# -- lockout ---------------------------------------------------------------------------------


def test_four_failures_do_not_lock_the_account(db: Database, ada: SignedIn) -> None:
    fail(db, LOCKOUT_ATTEMPTS - 1)
    assert account(db).locked_until is None
    assert authenticate(db, "ada", ADA_PASSWORD, now=T0) is not None


def test_the_fifth_failure_locks_the_account_for_15_minutes(db: Database, ada: SignedIn) -> None:
    fail(db, LOCKOUT_ATTEMPTS)
    assert account(db).locked_until == T0 + timedelta(minutes=15)
    (lock,) = events(db, "lock")
    assert (lock.actor, lock.reason) == ("ada", "5 failed sign-ins in a row")
    assert lock.after == {"locked_until": (T0 + LOCKOUT_PERIOD).isoformat()}


def test_a_locked_account_refuses_even_the_right_password(db: Database, ada: SignedIn) -> None:
    fail(db, 5)
    assert authenticate(db, "ada", ADA_PASSWORD, now=T0 + timedelta(minutes=1)) is None
    assert events(db, "sign_in_failed")[-1].reason == (
        f"account locked until {(T0 + LOCKOUT_PERIOD).isoformat()}"
    )


def test_it_is_still_locked_at_14_59(db: Database, ada: SignedIn) -> None:
    fail(db, 5)
    at = T0 + timedelta(minutes=14, seconds=59)
    assert authenticate(db, "ada", ADA_PASSWORD, now=at) is None


def test_it_is_unlocked_at_15_00(db: Database, ada: SignedIn) -> None:
    fail(db, 5)
    assert authenticate(db, "ada", ADA_PASSWORD, now=T0 + LOCKOUT_PERIOD) is not None
    assert (account(db).failed_attempts, account(db).locked_until) == (0, None)


def test_failures_while_locked_do_not_extend_the_lock(db: Database, ada: SignedIn) -> None:
    fail(db, 5)
    fail(db, 3, at=T0 + timedelta(minutes=10))
    assert account(db).locked_until == T0 + LOCKOUT_PERIOD
    assert len(events(db, "lock")) == 1


def test_after_a_lock_ends_the_count_starts_again(db: Database, ada: SignedIn) -> None:
    fail(db, 5)
    later = T0 + LOCKOUT_PERIOD
    fail(db, 4, at=later)
    assert account(db).locked_until is None
    fail(db, 1, at=later)
    assert account(db).locked_until == later + LOCKOUT_PERIOD


def test_a_success_resets_the_count(db: Database, ada: SignedIn) -> None:
    fail(db, 4)
    assert authenticate(db, "ada", ADA_PASSWORD, now=T0) is not None
    fail(db, 4)
    assert account(db).locked_until is None
    assert account(db).failed_attempts == 4


def test_failures_under_an_unknown_name_lock_nothing_and_record_no_name(db: Database) -> None:
    for _ in range(6):
        assert authenticate(db, "nobody", "guess", now=T0) is None
    assert events(db, "lock") == []
    assert {event.actor for event in events(db, "sign_in_failed")} == {"(unknown user)"}


def test_an_admin_unlocks_an_account_at_once(db: Database, ada: SignedIn, root: SignedIn) -> None:
    fail(db, 5)
    unlocked = unlock_user(db, "ada", actor=root, reason="phoned: it was her")
    assert (unlocked.failed_attempts, unlocked.locked_until) == (0, None)
    assert authenticate(db, "ada", ADA_PASSWORD, now=T0 + timedelta(minutes=1)) is not None
    (event,) = events(db, "unlock")
    assert (event.actor, event.reason) == ("root", "phoned: it was her")
    assert event.before is not None and event.before["failed_attempts"] == 5
    assert event.after is not None and event.after["locked_until"] is None


def test_only_an_admin_may_unlock(db: Database, ada: SignedIn, grace: SignedIn) -> None:
    fail(db, 5)
    with pytest.raises(PermissionDenied, match="grace \\(physician\\) may not unlock accounts"):
        unlock_user(db, "ada", actor=grace)
    assert account(db).locked_until is not None


# -- password rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("1234567", "must be at least 8 characters"),
        ("password", "is one of the most common passwords: choose another"),
        (" Password1 ", "is one of the most common passwords: choose another"),
        ("QWERTYUIOP", "is one of the most common passwords: choose another"),
        ("aaaaaaaaaaaa", "must not be one character repeated"),
        ("Ada.Lovelace", "must not be the username"),
        ("x" * 1025, "must be at most 1024 characters"),
    ],
)
def test_it_names_what_is_wrong_with_a_password(password: str, problem: str) -> None:
    assert password_problem(password, "ada.lovelace") == problem


@pytest.mark.parametrize("password", ["12345678a", "xy" * 512, "abcdefgh!", "il2-demo"])
def test_it_accepts_a_password_that_breaks_no_rule(password: str) -> None:
    assert password_problem(password, "ada") is None


# -- what admins do to accounts --------------------------------------------------------------


def test_a_disabled_account_cannot_sign_in_and_an_enabled_one_can(
    db: Database, ada: SignedIn, root: SignedIn
) -> None:
    set_active(db, "ada", False, actor=root, reason="left the ward")
    assert authenticate(db, "ada", ADA_PASSWORD, now=T0) is None
    (event,) = events(db, "disable")
    assert (event.before, event.after, event.reason) == (
        {"active": True, "failed_attempts": 0, "locked_until": None, "sso_subject": None},
        {"active": False, "failed_attempts": 0, "locked_until": None, "sso_subject": None},
        "left the ward",
    )
    set_active(db, "ada", True, actor=root)
    assert authenticate(db, "ada", ADA_PASSWORD, now=T0) is not None


def test_a_disabled_account_can_no_longer_act(db: Database, ada: SignedIn, root: SignedIn) -> None:
    set_active(db, "ada", False, actor=root)
    with pytest.raises(PermissionDenied, match="'ada' is not active"):
        sign_out_idle(db, ada, {})


def test_an_admin_cannot_disable_their_own_account(db: Database, root: SignedIn) -> None:
    with pytest.raises(Refused) as refused:
        set_active(db, "root", False, actor=root)
    assert refused.value.errors == {"username": "you cannot disable your own account"}
    assert account(db, "root").active


def test_disabling_a_disabled_account_writes_nothing(
    db: Database, ada: SignedIn, root: SignedIn
) -> None:
    set_active(db, "ada", False, actor=root)
    set_active(db, "ada", False, actor=root)
    assert len(events(db, "disable")) == 1


@pytest.mark.parametrize("username", ["nobody", ""])
def test_it_refuses_to_change_an_account_that_does_not_exist(
    db: Database, root: SignedIn, username: str
) -> None:
    with pytest.raises(Refused) as refused:
        set_active(db, username, False, actor=root)
    assert refused.value.field == "username"


def test_a_reset_password_replaces_the_old_one_and_ends_a_lock(
    db: Database, ada: SignedIn, root: SignedIn
) -> None:
    fail(db, 5)
    reset_password(db, "ada", "a-brand-new-secret", actor=root, reason="forgot it")
    assert authenticate(db, "ada", ADA_PASSWORD, now=T0) is None
    assert authenticate(db, "ada", "a-brand-new-secret", now=T0) is not None
    (event,) = events(db, "reset_password")
    assert event.after is not None and event.after["password"] == "reset"
    assert "a-brand-new-secret" not in str(event.after) + str(event.before)


def test_a_reset_password_follows_the_password_rules(
    db: Database, ada: SignedIn, root: SignedIn
) -> None:
    with pytest.raises(Refused) as refused:
        reset_password(db, "ada", "ada", actor=root)
    assert refused.value.errors == {"password": "must be at least 8 characters"}
    assert authenticate(db, "ada", ADA_PASSWORD, now=T0) is not None


@pytest.mark.parametrize("change", ["disable", "reset", "sso"])
def test_a_nurse_may_not_change_accounts(
    db: Database, ada: SignedIn, grace: SignedIn, change: str
) -> None:
    with pytest.raises(PermissionDenied, match="ada \\(nurse\\) may not"):
        if change == "disable":
            set_active(db, "grace", False, actor=ada)
        elif change == "reset":
            reset_password(db, "grace", "taken-over-123", actor=ada)
        else:
            set_sso_subject(db, "grace", "ada@example.org", actor=ada)
    assert authenticate(db, "grace", "grace-hopper-1906", now=T0) is not None


def test_a_system_account_has_no_sign_in_to_change(db: Database, root: SignedIn) -> None:
    from il2_tox.services import import_course
    from tests.builders import CourseBuilder

    import_course(db, CourseBuilder().build(), recorded_by="import")
    with pytest.raises(Refused, match="system account"):
        reset_password(db, "import", "now-i-can-sign-in", actor=root)


def test_the_database_refuses_to_delete_an_account(db: Database, ada: SignedIn) -> None:
    with (
        pytest.raises(IntegrityError, match="never deleted"),
        db.write_session() as session,
    ):
        session.execute(text("DELETE FROM users WHERE username = 'ada'"))
    assert [user.username for user in list_users(db)] == ["ada"]


def test_postgresql_refuses_to_truncate_the_accounts(
    db: Database, ada: SignedIn, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    with (
        pytest.raises(IntegrityError, match="never deleted"),
        db.write_session() as session,
    ):
        session.execute(text("TRUNCATE users CASCADE"))
    assert [user.username for user in list_users(db)] == ["ada"]


# -- the command line --------------------------------------------------------------------------


@pytest.fixture
def cli_database(db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("IL2TOX_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setattr("getpass.getuser", lambda: "ops")
    return db


def test_user_disable_enable_unlock_reset_and_sso_from_the_command_line(
    cli_database: Database,
    ada: SignedIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = cli_database
    assert main(["user", "disable", "ada", "--reason", "on leave"]) == 0
    assert capsys.readouterr().out == "ada (nurse): disabled\n"
    assert main(["user", "enable", "ada"]) == 0
    assert capsys.readouterr().out == "ada (nurse): active\n"
    fail(db, 5, at=datetime.now(UTC))
    assert main(["user", "unlock", "ada"]) == 0
    assert capsys.readouterr().out == "ada (nurse): active\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("a-brand-new-secret\n"))
    assert main(["user", "reset", "ada", "--password-stdin"]) == 0
    assert capsys.readouterr().out == "ada: password reset\n"
    assert authenticate(db, "ada", "a-brand-new-secret") is not None
    assert main(["user", "sso", "ada", "Ada@Example.org"]) == 0
    assert capsys.readouterr().out == "ada (nurse): active, sign-on ada@example.org\n"
    assert main(["user", "sso", "ada", "--clear"]) == 0
    assert capsys.readouterr().out == "ada (nurse): active\n"
    actors = {
        event.actor
        for action in ("disable", "enable", "unlock", "reset_password", "map_sso")
        for event in events(db, action)
    }
    assert actors == {"cli:ops"}


def test_user_reset_refuses_a_weak_password_with_one_line(
    cli_database: Database,
    ada: SignedIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("password123\n"))
    assert main(["user", "reset", "ada", "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert err == "password: is one of the most common passwords: choose another\n"


def test_user_disable_of_an_unknown_account_exits_2(
    cli_database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["user", "disable", "nobody"]) == 2
    assert capsys.readouterr().err == "username: no account 'nobody'\n"


def test_there_is_no_command_to_delete_an_account(cli_database: Database) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["user", "delete", "ada"])
    assert exit_.value.code == 2


# -- single sign-on ----------------------------------------------------------------------------


def test_it_maps_an_identity_by_sub_then_by_verified_email() -> None:
    assert sso_identities({"sub": "00u1", "email": "Ada@Example.org"}) == [
        "00u1",
        "ada@example.org",
    ]
    assert sso_identities({"sub": "00u1", "email": "a@x.org", "email_verified": False}) == ["00u1"]
    assert sso_identities({"email": "a@x.org", "email_verified": True}) == ["a@x.org"]
    assert sso_identities({"sub": "  ", "email": None}) == []


def test_a_mapped_identity_signs_in_as_its_account_with_its_role(
    db: Database, ada: SignedIn, root: SignedIn
) -> None:
    set_sso_subject(db, "ada", "ada@example.org", actor=root)
    user = sso_sign_in(db, {"sub": "idp-123", "email": "ADA@example.org"}, now=T0)
    assert user == ada
    event = events(db, "sign_in")[-1]
    assert (event.actor, event.reason) == ("ada", "single sign-on")


def test_an_unmapped_identity_is_refused_and_audited(db: Database, ada: SignedIn) -> None:
    assert sso_sign_in(db, {"sub": "idp-999", "email": "eve@example.org"}, now=T0) is None
    event = events(db, "sign_in_failed")[-1]
    assert event.reason == "single sign-on: no account for this identity"
    assert event.after == {"sso_identities": ["idp-999", "eve@example.org"]}


def test_an_unverified_email_does_not_sign_in(db: Database, ada: SignedIn, root: SignedIn) -> None:
    set_sso_subject(db, "ada", "ada@example.org", actor=root)
    claims = {"sub": "idp-1", "email": "ada@example.org", "email_verified": False}
    assert sso_sign_in(db, claims, now=T0) is None


def test_a_disabled_or_locked_account_cannot_sign_in_by_sso(
    db: Database, ada: SignedIn, root: SignedIn
) -> None:
    set_sso_subject(db, "ada", "idp-ada", actor=root)
    fail(db, 5)
    assert sso_sign_in(db, {"sub": "idp-ada"}, now=T0 + timedelta(minutes=1)) is None
    assert sso_sign_in(db, {"sub": "idp-ada"}, now=T0 + LOCKOUT_PERIOD) is not None
    set_active(db, "ada", False, actor=root)
    assert sso_sign_in(db, {"sub": "idp-ada"}, now=T0 + LOCKOUT_PERIOD) is None
    assert events(db, "sign_in_failed")[-1].reason == "single sign-on: account inactive"


def test_one_identity_maps_to_one_account(
    db: Database, ada: SignedIn, grace: SignedIn, root: SignedIn
) -> None:
    set_sso_subject(db, "ada", "shared@example.org", actor=root)
    with pytest.raises(Refused) as refused:
        set_sso_subject(db, "grace", "Shared@Example.org", actor=root)
    assert refused.value.errors == {"sso_subject": "is already mapped to 'ada'"}


# -- idle timeout and drafts ---------------------------------------------------------------------


def test_the_idle_timeout_is_15_minutes_unless_configured() -> None:
    assert idle_timeout({}) == timedelta(minutes=15)
    assert idle_timeout({"IL2TOX_IDLE_MINUTES": " 5 "}) == timedelta(minutes=5)


@pytest.mark.parametrize("value", ["0", "-3", "721", "ten", "1.5"])
def test_a_bad_idle_timeout_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="IL2TOX_IDLE_MINUTES"):
        idle_timeout({"IL2TOX_IDLE_MINUTES": value})


def test_a_session_is_still_active_at_14_59_and_expired_at_15_00() -> None:
    timeout = timedelta(minutes=15)
    assert not idle_expired(T0, T0 + timedelta(minutes=14, seconds=59), timeout)
    assert idle_expired(T0, T0 + timedelta(minutes=15), timeout)


FORM = {
    "entry.obs.7.0.8480-6": 88.5,
    "entry.obs.7.0.8867-4": 112,
    "entry.obs.7.0.date": date(2026, 11, 27),
    "entry.obs.7.0.time": time(2, 55),
    "entry.dose.7.0.reason": "SBP 84: <b>held</b>",
    "entry.dose.7.0.status": None,
    "entry.gen.obs.7": 0,
    "entry.key.obs.7.0": "3f2a",
    "admit.0.history.systemic_steroids": True,
}


def test_what_the_forms_held_comes_back_to_the_same_user_exactly(
    db: Database, ada: SignedIn
) -> None:
    contents, skipped = encode_draft({**FORM, "entry.result.obs.7": object()})
    assert skipped == ["entry.result.obs.7"]
    assert sign_out_idle(db, ada, contents, now=T0) == len(FORM)
    assert take_draft(db, ada) == FORM
    assert take_draft(db, ada) is None  # given back once
    (event,) = [e for e in events(db, "sign_out") if e.reason == "idle timeout"]
    assert event.after == {"draft_values": len(FORM)}


def test_a_draft_is_never_given_to_another_user(
    db: Database, ada: SignedIn, grace: SignedIn
) -> None:
    sign_out_idle(db, ada, encode_draft(FORM)[0], now=T0)
    assert take_draft(db, grace) is None
    assert take_draft(db, ada) == FORM


def test_a_second_idle_sign_out_replaces_the_draft(db: Database, ada: SignedIn) -> None:
    sign_out_idle(db, ada, encode_draft(FORM)[0], now=T0)
    sign_out_idle(db, ada, encode_draft({"entry.obs.7.0.8480-6": 91.0})[0], now=T0)
    assert take_draft(db, ada) == {"entry.obs.7.0.8480-6": 91.0}


def test_a_draft_that_is_not_form_values_is_refused(db: Database, ada: SignedIn) -> None:
    with pytest.raises(Refused) as refused:
        sign_out_idle(db, ada, {"entry.x": {"t": "eval", "v": "__import__('os')"}})
    assert refused.value.field == "draft"
    assert take_draft(db, ada) is None


def test_a_signed_out_visitor_gets_no_draft(db: Database) -> None:
    with pytest.raises(PermissionDenied):
        take_draft(db, None)  # type: ignore[arg-type]


SAVE_SET = "Pre-dose observations (Save set)"


def test_a_submission_after_the_timeout_comes_back_marked_not_saved(
    db: Database, ada: SignedIn
) -> None:
    contents = encode_draft(FORM)[0]
    kept = sign_out_idle(
        db, ada, contents, unsaved=[SAVE_SET], timeout=timedelta(minutes=5), now=T0
    )
    assert kept == len(FORM)
    (signed_out,) = [e for e in events(db, "sign_out") if e.reason == "idle timeout"]
    assert signed_out.after == {"draft_values": len(FORM), "unsaved": [SAVE_SET]}
    taken = take_draft(db, ada)
    assert taken is not None
    assert split_draft(taken) == (FORM, [SAVE_SET], 5)
    (restored,) = events(db, "restore_draft")
    assert restored.after is not None
    assert (restored.after["draft_values"], restored.after["unsaved"]) == (len(FORM), [SAVE_SET])


def test_a_submission_after_the_timeout_is_kept_even_with_no_values(
    db: Database, ada: SignedIn
) -> None:
    """An acknowledgement pressed with an empty reason: the user is still told it was not
    saved."""
    assert sign_out_idle(db, ada, {}, unsaved=["Flag acknowledgement (Acknowledge)"]) == 0
    taken = take_draft(db, ada)
    assert taken is not None
    assert split_draft(taken) == ({}, ["Flag acknowledgement (Acknowledge)"], 15)


def test_a_form_pressed_twice_after_the_timeout_is_named_once(db: Database, ada: SignedIn) -> None:
    sign_out_idle(db, ada, {}, unsaved=[SAVE_SET, "Correction", SAVE_SET])
    taken = take_draft(db, ada)
    assert taken is not None
    assert split_draft(taken)[1] == [SAVE_SET, "Correction"]


def test_an_unsaved_submission_is_never_given_to_another_user(
    db: Database, ada: SignedIn, grace: SignedIn
) -> None:
    sign_out_idle(db, ada, encode_draft(FORM)[0], unsaved=[SAVE_SET])
    assert take_draft(db, grace) is None
    taken = take_draft(db, ada)
    assert taken is not None and split_draft(taken)[1] == [SAVE_SET]


def test_a_form_value_under_the_reserved_names_is_refused(db: Database, ada: SignedIn) -> None:
    with pytest.raises(Refused) as refused:
        sign_out_idle(db, ada, {UNSAVED: encode_value(["Admission (Admit patient)"])})
    assert refused.value.field == "draft"
    assert take_draft(db, ada) is None
    assert [e for e in events(db, "sign_out") if e.reason == "idle timeout"] == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "Save\x00set"])
def test_a_form_name_that_is_no_name_is_refused(db: Database, ada: SignedIn, name: str) -> None:
    with pytest.raises(Refused) as refused:
        sign_out_idle(db, ada, encode_draft(FORM)[0], unsaved=[name])
    assert refused.value.field == "unsaved"
    assert take_draft(db, ada) is None


# -- the migration -----------------------------------------------------------------------------


def test_migration_0002_goes_down_to_0001_and_up_again_keeping_accounts(
    db: Database, ada: SignedIn
) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from il2_tox.store import alembic_config, current_revision, head_revision, make_engine

    engine = make_engine(db.url)
    try:
        with engine.connect() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
            connection.commit()
            assert "form_drafts" not in inspect(connection).get_table_names()
            columns = {c["name"] for c in inspect(connection).get_columns("users")}
            assert "failed_attempts" not in columns
    finally:
        engine.dispose()
    migrate(db.url)
    assert current_revision(db) == head_revision()
    assert account(db).failed_attempts == 0
    assert authenticate(db, "ada", ADA_PASSWORD, now=T0) is not None


def test_user_list_shows_a_locked_account(
    cli_database: Database, ada: SignedIn, capsys: pytest.CaptureFixture[str]
) -> None:
    at = datetime.now(UTC).replace(microsecond=0)
    fail(cli_database, 5, at=at)
    assert main(["user", "list"]) == 0
    until = (at + LOCKOUT_PERIOD).isoformat()
    assert capsys.readouterr().out.split() == [
        "ada",
        "nurse",
        "Ada",
        "Nurse",
        "(locked",
        "until",
        f"{until})",
    ]


def test_failed_sign_ins_at_the_same_moment_all_count(db: Database, ada: SignedIn) -> None:
    """Five wrong passwords typed at once (five threads) lock the account: none is lost."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda _: authenticate(db, "ada", "wrong", now=T0), range(5)))
    assert results == [None] * 5
    assert account(db).failed_attempts == 5
    assert account(db).locked_until == T0 + LOCKOUT_PERIOD
    assert len(events(db, "lock")) == 1
