"""The flags page, through AppTest: physicians acknowledge or snooze a flag with a reason;
nurses see the flags and who acknowledged them, and cannot acknowledge.

DEMO-003 (Cora) has an active critical capillary-leak flag (`cls.syndrome`).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from dashboard.flag_forms import REASON_LABEL, SNOOZE_LABEL
from il2_tox.store import Database
from il2_tox.store.models import FlagAcknowledgement
from tests.app.conftest import PAGES, signed_in_app

PAGE = "app_pages/flags.py"


def open_flags(patient: str = "DEMO-003", role: str = "physician") -> AppTest:
    app = signed_in_app(role)
    app.query_params["patient"] = patient
    app.switch_page(PAGE)
    app.run()
    assert not app.exception, app.exception
    return app


def shown(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def acknowledgements(db: Database) -> int:
    with db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(FlagAcknowledgement)) or 0)


def first_form(app: AppTest) -> tuple[Any, Any, Any]:
    """Return the reason box, the snooze field and the button of the first flag's form."""
    reason = next(t for t in app.text_area if t.label == REASON_LABEL)
    snooze = next(n for n in app.number_input if n.label == SNOOZE_LABEL)
    button = next(b for b in app.button if b.label == "Acknowledge")
    return reason, snooze, button


def test_it_lists_the_patients_flags_most_urgent_first(ward_db: Database) -> None:
    app = open_flags()
    assert app.selectbox[0].value == "DEMO-003"
    first = next(m.value for m in app.markdown if "-background[**" in m.value)
    assert first.startswith(":red-background[**CRITICAL**]")


def test_it_refuses_an_acknowledgement_without_a_reason(ward_db: Database) -> None:
    app = open_flags()
    _, _, button = first_form(app)
    button.click().run()
    assert any(shown(e.value).startswith("Reason is required") for e in app.error)
    assert acknowledgements(ward_db) == 0


def test_a_physician_acknowledges_a_flag_with_a_reason_and_it_goes_quiet(
    ward_db: Database,
) -> None:
    app = open_flags()
    needing = next(c.value for c in app.caption if "need a look" in c.value)
    reason, _, button = first_form(app)
    reason.input("on albumin, <b>reviewed</b>")
    button.click().run()
    assert not app.exception, app.exception
    assert acknowledgements(ward_db) == 1
    quiet = [shown(c.value) for c in app.caption]
    assert any(
        re.fullmatch(r"acknowledged by Test Physician at .+: on albumin, <b>reviewed</b>", c)
        for c in quiet
    )
    assert next(c.value for c in app.caption if "need a look" in c.value) != needing


def test_a_snoozed_flag_says_until_when(ward_db: Database) -> None:
    app = open_flags()
    reason, snooze, button = first_form(app)
    reason.input("rechecking after fluids")
    snooze.set_value(2.0)
    button.click().run()
    assert any(
        shown(c.value).startswith("snoozed by Test Physician at ") and " until " in c.value
        for c in app.caption
    )


def test_it_refuses_a_snooze_longer_than_a_day_at_the_snooze(ward_db: Database) -> None:
    app = open_flags()
    reason, snooze, button = first_form(app)
    reason.input("later")
    snooze.set_value(48.0)
    button.click().run()
    assert any(shown(e.value).startswith("Snooze must be above 0") for e in app.error)
    assert acknowledgements(ward_db) == 0
    assert first_form(app)[0].value == "later"  # kept


def test_a_nurse_sees_the_flags_but_cannot_acknowledge(ward_db: Database) -> None:
    app = open_flags(role="nurse")
    assert any("-background[**CRITICAL**]" in m.value for m in app.markdown)
    assert not [b for b in app.button if b.label == "Acknowledge"]
    assert not app.text_area
    assert any("a physician acknowledges them" in i.value for i in app.info)


def test_it_refuses_a_signed_out_visitor(ward_db: Database) -> None:
    app = AppTest.from_file(str(PAGES / "flags.py"), default_timeout=60)
    app.run()
    assert any("signed out" in e.value for e in app.error)
    assert len(app.selectbox) == 0
