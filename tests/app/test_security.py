"""Every page refuses a signed-out visitor and the wrong role; free text is shown as text.

Each page script is run on its own, as reaching it by its URL would, without signing in and
signed in with each role its row in `PAGES` (dashboard/streamlit_app.py) does not list: it
shows only the refusal, no patient data, no form. Then a reason, a note and a name holding
HTML and Markdown are rendered by the pages that show them: no element allows HTML, and every
Markdown element shows them escaped (as typed), never as markup or a link.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.auth import SESSION_KEY
from il2_tox.services.bedside import acknowledge_flag, record_dose
from il2_tox.services.course_io import import_course
from il2_tox.services.users import authenticate
from il2_tox.store import Database
from tests.app.conftest import PAGES, PASSWORD, REPO, signed_in_app
from tests.builders import CourseBuilder

ROLES = ("nurse", "physician", "admin")


def page_table() -> list[tuple[str, tuple[str, ...]]]:
    """Return (file, roles) of every row of PAGES, read from streamlit_app.py's source (importing
    it would run the app)."""
    tree = ast.parse((REPO / "dashboard" / "streamlit_app.py").read_text(encoding="utf-8"))
    names = {"NURSE": "nurse", "PHYSICIAN": "physician", "ADMIN": "admin"}
    rows = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "PageEntry":
            file = ast.literal_eval(node.args[0])
            roles = node.args[3]
            assert isinstance(roles, ast.Tuple)
            rows.append((file, tuple(names[e.id] for e in roles.elts if isinstance(e, ast.Name))))
    assert rows, "no PageEntry found in streamlit_app.py"
    return rows


PAGE_TABLE = page_table()


def shows_nothing_but_the_refusal(app: AppTest) -> None:
    assert not app.exception, app.exception
    assert not (app.dataframe or app.text_input or app.number_input or app.button)
    assert not (app.selectbox or app.text_area or app.markdown or app.get("plotly_chart"))


@pytest.mark.parametrize("file", [file for file, _ in PAGE_TABLE])
def test_a_page_refuses_a_signed_out_visitor(ward_db: Database, file: str) -> None:
    app = AppTest.from_file(str(PAGES / file), default_timeout=60)
    app.run()
    assert [e.value for e in app.error] == ["You are signed out. Sign in to see this page."]
    shows_nothing_but_the_refusal(app)


@pytest.mark.parametrize(
    ("file", "role"),
    [(file, role) for file, roles in PAGE_TABLE for role in ROLES if role not in roles],
)
def test_a_page_refuses_a_role_it_is_not_for(ward_db: Database, file: str, role: str) -> None:
    app = AppTest.from_file(str(PAGES / file), default_timeout=60)
    app.session_state[SESSION_KEY] = authenticate(ward_db, role, PASSWORD)
    app.run()
    assert len(app.error) == 1 and app.error[0].value.startswith("This page is for ")
    shows_nothing_but_the_refusal(app)


def test_every_page_is_refused_to_someone_or_open_to_all_roles() -> None:
    """The table is the single source: a page without a row would never be checked here."""
    files = {path.name for path in PAGES.glob("*.py")}
    assert files == {file for file, _ in PAGE_TABLE}


def test_the_signed_out_app_offers_only_the_sign_in_page(ward_db: Database) -> None:
    app = AppTest.from_file(str(REPO / "dashboard" / "streamlit_app.py"), default_timeout=60)
    app.run()
    assert not app.exception
    assert [t.label for t in app.text_input] == ["Username", "Password"]
    assert not app.dataframe and not app.get("plotly_chart")


# -- free text is text ----------------------------------------------------------------------------

PAYLOAD = (
    '<script>alert("x")</script><img src=x onerror=alert(1)> **bold** [click](javascript:alert(1))'
)


@pytest.fixture
def hostile_text(ward_db: Database) -> Database:
    """A patient whose name, prior-toxicity note, held-dose reason and flag acknowledgement all
    hold HTML and Markdown."""
    admitted = datetime.now(UTC) - timedelta(hours=10)
    course = (
        CourseBuilder(patient_id="MRN-XSS")
        .history(systemic_steroids=True)
        .prior("colitis", note=PAYLOAD)
        .build()
    )
    course = dataclasses.replace(
        course,
        patient=dataclasses.replace(course.patient, name=PAYLOAD[:150]),
        admission=dataclasses.replace(course.admission, admitted_at=admitted),
    )
    result = import_course(ward_db, course)
    assert result.admission_id is not None
    nurse = authenticate(ward_db, "nurse", PASSWORD)
    physician = authenticate(ward_db, "physician", PASSWORD)
    record_dose(
        ward_db, result.admission_id, status="held", time=admitted + timedelta(hours=2),
        reason=PAYLOAD, actor=nurse, idempotency_key="xss-dose",
    )  # fmt: skip
    flag_time = admitted  # eligibility flags are raised at the admission
    acknowledge_flag(
        ward_db, result.admission_id, "eligibility.systemic_steroids", flag_time, physician,
        PAYLOAD,
    )  # fmt: skip
    return ward_db


def rendered(file: str) -> AppTest:
    app = signed_in_app("physician")
    app.query_params["patient"] = "MRN-XSS"
    app.switch_page(f"app_pages/{file}")
    app.run()
    assert not app.exception, app.exception
    return app


@pytest.mark.parametrize("file", ["patient.py", "flags.py", "entry.py", "ward.py"])
def test_free_text_is_shown_as_text_never_as_html_or_markdown(
    hostile_text: Database, file: str
) -> None:
    app = rendered(file)
    markdown_elements = [*app.markdown, *app.caption, *app.error, *app.warning, *app.info]
    markdown_elements += [*app.success]
    for element in markdown_elements:
        proto = element.proto
        assert not getattr(getattr(proto, "markdown", proto), "allow_html", False), element.value
        body = element.value
        # Every Markdown character of the payload arrives escaped: shown as typed.
        assert "<script>" not in body and "[click](" not in body and "**bold**" not in body
    for chart in app.get("plotly_chart"):
        spec = json.dumps(chart.proto.spec if hasattr(chart.proto, "spec") else str(chart.proto))
        assert "<script>" not in spec and "<img" not in spec
    # The text was on the page at all (else this test proves nothing).
    everything = " ".join(e.value for e in markdown_elements) + " ".join(t.value for t in app.text)
    if file in ("patient.py", "flags.py"):
        assert r"\<script\>" in everything or "<script>" in " ".join(t.value for t in app.text)
