"""FHIR R4 through the database and the command line, on SQLite and PostgreSQL.

Import a bundle -> the database -> export a bundle: the same bundle; the export is audited;
the samples in data/samples/ import (or are refused) as their README says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from il2_tox.__main__ import main
from il2_tox.fhir import course_to_bundle, validate_bundle
from il2_tox.fhir.samples import SAMPLES, samples, text_of
from il2_tox.services import NotFound, export_course, import_course, import_files
from il2_tox.services.fhir_io import export_bundle
from il2_tox.services.users import SystemActor
from il2_tox.store import Database, migrate
from il2_tox.store.models import AuditEvent
from tests.builders import CourseBuilder
from tests.integration.test_import_export import in_stored_order, si_course

TESTER = SystemActor("test")  # exports name who makes them


def write(tmp_path: Path, bundle: dict[str, object], name: str = "bundle.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


def without_flags(bundle: dict[str, object]) -> dict[str, object]:
    entries = bundle["entry"]
    assert isinstance(entries, list)
    return {
        **bundle,
        "entry": [e for e in entries if e["resource"]["resourceType"] != "DetectedIssue"],
    }


def test_a_bundle_imported_and_exported_again_is_the_same_bundle(
    db: Database, tmp_path: Path
) -> None:
    course = si_course()
    sent = json.loads(json.dumps(course_to_bundle(course)))
    (result,) = import_files(db, [write(tmp_path, sent)], progress=False)
    assert result.status == "loaded"

    back = export_bundle(db, course.patient.id, actor=TESTER)

    validate_bundle(back)
    # The database gives records back in time order (doses by cycle and number).
    assert without_flags(back) == json.loads(json.dumps(course_to_bundle(in_stored_order(course))))
    assert export_course(db, course.patient.id, actor=TESTER) == in_stored_order(course)


def test_the_fhir_export_is_in_the_audit_log(db: Database, tmp_path: Path) -> None:
    course = si_course()
    import_files(db, [write(tmp_path, course_to_bundle(course))], progress=False)

    bundle = export_bundle(db, course.patient.id, actor=SystemActor("ada"))

    with db.read_session() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).one()
    assert (event.actor, event.entity) == ("ada", "admission")
    assert event.after == {
        "patient": "MRN-SI",
        "admitted_at": "2026-11-20T06:00:00+00:00",
        "format": "FHIR R4 Bundle",
        "resources": len(bundle["entry"]),
        "flags": event.after["flags"] if event.after else None,
    }


def test_a_flag_is_exported_as_a_detected_issue_with_its_evidence(db: Database) -> None:
    course = (
        CourseBuilder()
        .obs("1742-6", 30, "U/L", at=-1)
        .obs("1742-6", 450, "U/L", at=9.5)
        .dose(1, 1, at=2)
        .build()
    )
    import_course(db, course)

    bundle = export_bundle(db, course.patient.id, actor=TESTER)

    entries = bundle["entry"]
    alt_url = next(
        e["fullUrl"] for e in entries if e["resource"].get("valueQuantity", {}).get("value") == 450
    )
    (issue,) = [e["resource"] for e in entries if e["resource"]["resourceType"] == "DetectedIssue"]
    assert issue["code"]["coding"][0]["code"] == "hepatitis.grade"
    assert issue["severity"] == "high"  # critical
    assert issue["evidence"] == [{"detail": [{"reference": alt_url}]}]
    assert issue["identifiedDateTime"] == "2026-11-20T15:30:00+00:00"
    assert "ALT" in issue["detail"]
    (source,) = [e for e in issue["extension"] if e["url"].endswith("/flag-source")]
    assert "CTCAE" in source["valueString"]


def test_an_unknown_patient_is_not_found_and_nothing_is_audited(db: Database) -> None:
    with pytest.raises(NotFound, match="no patient NOBODY"):
        export_bundle(db, "NOBODY", actor=TESTER)
    with db.read_session() as session:
        assert session.scalars(select(AuditEvent)).all() == []


# -- samples -----------------------------------------------------------------------------------


def test_the_sample_files_are_what_the_sample_module_writes() -> None:
    for name, bundle in samples().items():
        assert (SAMPLES / name).read_text(encoding="utf-8") == text_of(bundle), name


def test_the_samples_import_or_are_refused_as_documented(db: Database) -> None:
    results = import_files(db, [SAMPLES / name for name in sorted(samples())], progress=False)
    by_name = {Path(r.source or "").name: r for r in results}
    complete = by_name["complete-two-cycles.fhir.json"]
    assert (complete.status, complete.doses) == ("loaded", 28)
    small = by_name["small.fhir.json"]
    assert (small.status, small.observations, small.doses) == ("loaded", 9, 2)
    assert any("Practitioner is not used by il2-tox" in n for n in small.not_imported)
    unknown = by_name["unknown-code.fhir.json"]
    assert unknown.status == "refused"
    assert str(unknown.error).endswith(
        ".code: no code il2-tox knows (codings: http://loinc.org|1234-5)"
    )


# -- the command line ---------------------------------------------------------------------------


@pytest.fixture
def migrated(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("IL2TOX_DATABASE_URL", database_url)
    migrate(database_url)
    return database_url


def test_import_of_a_bundle_exits_0_and_lists_what_was_not_imported(
    migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = SAMPLES / "small.fhir.json"
    assert main(["import", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"{path}: loaded FHIR-SAMPLE-2 admitted 2026-11-20T06:00:00+00:00 "
        "(9 observations, 2 doses)",
        "  not imported: Practitioner/0b9f0d52-7c55-4c43-9a57-3a4b0d8e6f01 "
        "(urn:uuid:0b9f0d52-7c55-4c43-9a57-3a4b0d8e6f01): Practitioner is not used by il2-tox",
    ]
    assert err == ""


def test_import_of_a_bundle_with_an_unknown_code_exits_2_with_one_line(
    migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = SAMPLES / "unknown-code.fhir.json"
    assert main(["import", str(path)]) == 2
    out, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert line.startswith(f"{path}: Observation/")
    assert line.endswith(".code: no code il2-tox knows (codings: http://loinc.org|1234-5)")
    assert out == ""


def test_export_fhir_writes_a_valid_bundle_and_says_what_is_in_it(
    migrated: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["import", str(SAMPLES / "small.fhir.json")])
    capsys.readouterr()
    target = tmp_path / "out.json"
    assert main(["export", "--patient", "FHIR-SAMPLE-2", "--fhir", "-o", str(target)]) == 0
    assert capsys.readouterr().out == (
        f"{target}: FHIR Bundle, 1 Condition, 1 Encounter, 2 MedicationAdministration, "
        "12 Observation, 1 Patient\n"
    )
    written = json.loads(target.read_text(encoding="utf-8"))
    validate_bundle(written)
    sample = json.loads((SAMPLES / "small.fhir.json").read_text(encoding="utf-8"))
    sample["entry"] = [
        e for e in sample["entry"] if e["resource"]["resourceType"] != "Practitioner"
    ]
    assert written == sample


def test_export_fhir_to_stdout_and_of_an_unknown_patient(
    migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["import", str(SAMPLES / "small.fhir.json")])
    capsys.readouterr()
    assert main(["export", "--patient", "FHIR-SAMPLE-2", "--fhir"]) == 0
    assert json.loads(capsys.readouterr().out)["resourceType"] == "Bundle"
    assert main(["export", "--patient", "NOBODY", "--fhir"]) == 2
    assert capsys.readouterr().err == "no patient NOBODY in the database\n"
