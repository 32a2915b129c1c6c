"""The print buttons of the ward and patient pages, through AppTest: nothing is made until a
button is pressed; then a download of a real PDF or CSV is offered, and the export is audited."""

from __future__ import annotations

import csv
import io

from pypdf import PdfReader
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboard.sheets import section_key
from il2_tox.store import Database
from il2_tox.store import models as m
from tests.app.conftest import PAGES, signed_in_app


def _exports(db: Database) -> list[m.AuditEvent]:
    with db.read_session() as session:
        return list(
            session.scalars(
                select(m.AuditEvent)
                .where(m.AuditEvent.action.in_(("export_handoff", "export_vitals")))
                .order_by(m.AuditEvent.id)
            )
        )


def _button(app: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in app.button if b.label == label)


def _downloads(app: AppTest) -> list[object]:
    return list(app.get("download_button"))


def _download_data(app: AppTest, key: str) -> bytes:
    """Return the bytes the download button under `key` serves.

    AppTest's media store lives only for one run, so the bytes are read where the page keeps
    the prepared export between runs (the session), after checking the button is there.
    """
    labels = [b.proto.label for b in _downloads(app)]  # type: ignore[attr-defined]
    assert labels, "no download button"
    export, _made_at = app.session_state[f"sheet:{key}"]
    data: bytes = export.data
    return data


def open_page(page: str, username: str = "nurse", query: dict[str, str] | None = None) -> AppTest:
    """Sign in, open `page` and open its print sections (as a click on each does)."""
    app = signed_in_app(username)
    app.switch_page(str(PAGES / page))
    if query:
        app.query_params.update(query)
    app.run()
    assert not app.exception, app.exception
    patient = (query or {}).get("patient")
    scopes = [f"handoff:{patient}", f"vitals:{patient}"] if patient else ["handoff:(ward)"]
    for scope in scopes:
        app.session_state[section_key(scope)] = True  # what a click on the section sends
    app.run()
    assert not app.exception, app.exception
    return app


def _sections(app: AppTest) -> list[str]:
    """Return the labels of the page's print sections."""
    return [e.label for e in app.expander if e.label.startswith("Print")]


def test_a_closed_print_section_draws_nothing_but_its_label(ward_db: Database) -> None:
    app = signed_in_app("nurse")
    app.query_params["patient"] = "DEMO-003"
    for page in ("ward.py", "patient.py"):
        app.switch_page(str(PAGES / page))
        app.run()
        assert not app.exception, app.exception
        assert _sections(app) == (
            ["Print handoff sheet (I-PASS) for this patient", "Print vitals sheet"]
            if page == "patient.py"
            else ["Print handoff sheet (I-PASS) for the whole ward"]
        )
        assert not [b for b in app.button if b.label.startswith("Prepare")]
        assert not [r for r in app.radio if r.key and r.key.startswith("sheet:")]


def test_the_ward_page_makes_no_sheet_until_asked(ward_db: Database) -> None:
    app = open_page("ward.py")
    assert _button(app, "Prepare handoff PDF")
    assert _downloads(app) == []
    assert _exports(ward_db) == []


def test_the_ward_handoff_button_offers_the_whole_ward_as_a_pdf(ward_db: Database) -> None:
    app = open_page("ward.py")
    _button(app, "Prepare handoff PDF").click()
    app.run()
    assert not app.exception, app.exception
    downloads = _downloads(app)
    assert len(downloads) == 1
    data = _download_data(app, "handoff:(ward):A4")
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Ward handoff (I-PASS)" in text
    assert "DEMO-003" in text and "DEMO-010" in text
    (event,) = _exports(ward_db)
    assert event.actor == "nurse"
    assert event.entity == "ward"
    assert len(event.after["patients"]) == 10  # type: ignore[index]


def test_the_patient_page_offers_that_patients_handoff_and_vitals(ward_db: Database) -> None:
    app = open_page("patient.py", "physician", {"patient": "DEMO-003"})
    _button(app, "Prepare handoff PDF").click()
    app.run()
    assert not app.exception, app.exception
    text = "\n".join(
        p.extract_text()
        for p in PdfReader(io.BytesIO(_download_data(app, "handoff:DEMO-003:A4"))).pages
    )
    assert "DEMO-003" in text and "DEMO-007" not in text

    app.radio(key="sheet:fmt:DEMO-003").set_value("CSV")
    app.run()
    _button(app, "Prepare vitals CSV").click()
    app.run()
    assert not app.exception, app.exception
    downloads = _downloads(app)
    assert len(downloads) == 2
    rows = list(
        csv.reader(io.StringIO(_download_data(app, "vitals:DEMO-003:1:CSV").decode("utf-8")))
    )
    assert rows[0][:4] == ["time", "dose", "flags", "Temp (°C)"]
    assert any("HELD" in row[1] for row in rows[1:])
    assert [e.action for e in _exports(ward_db)] == ["export_handoff", "export_vitals"]
    assert all(e.actor == "physician" for e in _exports(ward_db))


def test_a_handoff_prepared_on_a4_is_not_offered_once_letter_is_chosen(ward_db: Database) -> None:
    app = open_page("ward.py")
    _button(app, "Prepare handoff PDF").click()
    app.run()
    (prepared,) = [c.value for c in app.caption if c.value.startswith("Prepared")]
    assert " on A4 (" in prepared
    app.radio(key="sheet:paper:handoff:(ward)").set_value("letter")
    app.run()
    assert not app.exception, app.exception
    assert _downloads(app) == []  # the A4 sheet is not offered as Letter
    _button(app, "Prepare handoff PDF").click()
    app.run()
    reader = PdfReader(io.BytesIO(_download_data(app, "handoff:(ward):letter")))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)
    assert [e.after["page_size"] for e in _exports(ward_db)] == ["A4", "letter"]  # type: ignore[index]
