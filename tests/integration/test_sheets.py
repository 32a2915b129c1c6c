"""Exporting the sheets from the database (il2_tox.services.sheets) and from the command line,
on SQLite and PostgreSQL: who may, what the audit log keeps, what is refused."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select, update

from il2_tox.__main__ import main
from il2_tox.rules.base import HR, RR, SBP
from il2_tox.services.bedside import acknowledge_flag
from il2_tox.services.course_io import import_course
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.sheets import build_handoffs, export_handoff, export_vitals
from il2_tox.services.users import SignedIn, SystemActor, add_user, authenticate
from il2_tox.sheets.handoff import UNSTABLE
from il2_tox.store import Database
from il2_tox.store import models as m
from tests.builders import ADMITTED, CourseBuilder

NOW = ADMITTED + timedelta(hours=12)
PASSWORD = "sheets-test-password"


def hypotensive(patient_id: str, bed: str) -> CourseBuilder:
    builder = CourseBuilder(patient_id=patient_id, usual_sbp=118).dose(1, 1, at=2)
    builder.doc["admission"]["bed"] = bed
    builder.obs(SBP, 78, "mm[Hg]", at=9).obs(HR, 96, "/min", at=9)
    # Tachycardia > 130 (critical) and a NEWS2 of 7 (warning) at 16:00.
    return (
        builder.obs(SBP, 78, "mm[Hg]", at=10).obs(HR, 135, "/min", at=10).obs(RR, 26, "/min", at=10)
    )


def steady(patient_id: str, bed: str) -> CourseBuilder:
    builder = CourseBuilder(patient_id=patient_id, usual_sbp=118).dose(1, 1, at=2)
    builder.doc["admission"]["bed"] = bed
    return builder.obs(SBP, 112, "mm[Hg]", at=9).obs(HR, 84, "/min", at=9)


@pytest.fixture
def ward(db: Database) -> Database:
    import_course(db, steady("MRN-STEADY", "1").build())
    import_course(db, hypotensive("MRN-LOW", "2").build())
    for role in ("nurse", "physician", "admin"):
        add_user(db, role, role, PASSWORD, f"Test {role}", actor=SystemActor("test"))
    return db


def signed_in(db: Database, username: str) -> SignedIn:
    user = authenticate(db, username, PASSWORD)
    assert user is not None
    return user


def exports(db: Database) -> list[m.AuditEvent]:
    """Return every export entry: the sheets' own and any plain `export` (there must be none)."""
    with db.read_session() as session:
        return list(
            session.scalars(
                select(m.AuditEvent)
                .where(m.AuditEvent.action.like("export%"))
                .order_by(m.AuditEvent.id)
            )
        )


def test_a_nurse_exports_the_ward_handoff_and_the_audit_log_keeps_its_fingerprint(
    ward: Database,
) -> None:
    export = export_handoff(ward, signed_in(ward, "nurse"), now=NOW, tz=UTC)
    assert export.media_type == "application/pdf"
    assert export.filename == "handoff-ward-20261120T1800Z.pdf"
    assert export.patients == ("MRN-LOW", "MRN-STEADY")  # unstable first
    (event,) = exports(ward)
    assert (event.id, event.actor, event.action) == (export.audit_id, "nurse", "export_handoff")
    assert (event.entity, event.entity_id) == ("ward", None)
    assert event.after is not None
    assert event.after["patients"] == ["MRN-LOW", "MRN-STEADY"]
    assert event.after["sha256"] == hashlib.sha256(export.data).hexdigest()
    assert event.after["bytes"] == len(export.data)
    assert event.after["page_size"] == "A4"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(export.data)).pages)
    assert "MRN-LOW" in text and "MRN-STEADY" in text


def test_one_patients_handoff_names_that_patient_only(ward: Database) -> None:
    export = export_handoff(
        ward, signed_in(ward, "physician"), patient_id="MRN-LOW", now=NOW, tz=UTC
    )
    assert export.patients == ("MRN-LOW",)
    (event,) = exports(ward)
    assert (event.entity, event.entity_id, event.actor) == ("patient", "MRN-LOW", "physician")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(export.data)).pages)
    assert "MRN-STEADY" not in text
    assert UNSTABLE.upper() in text


def test_the_page_size_is_recorded_by_its_own_name(ward: Database) -> None:
    export_handoff(ward, signed_in(ward, "nurse"), now=NOW, tz=UTC, page_size=" LETTER")
    (event,) = exports(ward)
    assert event.after is not None and event.after["page_size"] == "letter"


def test_an_admin_may_export_too(ward: Database) -> None:
    export_vitals(ward, signed_in(ward, "admin"), patient_id="MRN-LOW", fmt="csv", now=NOW, tz=UTC)
    assert [e.actor for e in exports(ward)] == ["admin"]


def test_signed_out_or_inactive_accounts_export_nothing(ward: Database) -> None:
    nurse = signed_in(ward, "nurse")
    with pytest.raises(PermissionDenied, match="Not signed in"):
        export_handoff(ward, None, now=NOW, tz=UTC)
    with ward.write_session() as session:
        session.execute(update(m.User).where(m.User.username == "nurse").values(active=False))
    with pytest.raises(PermissionDenied, match="not active"):
        export_vitals(ward, nurse, patient_id="MRN-LOW", now=NOW, tz=UTC)
    assert exports(ward) == []


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"patient_id": "NOPE"}, "patient", "no patient NOPE in the database"),
        ({"patient_id": "MRN-LOW", "cycle": 2}, "cycle", "cycle 2 is not in MRN-LOW's course"),
        ({"patient_id": "MRN-LOW", "page_size": "A5"}, "page_size", "'A5' is not one of"),
        ({"patient_id": "MRN-LOW", "fmt": "xlsx"}, "format", "'xlsx' is not csv or pdf"),
    ],
)
def test_bad_vitals_requests_are_refused_by_field_and_not_audited(
    ward: Database, kwargs: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(Refused) as refused:
        export_vitals(ward, signed_in(ward, "nurse"), now=NOW, tz=UTC, **kwargs)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert message in refused.value.errors[field]
    assert exports(ward) == []


def test_a_discharged_patient_has_no_handoff(ward: Database) -> None:
    with ward.write_session() as session:
        session.execute(
            update(m.Admission).values(discharged_at=datetime(2026, 11, 21, tzinfo=UTC))
        )
    with pytest.raises(Refused, match="MRN-LOW has no current admission"):
        export_handoff(ward, signed_in(ward, "nurse"), patient_id="MRN-LOW", now=NOW, tz=UTC)
    export = export_handoff(ward, signed_in(ward, "nurse"), now=NOW, tz=UTC)
    assert export.patients == ()


def test_the_vitals_csv_export_records_cycle_and_rows(ward: Database) -> None:
    export = export_vitals(
        ward, signed_in(ward, "nurse"), patient_id="MRN-LOW", fmt="csv", now=NOW, tz=UTC
    )
    rows = list(csv.reader(io.StringIO(export.data.decode("utf-8"))))
    assert rows[0][:5] == ["time", "dose", "flags", "Temp (°C)", "HR (/min)"]
    assert len(rows) == 4  # dose 1, then the sets at 15:00 and 16:00
    (event,) = exports(ward)
    assert event.after is not None
    assert (event.after["format"], event.after["cycle"], event.after["rows"]) == ("csv", 1, 3)
    assert event.after["page_size"] is None


def test_a_physicians_acknowledgement_shows_on_the_handoff_and_closes_the_todo(
    ward: Database,
) -> None:
    (before,) = build_handoffs(ward, NOW, _rules(), "MRN-LOW")
    critical = next(f for f in before.flags if f.severity == "critical")
    assert critical.code in [t.key for t in before.todos]
    admission_id = _admission_id(ward, "MRN-LOW")
    acknowledge_flag(
        ward,
        admission_id,
        critical.code,
        critical.time,
        signed_in(ward, "physician"),
        "fluids running, reviewed at bedside",
    )
    (after,) = build_handoffs(ward, datetime.now(UTC), _rules(), "MRN-LOW")
    assert critical.code not in [t.key for t in after.todos]
    ack = after.acknowledged[(critical.code, critical.time)]
    assert (ack.by, ack.reason) == ("Test physician", "fluids running, reviewed at bedside")


def _rules():  # type: ignore[no-untyped-def]
    from il2_tox.rules.config import load_rules

    return load_rules()


def _admission_id(db: Database, mrn: str) -> int:
    with db.read_session() as session:
        return session.scalars(
            select(m.Admission.id).join(m.Patient).where(m.Patient.mrn == mrn)
        ).one()


# ---------------------------------------------------------------------------------------------
# The command line


@pytest.fixture
def cli_ward(ward: Database, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("IL2TOX_DATABASE_URL", database_url)
    monkeypatch.delenv("IL2TOX_TIMEZONE", raising=False)
    return ward


def test_the_handoff_command_writes_the_ward_pdf_and_audits_it_as_the_cli(
    cli_ward: Database, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    out = f"{tmp_path}/ward.pdf"
    assert main(["handoff", "--ward", "--out", out, "--now", NOW.isoformat()]) == 0
    assert capsys.readouterr().out.startswith(f"{out}: handoff of 2 patient(s)")
    with open(out, "rb") as handle:
        assert len(PdfReader(handle).pages) >= 3  # the list, then a section per patient
    (event,) = exports(cli_ward)
    assert event.actor.startswith("cli")


def test_the_vitals_command_writes_csv_or_pdf_by_the_file_name(
    cli_ward: Database, tmp_path: object
) -> None:
    assert main(["vitals", "--patient", "MRN-LOW", "--out", f"{tmp_path}/v.csv"]) == 0
    assert main(["vitals", "--patient", "MRN-LOW", "--out", f"{tmp_path}/v.pdf"]) == 0
    with open(f"{tmp_path}/v.pdf", "rb") as handle:
        assert handle.read(5) == b"%PDF-"
    assert [e.after["format"] for e in exports(cli_ward) if e.after] == ["csv", "pdf"]


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["handoff", "--patient", "NOPE"], "--patient: no patient NOPE in the database"),
        (["vitals", "--patient", "MRN-LOW", "--cycle", "4"], "--cycle: cycle 4 is not in"),
        (["handoff", "--ward", "--page-size", "A3"], "--page-size: page size 'A3' is not"),
        (["handoff", "--ward", "--now", "soon"], '--now: "soon" is not an ISO 8601'),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    cli_ward: Database,
    tmp_path: object,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    line: str,
) -> None:
    out = f"{tmp_path}/sheet.pdf"
    assert main([*argv, "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1
    assert exports(cli_ward) == []


def test_a_file_name_that_is_not_pdf_or_csv_exits_2(
    cli_ward: Database, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["vitals", "--patient", "MRN-LOW", "--out", f"{tmp_path}/v.xlsx"]) == 2
    assert "name the file .csv or .pdf" in capsys.readouterr().err
    assert main(["handoff", "--ward", "--out", f"{tmp_path}/h.csv"]) == 2
    assert "the handoff sheet is a PDF" in capsys.readouterr().err
    assert main(["handoff", "--ward", "--out", f"{tmp_path}/missing/h.pdf"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_an_unmigrated_database_exits_1(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("IL2TOX_DATABASE_URL", database_url)
    assert main(["handoff", "--ward", "--out", f"{tmp_path}/h.pdf"]) == 1
