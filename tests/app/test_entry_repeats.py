"""A dose form sent twice (a double click, or a resend after a reconnect) records one dose."""

from __future__ import annotations

from il2_tox.store import Database
from il2_tox.store.models import Dose
from tests.app.test_entry_page import admission_id, click, count, open_entry, radio


def test_a_repeated_submission_of_one_dose_form_records_one_dose(ward_db: Database) -> None:
    app = open_entry("DEMO-001")
    aid = admission_id(ward_db, "DEMO-001")
    first_key = app.session_state[f"entry.key.dose.{aid}.0"]
    before = count(ward_db, Dose)
    radio(app, "Dose").set_value("given")
    click(app, "Record dose")
    assert count(ward_db, Dose) == before + 1
    # The second click of the pair arrives after the first's rerun: the same form's key.
    app.session_state[f"entry.key.dose.{aid}.1"] = first_key
    app.run()
    radio(app, "Dose").set_value("given")
    click(app, "Record dose")
    assert count(ward_db, Dose) == before + 1
    assert any("already recorded (a repeated click)" in i.value for i in app.info)
    assert not any("already recorded" in e.value for e in app.error)
