"""Accounts and sign-in: argon2id hashes only, every sign-in audited, the command line's rules.

Personas: Ada (nurse), Grace (physician), Root (admin).
"""

from __future__ import annotations

import io

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from il2_tox.__main__ import main
from il2_tox.services import users
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.users import (
    SignedIn,
    SystemActor,
    add_user,
    authenticate,
    list_users,
    record_sign_out,
)
from il2_tox.store import Database
from il2_tox.store.models import AuditEvent, User
from tests.builders import CourseBuilder
from tests.integration.db_text import all_stored_text

CLI = SystemActor("cli:test")
ADA_PASSWORD = "correct horse battery"
GRACE_PASSWORD = "grace-hopper-1906"


@pytest.fixture
def ada(db: Database) -> SignedIn:
    """Add Ada, a nurse, and return her signed in."""
    add_user(db, "ada", "nurse", ADA_PASSWORD, "Ada Nurse", actor=CLI)
    signed_in = authenticate(db, "ada", ADA_PASSWORD)
    assert signed_in is not None
    return signed_in


@pytest.fixture
def root(db: Database) -> SignedIn:
    """Add Root, an admin, and return them signed in."""
    add_user(db, "root", "admin", "root-password-1", actor=CLI)
    signed_in = authenticate(db, "root", "root-password-1")
    assert signed_in is not None
    return signed_in


def audit(db: Database, action: str | None = None) -> list[AuditEvent]:
    with db.read_session() as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(session.scalars(query))


def stored_user(db: Database, username: str) -> User:
    with db.read_session() as session:
        return session.scalars(select(User).where(User.username == username)).one()


# -- adding accounts -----------------------------------------------------------------------------


def test_a_new_account_can_sign_in_with_its_role_and_name(db: Database) -> None:
    add_user(db, "grace", "physician", GRACE_PASSWORD, "Grace Hopper", actor=CLI)
    signed_in = authenticate(db, "grace", GRACE_PASSWORD)
    assert signed_in is not None
    assert (signed_in.username, signed_in.role, signed_in.display_name) == (
        "grace",
        "physician",
        "Grace Hopper",
    )


def test_it_stores_an_argon2id_hash_and_never_the_password(db: Database) -> None:
    add_user(db, "grace", "physician", GRACE_PASSWORD, actor=CLI)
    password_hash = stored_user(db, "grace").password_hash
    assert password_hash is not None
    assert password_hash.startswith("$argon2id$")
    assert GRACE_PASSWORD not in all_stored_text(db)


def test_the_username_is_stored_in_lower_case_and_the_display_name_defaults_to_it(
    db: Database,
) -> None:
    summary = add_user(db, " Grace ", "physician", GRACE_PASSWORD, actor=CLI)
    assert (summary.username, summary.display_name) == ("grace", "grace")
    assert authenticate(db, "GRACE", GRACE_PASSWORD) is not None


def test_it_refuses_a_username_that_is_taken_whatever_its_case(db: Database) -> None:
    add_user(db, "grace", "physician", GRACE_PASSWORD, actor=CLI)
    with pytest.raises(Refused) as refused:
        add_user(db, "Grace", "nurse", "another-password", actor=CLI)
    assert refused.value.errors == {"username": "'grace' already exists"}


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "must be at least 8 characters"),
        ("grace", "must be at least 8 characters"),
        ("gracehopper", "must not be the username"),
        ("GraceHopper", "must not be the username"),
    ],
)
def test_it_refuses_a_weak_password_naming_the_field(
    db: Database, password: str, message: str
) -> None:
    with pytest.raises(Refused) as refused:
        add_user(db, "gracehopper", "physician", password, actor=CLI)
    assert refused.value.errors == {"password": message}
    assert list_users(db) == []


@pytest.mark.parametrize("role", ["system", "surgeon", ""])
def test_it_refuses_a_role_a_person_cannot_hold(db: Database, role: str) -> None:
    with pytest.raises(Refused) as refused:
        add_user(db, "grace", role, GRACE_PASSWORD, actor=CLI)
    assert refused.value.field == "role"


@pytest.mark.parametrize("username", ["", "   ", "grace hopper", "grâce", "x" * 65, "-grace"])
def test_it_refuses_a_username_it_cannot_store_cleanly(db: Database, username: str) -> None:
    with pytest.raises(Refused) as refused:
        add_user(db, username, "nurse", "long-enough-password", actor=CLI)
    assert refused.value.field == "username"


def test_it_names_every_bad_field_at_once(db: Database) -> None:
    with pytest.raises(Refused) as refused:
        add_user(db, "bad name", "surgeon", "short", "x" * 201, actor=CLI)
    assert set(refused.value.errors) == {"username", "role", "password", "display_name"}


def test_only_an_admin_may_add_accounts_from_the_dashboard(
    db: Database, ada: SignedIn, root: SignedIn
) -> None:
    with pytest.raises(PermissionDenied, match=r"ada \(nurse\) may not add accounts"):
        add_user(db, "mallory", "physician", "mallory-password", actor=ada)
    added = add_user(db, "grace", "physician", GRACE_PASSWORD, actor=root)
    assert added.role == "physician"
    assert audit(db, "add")[-1].actor == "root"


def test_adding_an_account_is_audited_without_the_password_or_hash(db: Database) -> None:
    added = add_user(db, "grace", "physician", GRACE_PASSWORD, "Grace Hopper", actor=CLI)
    (event,) = audit(db, "add")
    assert (event.actor, event.entity, event.entity_id) == ("cli:test", "user", str(added.user_id))
    assert event.after == {
        "username": "grace",
        "display_name": "Grace Hopper",
        "role": "physician",
        "active": True,
    }


def test_the_account_and_its_audit_entry_are_written_together(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(users, "record_event", broken_audit)
    with pytest.raises(RuntimeError):
        add_user(db, "grace", "physician", GRACE_PASSWORD, actor=CLI)
    assert list_users(db) == []


def test_it_lists_accounts_by_name_with_system_users(db: Database, ada: SignedIn) -> None:
    from il2_tox.services import import_course

    import_course(db, CourseBuilder().build(), recorded_by="import")
    listed = [(u.username, u.role, u.active) for u in list_users(db)]
    assert listed == [("ada", "nurse", True), ("import", "system", False)]


# -- signing in -----------------------------------------------------------------------------------


def test_a_sign_in_is_audited(db: Database, ada: SignedIn) -> None:
    (event,) = audit(db, "sign_in")
    assert (event.actor, event.entity, event.entity_id) == ("ada", "user", str(ada.user_id))


def test_a_wrong_password_does_not_sign_in_and_is_audited(db: Database, ada: SignedIn) -> None:
    assert authenticate(db, "ada", "not her password") is None
    (event,) = audit(db, "sign_in_failed")
    assert (event.actor, event.reason) == ("ada", "wrong password")


def test_an_unknown_name_is_audited_without_what_was_typed(db: Database) -> None:
    assert authenticate(db, "hunter2-typed-in-the-wrong-box", "x") is None
    (event,) = audit(db, "sign_in_failed")
    assert (event.actor, event.entity_id, event.reason) == (
        "(unknown user)",
        None,
        "unknown username",
    )
    assert "hunter2" not in all_stored_text(db)


def test_an_inactive_account_cannot_sign_in(db: Database, ada: SignedIn) -> None:
    with db.write_session() as session:
        session.scalars(select(User).where(User.username == "ada")).one().active = False
    assert authenticate(db, "ada", ADA_PASSWORD) is None
    assert audit(db, "sign_in_failed")[-1].reason == "account inactive"


def test_a_system_user_can_never_sign_in(db: Database) -> None:
    from il2_tox.services import import_course

    import_course(db, CourseBuilder().build(), recorded_by="import")
    assert authenticate(db, "import", "") is None
    assert authenticate(db, "import", "anything at all") is None
    assert audit(db, "sign_in_failed")[-1].reason == "system account: cannot sign in"


def test_an_unknown_name_is_checked_against_a_dummy_hash(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So that "no such user" takes about as long as "wrong password"."""
    checked: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            checked.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(users, "HASHER", CountingHasher(time_cost=1, memory_cost=1024))
    assert authenticate(db, "nobody", "some password") is None
    assert len(checked) == 1
    assert checked[0].startswith("$argon2id$")


def test_a_hash_made_at_an_older_cost_is_replaced_on_sign_in(
    db: Database, ada: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = stored_user(db, "ada").password_hash
    monkeypatch.setattr(users, "HASHER", PasswordHasher(time_cost=2, memory_cost=2048))
    assert authenticate(db, "ada", ADA_PASSWORD) is not None
    after = stored_user(db, "ada").password_hash
    assert after != before
    assert after is not None and "m=2048,t=2" in after
    assert authenticate(db, "ada", ADA_PASSWORD) is not None


def test_a_sign_out_is_audited(db: Database, ada: SignedIn) -> None:
    record_sign_out(db, ada)
    assert audit(db)[-1].action == "sign_out"
    assert audit(db)[-1].actor == "ada"


def test_no_password_is_in_the_audit_log_or_the_database(db: Database, ada: SignedIn) -> None:
    authenticate(db, "ada", "a wrong guess 123")
    authenticate(db, "nobody", "another guess 456")
    stored = all_stored_text(db)
    for password in (ADA_PASSWORD, "a wrong guess 123", "another guess 456"):
        assert password not in stored


# -- the command line ----------------------------------------------------------------------------


@pytest.fixture
def cli_database(db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("IL2TOX_DATABASE_URL", db.url.render_as_string(hide_password=False))
    return db


def test_user_add_reads_the_password_from_stdin_for_scripts(
    cli_database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(GRACE_PASSWORD + "\n"))
    code = main(
        ["user", "add", "grace", "--role", "physician", "--name", "Grace H", "--password-stdin"]
    )
    assert code == 0
    assert capsys.readouterr().out == "added grace (physician): Grace H\n"
    assert authenticate(cli_database, "grace", GRACE_PASSWORD) is not None


def test_user_add_asks_for_the_password_twice(
    cli_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([GRACE_PASSWORD, GRACE_PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["user", "add", "grace", "--role", "physician"]) == 0
    assert authenticate(cli_database, "grace", GRACE_PASSWORD) is not None


def test_user_add_refuses_two_different_entries(
    cli_database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter([GRACE_PASSWORD, GRACE_PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["user", "add", "grace", "--role", "physician"]) == 2
    assert capsys.readouterr().err == "password: the two entries differ\n"
    assert list_users(cli_database) == []


@pytest.mark.parametrize(
    ("arguments", "password", "line"),
    [
        (["--role", "surgeon"], GRACE_PASSWORD, "role: 'surgeon' is not one of"),
        (["--role", "nurse"], "short", "password: must be at least 8 characters"),
        (["--role", "nurse"], "grace", "password: must be at least 8 characters"),
    ],
)
def test_user_add_exits_2_with_one_line_naming_the_field(
    cli_database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    password: str,
    line: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    assert main(["user", "add", "grace", *arguments, "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(line)
    assert err.count("\n") == 1
    assert password not in err


def test_user_add_never_takes_the_password_as_an_argument(cli_database: Database) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["user", "add", "grace", "--role", "nurse", "--password", GRACE_PASSWORD])
    assert exit_.value.code == 2
    assert list_users(cli_database) == []


def test_user_list_shows_each_account_and_its_role(
    cli_database: Database, ada: SignedIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["user", "list"]) == 0
    out = capsys.readouterr().out
    assert out.split() == ["ada", "nurse", "Ada", "Nurse"]
    assert "argon2" not in out


def test_the_demo_creates_its_three_accounts_once(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    from il2_tox.commands.demo import DEMO_PASSWORD, _add_demo_accounts

    _add_demo_accounts(db)
    _add_demo_accounts(db)
    assert [(u.username, u.role) for u in list_users(db)] == [
        ("admin", "admin"),
        ("nurse", "nurse"),
        ("physician", "physician"),
    ]
    for username in ("nurse", "physician", "admin"):
        assert authenticate(db, username, DEMO_PASSWORD) is not None
    assert "account nurse: already exists; left as it is" in capsys.readouterr().out
