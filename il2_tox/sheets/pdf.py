"""Printable PDFs of the handoff and vitals sheets, drawn with ReportLab (charts included).

Why ReportLab (docs/sheets.md has the longer answer): one pure-Python dependency lays out the
text, wraps and splits tables across pages (the header row repeated), and draws the charts
itself as vector graphics, sharp at any printer's resolution. No browser: plotly's static
export (kaleido) needs a Chrome at run time, which a ward server should not need to print a
sheet, and a PDF made without one never fails for a missing or changed browser.

Every page carries the patient (or "ward"), the print time and who printed it, "page n of m",
and the decision-support line. Free text (names, reasons, notes) is escaped, so it prints as
typed and never as markup; a character the font lacks prints as its code point (see
`il2_tox.sheets.fonts`). The charts are `il2_tox.sheets.charts`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4, landscape, letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from il2_tox.rules.base import Flag, fmt
from il2_tox.sheets.charts import ADVICE_COLOUR, CHART_HOURS, GRID, trend_chart
from il2_tox.sheets.fonts import Fonts, fonts, printable
from il2_tox.sheets.handoff import (
    UNSTABLE,
    WATCHER,
    PatientHandoff,
    latest_vitals,
    vitals_line,
)
from il2_tox.sheets.vitals import Column, VitalsSheet
from il2_tox.units import display_unit, spec_for

PAGE_SIZES: dict[str, tuple[float, float]] = {"A4": A4, "letter": letter}
DEFAULT_PAGE_SIZE = "A4"
DISCLAIMER = "Decision support, not a decision: clinicians decide."
MARGIN = 14 * mm

SEVERITY_COLOUR = {
    UNSTABLE: colors.HexColor("#b71c1c"),
    WATCHER: colors.HexColor("#e65100"),
}
STABLE_COLOUR = colors.HexColor("#1b5e20")
HELD_FILL = colors.HexColor("#ffebee")
# A flag's severity in print: critical in the colour of hold, warning in that of caution.
FLAG_COLOUR = {"critical": ADVICE_COLOUR["hold"], "warning": ADVICE_COLOUR["caution"]}
HEADER_FILL = colors.HexColor("#eceff1")


class PageSizeError(ValueError):
    """Not a page size this module prints on; `str()` names the ones it does."""


def page_size_name(name: str) -> str:
    """Return the page size's own name ("a4 " -> "A4"); raise PageSizeError naming the sizes."""
    for key in PAGE_SIZES:
        if key.lower() == name.strip().lower():
            return key
    raise PageSizeError(f"page size {name!r} is not one of {', '.join(PAGE_SIZES)}")


def page_size(name: str) -> tuple[float, float]:
    """Return the (width, height) in points of "A4" or "letter" (any case); raise PageSizeError."""
    return PAGE_SIZES[page_size_name(name)]


# ---------------------------------------------------------------------------------------------
# Text styles


@dataclass(frozen=True)
class Styles:
    font: Fonts
    body: ParagraphStyle
    small: ParagraphStyle
    cell: ParagraphStyle
    cell_bold: ParagraphStyle
    heading: ParagraphStyle
    title: ParagraphStyle

    def text(self, text: str) -> str:
        """Return free text as Paragraph markup that shows it exactly as typed."""
        return escape(printable(text, self.font))

    def para(self, text: str, style: ParagraphStyle | None = None) -> Paragraph:
        """A paragraph of plain (free) text."""
        return Paragraph(self.text(text), style or self.body)

    def markup(self, markup: str, style: ParagraphStyle | None = None) -> Paragraph:
        """A paragraph of our own markup (every free text in it already passed `text`)."""
        return Paragraph(markup, style or self.body)


def _styles(base: float = 9) -> Styles:
    font = fonts()

    def style(
        name: str, size: float, *, bold: bool = False, space: float = 2, before: float = 0
    ) -> ParagraphStyle:
        return ParagraphStyle(
            name,
            fontName=font.bold if bold else font.regular,
            fontSize=size,
            leading=size * 1.25,
            spaceAfter=space,
            spaceBefore=before,
            keepWithNext=1 if before else 0,
            alignment=TA_LEFT,
        )

    return Styles(
        font=font,
        body=style("body", base),
        small=style("small", base - 1.5),
        cell=style("cell", base - 1, space=0),
        cell_bold=style("cell_bold", base - 1, bold=True, space=0),
        heading=style("heading", base + 2, bold=True, space=3, before=5),
        title=style("title", base + 5, bold=True, space=4),
    )


# ---------------------------------------------------------------------------------------------
# Pages: who, when, page n of m on every page


class _Label(Flowable):
    """Sets the running header (the patient) from here on; takes no space."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label
        self.width = self.height = 0

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        return (0, 0)

    def draw(self) -> None:
        self.canv._il2tox_label = self.label  # type: ignore[attr-defined]


def _numbered_canvas(footer_font: str) -> type[Canvas]:
    class NumberedCanvas(Canvas):
        """Writes "page n of m" once the number of pages is known."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []
            self._width = float(kwargs["pagesize"][0])

        def showPage(self) -> None:
            # Keep the page (its state) instead of writing it: the total is not known yet.
            self._pages.append(dict(self.__dict__))
            self._startPage()  # type: ignore[attr-defined]

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont(footer_font, 7.5)
                self.drawRightString(
                    self._width - MARGIN,
                    MARGIN - 9 * mm,
                    f"page {self.getPageNumber()} of {total}",
                )
                super().showPage()
            super().save()

    return NumberedCanvas


@dataclass(frozen=True)
class Printed:
    """When and by whom a sheet was printed, shown on every page."""

    at: datetime
    by: str
    tz: tzinfo

    def line(self) -> str:
        local = self.at.astimezone(self.tz)
        zone = getattr(self.tz, "key", None) or local.strftime("%Z") or "UTC"
        return f"Printed {local:%d %b %Y %H:%M} ({zone}) by {self.by}"


MIN_FITTED_SIZE = 5.5


def _draw_fitted(
    canvas: Canvas, text: str, font: str, size: float, x: float, y: float, room: float
) -> None:
    """Draw one line of running header or footer whole: smaller type if it is too long, then
    wrapped upwards over more lines (a 200-character name is printed, never cut)."""
    while size > MIN_FITTED_SIZE and stringWidth(text, font, size) > room:
        size -= 0.5
    lines = _wrap(text, font, size, room)
    canvas.setFont(font, size)
    for i, line in enumerate(reversed(lines)):
        canvas.drawString(x, y + i * size * 1.15, line)


def _wrap(text: str, font: str, size: float, room: float) -> list[str]:
    """Return text in lines no wider than `room`, broken at the last space that fits, or inside
    a word too long for a line of its own."""
    if stringWidth(text, font, size) <= room:
        return [text]
    lines: list[str] = []
    line = ""
    for char in text:
        if line and stringWidth(line + char, font, size) > room:
            space = line.rfind(" ")
            if space > 0 and char != " ":
                lines.append(line[:space])
                line = line[space + 1 :]
            else:
                lines.append(line.rstrip())
                line = ""
            if char == " ":
                continue
        line += char
    lines.append(line)
    return lines


def _build(
    story: list[Flowable],
    size: tuple[float, float],
    title: str,
    printed: Printed,
    styles: Styles,
) -> bytes:
    buffer = io.BytesIO()
    width, height = size

    def decorate(canvas: Canvas, doc: BaseDocTemplate) -> None:
        canvas.saveState()
        label = printable(getattr(canvas, "_il2tox_label", title), styles.font)
        right = "il2-tox · " + title
        canvas.setFont(styles.font.regular, 7.5)
        canvas.drawRightString(width - MARGIN, height - MARGIN + 4 * mm, right)
        room = width - 2 * MARGIN - stringWidth(right, styles.font.regular, 7.5) - 4 * mm
        _draw_fitted(canvas, label, styles.font.bold, 8.5, MARGIN, height - MARGIN + 4 * mm, room)
        canvas.setStrokeColor(GRID)
        canvas.line(MARGIN, height - MARGIN + 2.5 * mm, width - MARGIN, height - MARGIN + 2.5 * mm)
        canvas.line(MARGIN, MARGIN - 5 * mm, width - MARGIN, MARGIN - 5 * mm)
        footer = printable(f"{printed.line()} · {DISCLAIMER}", styles.font)
        room = width - 2 * MARGIN - 22 * mm  # "page n of m" on the right
        _draw_fitted(canvas, footer, styles.font.regular, 7.5, MARGIN, MARGIN - 9 * mm, room)
        canvas.restoreState()

    doc = BaseDocTemplate(
        buffer,
        pagesize=size,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=title,
        author="il2-tox",
        creator="il2-tox",
    )
    # No frame padding: tables are laid out to the full width between the margins.
    frame = Frame(
        MARGIN,
        MARGIN,
        width - 2 * MARGIN,
        height - 2 * MARGIN,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
        id="body",
    )
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPageEnd=decorate)])
    doc.build(story, canvasmaker=_numbered_canvas(styles.font.regular))
    return buffer.getvalue()


def _table(
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    *,
    header: bool = True,
    extra: Iterable[tuple[Any, ...]] = (),
) -> Table:
    # splitInRow: a row taller than a page (a 2,000-character reason) continues on the next.
    table = Table(
        [list(r) for r in rows],
        colWidths=list(widths),
        repeatRows=1 if header else 0,
        splitInRow=1,
    )
    style: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("LEFTPADDING", (0, 0), (-1, -1), 2.5),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2.5),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL))
    style.extend(extra)
    table.setStyle(TableStyle(style))
    return table


def _when(moment: datetime | None, tz: tzinfo, form: str = "%d %b %H:%M") -> str:
    return "—" if moment is None else moment.astimezone(tz).strftime(form)


# ---------------------------------------------------------------------------------------------
# The handoff sheet


def _patient_label(handoff: PatientHandoff) -> str:
    row = handoff.row
    return f"Bed {row.bed or '–'} · {row.name} · {row.patient_id}"


def _evidence(flag: Flag, tz: tzinfo) -> str:
    parts = []
    for item in flag.evidence:
        spec = spec_for(item.code)
        name = spec.short if spec is not None else item.code
        value = item.value if isinstance(item.value, str) else fmt(item.value)
        unit = f" {display_unit(item.unit)}" if item.unit else ""
        parts.append(f"{name} {value}{unit} ({_when(item.time, tz)})")
    return "; ".join(parts) or "—"


def _section(title: str, s: Styles) -> Paragraph:
    return s.markup(escape(title), s.heading)


def _handoff_story(handoff: PatientHandoff, s: Styles, width: float, tz: tzinfo) -> list[Flowable]:
    row = handoff.row
    story: list[Flowable] = [_Label(_patient_label(handoff))]
    level = handoff.severity.level
    colour = SEVERITY_COLOUR.get(level, STABLE_COLOUR)
    badge = Table(
        [[s.markup(f"<font color='white'><b>{escape(level.upper())}</b></font>", s.heading)]],
        colWidths=[30 * mm],
        style=[("BACKGROUND", (0, 0), (-1, -1), colour), ("ALIGN", (0, 0), (-1, -1), "CENTER")],
    )
    title = s.markup(
        f"{s.text(row.name)} · bed {s.text(row.bed or '–')} · {s.text(row.patient_id)}", s.title
    )
    story.append(
        Table(
            [[title, badge]],
            colWidths=[width - 32 * mm, 32 * mm],
            style=[("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (0, 0), 0)],
        )
    )
    story.append(Spacer(0, 2 * mm))

    # I: illness severity
    story.append(_section("I · Illness severity", s))
    story.append(
        s.markup(
            f"<b>{escape(level)}</b>: "
            + escape("; ".join(handoff.severity.reasons))
            + f" <font size=7 color='#546e7a'>(rule: {escape(SEVERITY_RULE)})</font>"
        )
    )

    # P: patient summary
    story.append(_section("P · Patient summary", s))
    course = handoff.course
    given = row.doses_given
    next_text = (
        f"next dose {row.next_dose_number}/14"
        if row.next_dose_number is not None
        else "cycle complete (14 doses recorded)"
    )
    held_lines = [
        f"C{d.cycle} dose {d.number} {'held' if d.status == 'held' else 'not given'} "
        f"{_when(d.time, tz)}" + (f": {d.reason}" if d.reason else " (no reason recorded)")
        for d in handoff.held
    ] or ["none"]
    weight = (
        "—"
        if row.weight_gain_pct is None
        else f"{row.weight_gain_pct:+.1f} % over {fmt(course.patient.weight_kg)} kg"
    )
    news = "—" if row.news2 is None else f"{row.news2} ({row.news2_response})"
    vitals = [
        _when(row.last_vitals_at, tz) + ("  — none in the last 4 h" if row.overdue else ""),
        vitals_line(latest_vitals(course), lambda t: _when(t, tz)),
    ]
    sbp = course.admission.usual_sbp_mmhg
    usual = fmt(sbp) if sbp is not None else "not recorded"
    summary: list[tuple[str, str | list[str]]] = [
        ("Cycle · dose", f"cycle {row.cycle} · {given} given · {next_text}"),
        ("Doses held", held_lines),
        (
            "Target SBP",
            f"{fmt(row.target_sbp)} mmHg (usual SBP {usual})",
        ),
        ("Weight gain", weight),
        ("NEWS2", news),
        ("Last vitals", vitals),
        ("Admitted", _when(course.admission.admitted_at, tz, "%d %b %Y %H:%M")),
    ]
    story.append(
        _table(
            [
                [
                    s.para(k, s.cell_bold),
                    [s.para(line, s.cell) for line in v]
                    if isinstance(v, list)
                    else s.para(v, s.cell),  # a paragraph per line (held dose...): each may split
                ]
                for k, v in summary
            ],
            [32 * mm, width - 32 * mm],
            header=False,
        )
    )
    story.append(Spacer(0, 2 * mm))
    story.append(
        KeepTogether(
            [
                trend_chart(handoff, width, tz),
                s.para(
                    f"Last {CHART_HOURS} h. Doses along the top: grey line given, red dashed line "
                    "held or not given; 'next' is the next dose, coloured by its advice.",
                    s.small,
                ),
            ]
        )
    )

    # Active flags
    story.append(_section("Active flags", s))
    if handoff.flags:
        rows: list[list[Any]] = [
            [s.para(h, s.cell_bold) for h in ("Severity", "Since", "Flag", "Evidence", "Source")]
        ]
        extra: list[tuple[Any, ...]] = []
        for i, flag in enumerate(handoff.flags, start=1):
            ack = handoff.acknowledged.get((flag.code, flag.time))
            message = flag.message
            if ack is not None:
                until = f", snoozed until {_when(ack.snooze_until, tz)}" if ack.snooze_until else ""
                message += f" — acknowledged by {ack.by} {_when(ack.at, tz)}{until}: {ack.reason}"
            rows.append(
                [
                    s.para(flag.severity.upper(), s.cell_bold),
                    s.para(_when(flag.time, tz), s.cell),
                    s.para(f"{message} [{flag.code}]", s.cell),
                    s.para(_evidence(flag, tz), s.cell),
                    s.para(flag.source, s.cell),
                ]
            )
            if flag.severity in FLAG_COLOUR:
                extra.append(("TEXTCOLOR", (0, i), (0, i), FLAG_COLOUR[flag.severity]))
        story.append(
            _table(
                rows,
                [
                    20 * mm,
                    18 * mm,
                    0.36 * (width - 38 * mm),
                    0.34 * (width - 38 * mm),
                    0.30 * (width - 38 * mm),
                ],
                extra=extra,
            )
        )
    else:
        story.append(s.para("No active flags."))

    # Prior ICI toxicity
    story.append(_section("Prior checkpoint-inhibitor toxicity", s))
    if handoff.prior_toxicities:
        rows = [
            [
                s.para(h, s.cell_bold)
                for h in ("Agent", "Organ", "Grade", "Onset", "Resolved", "Steroids", "Note")
            ]
        ]
        for t in handoff.prior_toxicities:
            rows.append(
                [
                    s.para(t.agent, s.cell),
                    s.para(t.irae.replace("_", " "), s.cell),
                    s.para(str(t.grade), s.cell),
                    s.para(t.onset.isoformat() if t.onset else "—", s.cell),
                    s.para(t.resolved.isoformat() if t.resolved else "not resolved", s.cell),
                    s.para("—" if t.steroids is None else ("yes" if t.steroids else "no"), s.cell),
                    s.para(t.note or "", s.cell),
                ]
            )
        # The agent as wide as its longest word ("ipilimumab+nivolumab" broke mid-word), up to
        # 45 mm; the note column gives way.
        agent_words = [
            word
            for tox in handoff.prior_toxicities
            for word in printable(tox.agent, s.font).split()
        ]
        longest = max(
            (stringWidth(word, s.font.regular, s.cell.fontSize) for word in agent_words), default=0
        )
        agent_w = min(max(28 * mm, longest + 6), 45 * mm)
        fixed = [agent_w, 22 * mm, 13 * mm, 21 * mm, 21 * mm, 16 * mm]
        story.append(_table(rows, [*fixed, width - sum(fixed)]))
    else:
        story.append(s.para("None recorded."))
    for flag in handoff.recurrences:
        assert flag.differential is not None
        organ = (flag.irae or "").replace("_", " ")
        caption = s.para(
            f"Possible recurrence of {organ} ({flag.severity}, since {_when(flag.time, tz)})",
            s.cell_bold,
        )
        caption.keepWithNext = 1  # with its table of what favours which
        story.append(caption)
        story.append(
            _table(
                [
                    [
                        s.para("Favours the old ICI toxicity", s.cell_bold),
                        s.para("Favours IL-2", s.cell_bold),
                    ],
                    [
                        s.para(
                            "; ".join(flag.differential.favors_ici) or "nothing recorded", s.cell
                        ),
                        s.para(
                            "; ".join(flag.differential.favors_il2) or "nothing recorded", s.cell
                        ),
                    ],
                ],
                [width / 2, width / 2],
            )
        )

    # A: the next dose and the to-dos
    story.append(_section("A · Next dose advice", s))
    nxt = handoff.next_dose
    if nxt is None:
        story.append(s.para("No next dose: the cycle has its 14 doses recorded."))
    else:
        hexval = ADVICE_COLOUR.get(nxt.advice, colors.black).hexval().replace("0x", "#")
        advice = s.markup(
            f"<font color='{hexval}'><b>{escape(nxt.advice.upper())}</b></font> "
            f"dose {nxt.number} of cycle {nxt.cycle}, due {escape(_when(nxt.time, tz))}"
        )
        # The advice and what it rests on are read together: never a page break between them.
        advice.keepWithNext = 1
        story.append(advice)
        if nxt.criteria:
            rows = [[s.para(h, s.cell_bold) for h in ("Criterion", "Kind", "Source")]]
            for c in nxt.criteria:
                kind = "hold (absolute)" if c.kind == "absolute" else "caution (relative)"
                rows.append(
                    [s.para(c.message, s.cell), s.para(kind, s.cell), s.para(c.source, s.cell)]
                )
            story.append(_table(rows, [0.5 * width, 26 * mm, 0.5 * width - 26 * mm]))
        else:
            story.append(s.para("No hold or caution criterion is met.", s.small))

    story.append(_section("Open to-dos", s))
    if handoff.todos:
        for todo in handoff.todos:
            box = "☐" if ord("☐") in s.font.glyphs else "[ ]"
            story.append(s.markup(f"{box} {s.text(todo.text)}"))
    else:
        story.append(s.para("None open."))

    # S, S: written by hand
    story.append(CondPageBreak(60 * mm))
    for heading in ("S · Situation awareness and contingency plans", "S · Synthesis by receiver"):
        story.append(_section(heading, s))
        story.append(_WriteLines(width, 4))
    return story


class _WriteLines(Flowable):
    """Blank ruled lines to write on."""

    def __init__(self, width: float, count: int, spacing: float = 8 * mm) -> None:
        super().__init__()
        self.width, self.count, self.spacing = width, count, spacing
        self.height = count * spacing

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        return (self.width, self.height)

    def draw(self) -> None:
        self.canv.setStrokeColor(GRID)
        self.canv.setLineWidth(0.5)
        for i in range(self.count):
            y = self.height - (i + 1) * self.spacing + 1
            self.canv.line(0, y, self.width, y)


SEVERITY_RULE = (
    "unstable = hold advised or an active critical flag; watcher = caution advised or an "
    "active warning flag; else stable"
)


def _ward_cover(
    handoffs: Sequence[PatientHandoff], s: Styles, width: float, tz: tzinfo
) -> list[Flowable]:
    story: list[Flowable] = [_Label("Ward handoff"), s.markup("Ward handoff (I-PASS)", s.title)]
    story.append(
        s.para(
            f"{len(handoffs)} patients, most unstable first. Each has its own page(s) after "
            "this one.",
            s.small,
        )
    )
    rows: list[list[Any]] = [
        [
            s.para(h, s.cell_bold)
            for h in (
                "Bed",
                "Patient",
                "Severity",
                "Cycle · dose",
                "Next dose",
                "Active flags",
                "To-dos",
            )
        ]
    ]
    extra: list[tuple[Any, ...]] = []
    for i, h in enumerate(handoffs, start=1):
        nxt = h.next_dose
        # The date too: a dose overdue since yesterday must not read as due at a time today.
        advice = (
            "cycle complete" if nxt is None else f"{nxt.advice.upper()} · {_when(nxt.time, tz)}"
        )
        rows.append(
            [
                s.para(h.row.bed or "–", s.cell),
                s.para(f"{h.row.name} ({h.row.patient_id})", s.cell),
                s.para(h.severity.level, s.cell_bold),
                s.para(h.row.dose_label, s.cell),
                s.para(advice, s.cell),
                s.para(f"{h.row.critical} critical · {h.row.warning} warning", s.cell),
                s.para(str(len(h.todos)), s.cell),
            ]
        )
        colour = SEVERITY_COLOUR.get(h.severity.level)
        if colour is not None:
            extra.append(("TEXTCOLOR", (2, i), (2, i), colour))
    fixed = [11 * mm, 0, 18 * mm, 28 * mm, 38 * mm, 34 * mm, 14 * mm]
    fixed[1] = width - sum(fixed)
    story.append(_table(rows, fixed, extra=extra))
    return story


def handoff_pdf(
    handoffs: Sequence[PatientHandoff],
    *,
    printed: Printed,
    size: str = DEFAULT_PAGE_SIZE,
    ward: bool = False,
) -> bytes:
    """Return the handoff PDF: one patient, or (`ward`) a cover list and a section per patient."""
    dims = page_size(size)
    s = _styles()
    width = dims[0] - 2 * MARGIN
    story: list[Flowable] = []
    if ward:
        story.extend(_ward_cover(handoffs, s, width, printed.tz))
    for handoff in handoffs:
        if story:
            story.append(PageBreak())
        story.extend(_handoff_story(handoff, s, width, printed.tz))
    if not story:
        story = [_Label("Ward handoff"), s.para("No patients admitted.")]
    return _build(story, dims, "Handoff (I-PASS)", printed, s)


# ---------------------------------------------------------------------------------------------
# The vitals sheet


# The vitals table is set in 6.5 pt; when its columns do not fit the paper at that size (Letter
# is 50 pt narrower than A4), in the largest size down to 5.5 pt that fits, so that words and
# units are never broken mid-word ("mmH/g"). Only below that are the columns narrowed.
VITALS_CELL_PT = 6.5
VITALS_MIN_CELL_PT = 5.5


def _flag_markup(flags: Sequence[Flag], s: Styles) -> str:
    """Return the flags of a vitals row as markup: "critical cls.syndrome; warning liver.alt",
    a critical one in red, a warning in orange (the colours of hold and caution). Not bold:
    the column is as wide as its longest code in the regular face."""
    parts = []
    for flag in flags:
        text = s.text(f"{flag.severity} {flag.code}")
        colour = FLAG_COLOUR.get(flag.severity)
        if colour is not None:
            text = f"<font color='{colour.hexval().replace('0x', '#')}'>{text}</font>"
        parts.append(text)
    return "; ".join(parts)


def _vitals_widths(
    sheet: VitalsSheet, columns: Sequence[Column], width: float, s: Styles
) -> tuple[list[float], bool]:
    """Return column widths and whether they fit: each measurement as wide as its longest word
    (header or cell), the flags column as its longest flag code, the dose and flag columns
    sharing what is left; when the page is too narrow, all scaled down (and False).
    """
    padding = 6.0  # the cell padding (2.5 pt each side) and a little slack
    size = s.cell.fontSize

    def natural(texts: Iterable[str], bold: bool = False) -> float:
        font = s.font.bold if bold else s.font.regular
        # A measurement ("290 /8 h") stays on one line; words ("moist desquamation") may wrap.
        words = [
            piece
            for text in texts
            for piece in (
                [text] if any(ch.isdigit() for ch in text) else printable(text, s.font).split()
            )
        ]
        return max((pdfmetrics.stringWidth(w, font, size) for w in words), default=0) + padding

    time_w = pdfmetrics.stringWidth("00 Sep 00:00", s.font.regular, size) + padding
    measured = [
        max(natural([c.header, c.unit], bold=True), natural(r.values[c.code] for r in sheet.rows))
        for c in columns
    ]
    rest = width - time_w - sum(measured)
    dose_min = 24 * mm
    # Flag codes wrap between flags, never inside one ("cardiac.tachycardia;" whole).
    codes = {word for r in sheet.rows for word in printable(r.flag_text(), s.font).split()}
    flag_min = max([18 * mm, *(natural([code]) for code in codes)])
    if rest >= dose_min + flag_min:
        flags = max(rest * 0.42, flag_min)
        return [time_w, rest - flags, flags, *measured], True
    scale = (width - time_w - dose_min - flag_min) / sum(measured)
    return [time_w, dose_min, flag_min, *(w * scale for w in measured)], False


def _vitals_table_layout(
    sheet: VitalsSheet, columns: Sequence[Column], width: float
) -> tuple[Styles, list[float]]:
    """Return the styles and column widths of the vitals table: the largest cell size from
    6.5 pt down to 5.5 pt at which every column fits unbroken (5.5 pt, narrowed, if none does).
    """
    cell = VITALS_CELL_PT
    while True:
        t = _styles(cell + 1)
        widths, fits = _vitals_widths(sheet, columns, width, t)
        if fits or cell <= VITALS_MIN_CELL_PT:
            return t, widths
        cell = round(cell - 0.1, 1)


def vitals_pdf(sheet: VitalsSheet, *, printed: Printed, size: str = DEFAULT_PAGE_SIZE) -> bytes:
    """Return the vitals sheet PDF: landscape, one row per time, the header row on every page."""
    dims = landscape(page_size(size))
    s = _styles(7.5)  # the title, the notes and the flags table; the table's own: below
    width = dims[0] - 2 * MARGIN
    tz = printed.tz
    label = (
        f"Bed {sheet.bed or '–'} · {sheet.name} · {sheet.patient_id} · vitals, cycle {sheet.cycle}"
    )
    story: list[Flowable] = [_Label(label)]
    story.append(
        s.para(
            f"Vitals sheet · cycle {sheet.cycle} of {len(sheet.cycles)} · {sheet.name} "
            f"({sheet.patient_id}) · bed {sheet.bed or '–'}",
            s.title,
        )
    )
    zone = getattr(tz, "key", None) or "UTC"
    story.append(
        s.para(
            f"Times in {zone}. Values in the units in each column's header (converted from "
            "the unit entered). Rows with a held dose are shaded. Empty cell: not measured.",
            s.small,
        )
    )
    columns = sheet.printed_columns()
    t, widths = _vitals_table_layout(sheet, columns, width)
    header = [
        t.para("Time", t.cell_bold),
        t.para("Dose", t.cell_bold),
        t.para("Flags raised", t.cell_bold),
    ]
    header += [
        t.markup(t.text(c.header) + (f"<br/>{t.text(c.unit)}" if c.unit else ""), t.cell_bold)
        for c in columns
    ]
    rows: list[list[Any]] = [header]
    extra: list[tuple[Any, ...]] = [("ALIGN", (3, 1), (-1, -1), "RIGHT")]

    def value(text: str) -> str | Paragraph:
        # A measurement fits its column (sized to it) and is drawn as a plain string, which
        # is many times quicker than a paragraph; words that may wrap stay paragraphs.
        if not text or any(ch.isdigit() for ch in text):
            return printable(text, t.font)
        return t.para(text, t.cell)

    extra += [
        ("FONT", (0, 1), (-1, -1), t.font.regular, t.cell.fontSize, t.cell.leading),
    ]
    for i, row in enumerate(sheet.rows, start=1):
        rows.append(
            [
                t.para(_when(row.time, tz), t.cell),
                t.para(row.dose_text(), t.cell_bold if row.held else t.cell),
                t.markup(_flag_markup(row.flags, t), t.cell),
                *(value(row.values[c.code]) for c in columns),
            ]
        )
        if row.held:
            extra.append(("BACKGROUND", (0, i), (-1, i), HELD_FILL))
    if not sheet.rows:
        story.append(s.para("Nothing recorded in this cycle."))
    else:
        story.append(_table(rows, widths, extra=extra))
    story.append(Spacer(0, 3 * mm))
    story.append(_section("Flags raised in this cycle", s))
    if sheet.flags:
        frows: list[list[Any]] = [
            [s.para(h, s.cell_bold) for h in ("Time", "Severity", "Code", "Flag", "Source")]
        ]
        for flag in sheet.flags:
            frows.append(
                [
                    s.para(_when(flag.time, tz), s.cell),
                    s.para(flag.severity + ("" if flag.active else " (no longer present)"), s.cell),
                    s.para(flag.code, s.cell),
                    s.para(flag.message, s.cell),
                    s.para(flag.source, s.cell),
                ]
            )
        fixed = [19 * mm, 24 * mm, 32 * mm]
        rest = width - sum(fixed)
        story.append(_table(frows, [*fixed, rest * 0.6, rest * 0.4]))
    else:
        story.append(s.para("None."))
    return _build(story, dims, "Vitals sheet", printed, s)
