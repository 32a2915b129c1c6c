"""The PDFs: valid documents on A4 and Letter, with the I-PASS sections, the advice and its
criteria, the patient on every page, and free text printed as typed (il2_tox.sheets.pdf).
Read back with pypdf."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, timedelta

import pytest
from pypdf import PdfReader
from reportlab.lib.pagesizes import landscape
from reportlab.pdfbase.pdfmetrics import stringWidth

from il2_tox.assess import assess
from il2_tox.course import Course
from il2_tox.rules.base import HR, SBP, TEMP, WEIGHT
from il2_tox.services.ward import summarize
from il2_tox.sheets import pdf
from il2_tox.sheets.fonts import Fonts, fonts, printable
from il2_tox.sheets.handoff import PatientHandoff, patient_handoff
from il2_tox.sheets.vitals import VitalsSheet, vitals_sheet
from il2_tox.simulate import simulate_course
from tests.builders import ADMITTED, CourseBuilder

NOW = ADMITTED + timedelta(hours=19)
PRINTED = pdf.Printed(NOW, "Nurse <Ada> & co", UTC)


def course(name: str = "Test, Pat") -> Course:
    builder = (
        CourseBuilder(usual_sbp=118)
        .prior("colitis", grade=3, note="8 stools a day; <i>infliximab</i>")
        .dose(1, 1, at=2)
        .dose(1, 2, at=10, status="held", reason="SBP 82 & falling")
    )
    for hour in range(1, 19, 3):
        builder.obs(SBP, 110 - hour * 2, "mm[Hg]", at=hour).obs(HR, 90 + hour, "/min", at=hour)
        builder.obs(TEMP, 37.5, "Cel", at=hour)
    builder.obs(WEIGHT, 75, "kg", at=12)
    builder.doc["patient"]["name"] = name
    return builder.build()


def handoff(name: str = "Test, Pat") -> PatientHandoff:
    c = course(name)
    a = assess(c)
    return patient_handoff(c, a, summarize(c, a, NOW), {}, NOW)


def text_of(data: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(data))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.parametrize(("size", "dims"), [("A4", (595, 842)), ("letter", (612, 792))])
def test_the_handoff_is_a_pdf_on_the_chosen_paper(size: str, dims: tuple[int, int]) -> None:
    data = pdf.handoff_pdf([handoff()], printed=PRINTED, size=size)
    assert data.startswith(b"%PDF-")
    reader, _ = text_of(data)
    for page in reader.pages:
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == dims


def test_the_handoff_has_the_ipass_sections_in_order() -> None:
    _, text = text_of(pdf.handoff_pdf([handoff()], printed=PRINTED))
    sections = [
        "I · Illness severity",
        "P · Patient summary",
        "Active flags",
        "Prior checkpoint-inhibitor toxicity",
        "A · Next dose advice",
        "Open to-dos",
        "S · Situation awareness and contingency plans",
        "S · Synthesis by receiver",
    ]
    positions = [text.index(section) for section in sections]
    assert positions == sorted(positions)


def test_the_handoff_states_severity_advice_and_every_criterion_with_its_source() -> None:
    sheet = handoff()
    _, text = text_of(pdf.handoff_pdf([sheet], printed=PRINTED))
    flat = " ".join(text.split())
    assert sheet.severity.level.upper() in text
    assert sheet.next_dose is not None
    assert f"{sheet.next_dose.advice.upper()} dose {sheet.next_dose.number} of cycle 1" in flat
    for criterion in sheet.next_dose.criteria:
        assert " ".join(criterion.message.split()) in flat
    assert "C1 dose 2 held" in flat and "SBP 82 & falling" in flat


def test_the_summary_gives_the_latest_vitals_with_their_units() -> None:
    _, text = text_of(pdf.handoff_pdf([handoff()], printed=PRINTED))
    flat = " ".join(text.split())
    # The course's last set, 22:00 on 20 Nov (hour 16): SBP 78, HR 106, 37.5 °C.
    assert "Last vitals 20 Nov 22:00 HR 106 /min · SBP 78 mmHg · Temp 37.5 °C" in flat


def test_free_text_prints_as_typed_never_as_markup() -> None:
    _, text = text_of(pdf.handoff_pdf([handoff("O'Neil <b>Bold</b> & Co")], printed=PRINTED))
    flat = " ".join(text.split())
    assert "O'Neil <b>Bold</b> & Co" in flat
    assert "<i>infliximab</i>" in flat
    assert "Nurse <Ada> & co" in flat  # who printed it, in the footer


def test_every_page_names_the_patient_and_counts_the_pages() -> None:
    reader, _ = text_of(pdf.handoff_pdf([handoff()], printed=PRINTED))
    total = len(reader.pages)
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert "TEST-001" in text
        assert f"page {number} of {total}" in text
        assert "Decision support, not a decision" in text


def test_a_ward_handoff_lists_every_patient_then_one_section_each() -> None:
    one, two = handoff("Alpha, Ann"), handoff("Beta, Bob")
    reader, text = text_of(pdf.handoff_pdf([one, two], printed=PRINTED, ward=True))
    assert "Ward handoff (I-PASS)" in reader.pages[0].extract_text()
    assert text.count("I · Illness severity") == 2
    assert "Alpha, Ann" in text and "Beta, Bob" in text


def test_the_advice_line_is_never_parted_from_its_criteria_by_a_page_break() -> None:
    builder = CourseBuilder(usual_sbp=118).prior("colitis", grade=3, note="8 stools a day")
    builder.dose(1, 1, at=2).dose(1, 2, at=10, status="held", reason="SBP 82 & falling")
    for hour in range(1, 19, 3):
        builder.obs(SBP, 80, "mm[Hg]", at=hour).obs(HR, 125, "/min", at=hour)
    c = builder.build()
    a = assess(c)
    sheet = patient_handoff(c, a, summarize(c, a, NOW), {}, NOW)
    assert sheet.next_dose is not None and sheet.next_dose.criteria
    # Each prior toxicity is a row above the advice: as rows are added the advice line moves
    # down page 1, reaches its foot, and moves to page 2.
    pages = set()
    for rows in range(1, 26):
        longer = replace(sheet, prior_toxicities=sheet.prior_toxicities * rows)
        reader, _ = text_of(pdf.handoff_pdf([longer], printed=PRINTED))
        texts = [page.extract_text() for page in reader.pages]
        (number,) = [i for i, text in enumerate(texts, 1) if "A · Next dose advice" in text]
        pages.add(number)
        assert "of cycle 1, due" in texts[number - 1], rows
        assert "Criterion" in texts[number - 1], rows
    assert pages == {1, 2}  # the page foot was crossed


def test_the_ward_list_gives_the_next_dose_with_its_day_not_only_the_clock_time() -> None:
    sheet = handoff()
    assert sheet.next_dose is not None
    reader, _ = text_of(pdf.handoff_pdf([sheet], printed=PRINTED, ward=True))
    cover = " ".join(reader.pages[0].extract_text().split())
    when = sheet.next_dose.time.astimezone(UTC)
    assert f"{sheet.next_dose.advice.upper()} · {when:%d %b %H:%M}" in cover


def test_an_empty_ward_still_prints_a_page_saying_so() -> None:
    _, text = text_of(pdf.handoff_pdf([], printed=PRINTED, ward=True))
    assert "0 patients" in text


def test_an_unknown_page_size_is_refused_by_name() -> None:
    with pytest.raises(pdf.PageSizeError, match="'A3' is not one of A4, letter"):
        pdf.page_size("A3")
    assert pdf.page_size(" Letter ") == pdf.PAGE_SIZES["letter"]


def test_a_character_the_font_lacks_prints_as_its_code_point() -> None:
    latin = Fonts("r", "b", frozenset(range(32, 256)))
    assert printable("Łódź é", latin) == "[U+0141]ód[U+017A] é"
    assert printable("a\tb\nc", latin) == "a b c"


def test_every_character_of_a_name_is_printed_or_named() -> None:
    name = "Øster, Łucja 李"
    _, text = text_of(pdf.handoff_pdf([handoff(name)], printed=PRINTED))
    for char in name:
        assert char in text or f"[U+{ord(char):04X}]" in text


@pytest.mark.parametrize(("size", "dims"), [("A4", (842, 595)), ("letter", (792, 612))])
def test_the_vitals_sheet_is_landscape_with_units_and_held_doses(
    size: str, dims: tuple[int, int]
) -> None:
    c = course()
    sheet = vitals_sheet(c, assess(c))
    reader, text = text_of(pdf.vitals_pdf(sheet, printed=PRINTED, size=size))
    for page in reader.pages:
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == dims
    flat = " ".join(text.split())
    assert "mmHg" in flat and "/min" in flat and "°C" in flat
    assert "dose 2 HELD: SBP 82 & falling" in flat
    assert "Vitals sheet · cycle 1 of 1" in flat


def test_the_longest_texts_the_format_allows_print_whole_across_pages() -> None:
    reason = "word " * 397 + "END-OF-REASON"  # 1,998 characters (the format allows 2,000)
    builder = CourseBuilder().dose(1, 1, at=2)
    for number in range(2, 15):
        builder.dose(1, number, at=2 + 8 * (number - 1), status="held", reason=reason)
    builder.obs(SBP, 100, "mm[Hg]", at=3)
    builder.doc["patient"]["name"] = "N" * 200
    c = builder.build()
    a = assess(c)
    now = ADMITTED + timedelta(hours=110)
    sheet = patient_handoff(c, a, summarize(c, a, now), {}, now)
    _, text = text_of(pdf.handoff_pdf([sheet], printed=PRINTED))
    assert text.count("END-OF-REASON") == 13
    _, text = text_of(pdf.vitals_pdf(vitals_sheet(c, a), printed=PRINTED))
    assert text.count("END-OF-REASON") == 13


def test_a_running_header_too_long_for_a_line_wraps_without_losing_a_character() -> None:
    font = fonts()
    text = "Bed 1 · " + "N" * 200 + " · MRN-1"
    lines = pdf._wrap(text, font.bold, 6, 300)
    assert len(lines) > 1
    assert all(stringWidth(line, font.bold, 6) <= 300 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def leaky_cycle() -> VitalsSheet:
    """Return a simulated capillary-leak cycle: every column measured, held doses, flags."""
    c = simulate_course("capillary_leak", seed=3, start=ADMITTED, patient_id="SIM-1")
    return vitals_sheet(c, assess(c), cycle=1)


@pytest.mark.parametrize("size", ["A4", "letter"])
def test_vitals_headers_units_and_flag_codes_are_never_broken_mid_word(size: str) -> None:
    sheet = leaky_cycle()
    columns = sheet.printed_columns()
    assert len(columns) >= 18 and any(r.flags for r in sheet.rows)
    width = landscape(pdf.page_size(size))[0] - 2 * pdf.MARGIN
    t, widths = pdf._vitals_table_layout(sheet, columns, width)
    assert sum(widths) <= width + 0.01
    assert pdf.VITALS_MIN_CELL_PT <= t.cell.fontSize <= pdf.VITALS_CELL_PT
    padding = 5.0  # 2.5 pt each side

    def fits(word: str, column: float, bold: bool = False) -> bool:
        font = t.font.bold if bold else t.font.regular
        return stringWidth(word, font, t.cell.fontSize) + padding <= column

    for column, w in zip(columns, widths[3:], strict=True):
        for word in f"{column.header} {column.unit}".split():
            assert fits(word, w, bold=True), (column.header, word)
    for row in sheet.rows:
        for word in row.flag_text().split():
            assert fits(word, widths[2]), word


def test_the_vitals_table_is_set_in_6_5_pt_on_a4_and_smaller_only_when_it_must() -> None:
    sheet = leaky_cycle()
    columns = sheet.printed_columns()
    a4, letter = (landscape(pdf.page_size(size))[0] - 2 * pdf.MARGIN for size in ("A4", "letter"))
    assert pdf._vitals_table_layout(sheet, columns, a4)[0].cell.fontSize == 6.5
    small, _ = pdf._vitals_table_layout(sheet, columns, letter)
    assert small.cell.fontSize < 6.5
    bigger = pdf._styles(small.cell.fontSize + 1.1)  # 0.1 pt larger does not fit
    assert pdf._vitals_widths(sheet, columns, letter, bigger)[1] is False


def test_vitals_units_print_whole_on_letter() -> None:
    sheet = leaky_cycle()
    _, text = text_of(pdf.vitals_pdf(sheet, printed=PRINTED, size="letter"))
    words = set(text.split())
    for column in sheet.printed_columns():
        for word in f"{column.header} {column.unit}".split():
            assert word in words, (column.header, word)


def test_a_combination_agent_prints_whole_in_the_prior_toxicity_table() -> None:
    builder = CourseBuilder().prior("colitis", grade=3, agent="ipilimumab+nivolumab")
    c = builder.dose(1, 1, at=2).obs(SBP, 100, "mm[Hg]", at=3).build()
    a = assess(c)
    sheet = patient_handoff(c, a, summarize(c, a, NOW), {}, NOW)
    _, text = text_of(pdf.handoff_pdf([sheet], printed=PRINTED))
    assert "ipilimumab+nivolumab" in text.split()


def test_a_vitals_rows_flags_are_coloured_by_severity() -> None:
    sheet = leaky_cycle()
    t = pdf._styles(6.5)
    rows = [r for r in sheet.rows if r.flags]
    severities = {f.severity for r in rows for f in r.flags}
    assert {"critical", "warning"} <= severities
    for row in rows:
        markup = pdf._flag_markup(row.flags, t)
        for flag in row.flags:
            text = f"{flag.severity} {flag.code}"
            if flag.severity == "critical":
                assert f"<font color='#b71c1c'>{text}</font>" in markup
            elif flag.severity == "warning":
                assert f"<font color='#e65100'>{text}</font>" in markup
            else:
                assert text in markup and f">{text}<" not in markup
