"""The PDFs' font, and text made printable in it.

DejaVu Sans when the system has it (Debian's fonts-dejavu-core, or a folder named by
IL2TOX_PDF_FONT_DIR), else the Vera font that ships inside ReportLab (Latin-1 letters only). A
character the font has no glyph for prints as its code point (`[U+0142]`), never as an empty
box and never dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import reportlab
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_DIR_ENV = "IL2TOX_PDF_FONT_DIR"


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str
    glyphs: frozenset[int]  # the code points the regular font can draw


_FONT_CANDIDATES = (
    ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("Vera.ttf", "VeraBd.ttf"),
)


def _font_dirs() -> list[Path]:
    dirs = []
    if os.environ.get(FONT_DIR_ENV):
        dirs.append(Path(os.environ[FONT_DIR_ENV]))
    dirs.append(Path("/usr/share/fonts/truetype/dejavu"))
    dirs.append(Path(reportlab.__file__).parent / "fonts")
    return dirs


@lru_cache(maxsize=4)
def fonts(font_dir: str | None = None) -> Fonts:
    """Return the registered fonts: DejaVu Sans if found, else ReportLab's own Vera."""
    dirs = [Path(font_dir)] if font_dir else _font_dirs()
    for regular, bold in _FONT_CANDIDATES:
        for folder in dirs:
            if (folder / regular).is_file() and (folder / bold).is_file():
                name = Path(regular).stem
                face = TTFont(f"il2tox-{name}", str(folder / regular))
                pdfmetrics.registerFont(face)
                pdfmetrics.registerFont(TTFont(f"il2tox-{name}-Bold", str(folder / bold)))
                return Fonts(
                    f"il2tox-{name}", f"il2tox-{name}-Bold", frozenset(face.face.charToGlyph)
                )
    raise FileNotFoundError("no TrueType font found for the PDF (not even ReportLab's Vera)")


def printable(text: str, font: Fonts) -> str:
    """Return text the font can draw: each character it lacks becomes `[U+XXXX]`, visibly.

    Tabs and newlines are kept as spaces (a table cell is one paragraph).
    """
    out = []
    for char in text:
        if char in "\t\r\n":
            out.append(" ")
        elif ord(char) in font.glyphs:
            out.append(char)
        else:
            out.append(f"[U+{ord(char):04X}]")
    return "".join(out)
