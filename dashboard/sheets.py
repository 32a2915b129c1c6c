"""Download buttons for the printable sheets: the handoff PDF (ward or one patient) and the
vitals sheet (CSV or PDF). UI only: `il2_tox.services.sheets` makes the document, checks the
user and writes the audit entry.

A sheet is made only when asked ("Prepare ..."), never on a page run: the pages rerun every
few seconds, and every sheet handed out is an audited export. The prepared document is kept
in this browser session (under a key naming the patient, so another patient's never shows)
and offered with its time, so an old one is not mistaken for a new one.

Each sheet's section starts closed and its choices are drawn only while it is open (a closed
section sends its label alone): the ward and chart pages draw them on every visit.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard import auth, context
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.sheets import Export, export_handoff, export_vitals

PAGE_SIZES = ("A4", "letter")
KEY_PREFIX = "sheet:"


def section_key(scope: str) -> str:
    """Return the key of a sheet's section: `handoff:<MRN or (ward)>` or `vitals:<MRN>`."""
    return f"{KEY_PREFIX}open:{scope}"


def _section(label: str, icon: str, scope: str) -> DeltaGenerator | None:
    """Return the sheet's section to draw in if it is open; None (its label alone) if closed."""
    section = st.expander(label, icon=icon, key=section_key(scope), on_change="rerun")
    return section if section.open else None


def _paper(key: str) -> str:
    size = st.radio(
        "Paper",
        PAGE_SIZES,
        horizontal=True,
        key=f"{KEY_PREFIX}paper:{key}",
        format_func=str.capitalize,  # "A4", "Letter"
    )
    return size or PAGE_SIZES[0]


def _offer(key: str, label: str, size: str | None = None) -> None:
    """Show the download button of the document prepared under `key`, if any.

    A PDF's key names its paper: choosing another paper hides the one prepared on the first,
    so an A4 sheet is never handed out as Letter.
    """
    paper = f" on {size.capitalize()}" if size else ""  # "A4", "Letter"
    prepared = st.session_state.get(f"{KEY_PREFIX}{key}")
    if not isinstance(prepared, tuple):
        return
    export, made_at = prepared
    if not isinstance(export, Export):
        return
    st.download_button(
        label,
        data=export.data,
        file_name=export.filename,
        mime=export.media_type,
        key=f"{KEY_PREFIX}download:{key}",
        icon=":material/download:",
        on_click="ignore",
    )
    st.caption(f"Prepared {made_at}{paper} ({len(export.data) // 1024 + 1} kB).")


def _prepare(key: str, make: Callable[[], Export]) -> None:
    """Run `make()` (an export); keep its result for `_offer`, or show why it was refused."""
    try:
        export = make()
    except (Refused, PermissionDenied) as problem:
        st.error(str(problem))
        return
    st.session_state[f"{KEY_PREFIX}{key}"] = (export, context.local(context.now(), "%H:%M:%S"))


def handoff_download(patient_id: str | None = None) -> None:
    """The handoff PDF of one patient, or of the whole ward when `patient_id` is None."""
    user = auth.current_user()
    scope = f"handoff:{patient_id or '(ward)'}"
    what = "this patient" if patient_id else "the whole ward"
    section = _section(f"Print handoff sheet (I-PASS) for {what}", ":material/print:", scope)
    if section is None:
        return
    with section:
        size = _paper(scope)
        key = f"{scope}:{size}"
        if st.button("Prepare handoff PDF", key=f"{KEY_PREFIX}prepare:{scope}"):
            _prepare(
                key,
                lambda: export_handoff(
                    context.database(),
                    user,  # checked again by the service (signed out is refused)
                    patient_id=patient_id,
                    page_size=size,
                    tz=context.ward_timezone(),
                    rules=context.rules(),
                ),
            )
        _offer(key, "Download handoff PDF", size)


def vitals_download(patient_id: str, cycles: tuple[int, ...]) -> None:
    """The vitals sheet of one patient, one cycle, as CSV or PDF."""
    user = auth.current_user()
    section = _section("Print vitals sheet", ":material/table:", f"vitals:{patient_id}")
    if section is None:
        return
    with section:
        pick, kind = st.columns(2)
        cycle = pick.selectbox(
            "Cycle", cycles, index=len(cycles) - 1, key=f"{KEY_PREFIX}cycle:{patient_id}"
        )
        fmt = kind.radio(
            "File", ("PDF", "CSV"), horizontal=True, key=f"{KEY_PREFIX}fmt:{patient_id}"
        )
        key = f"vitals:{patient_id}:{cycle}:{fmt}"
        size = _paper(f"vitals:{patient_id}") if fmt == "PDF" else PAGE_SIZES[0]
        if fmt == "PDF":
            key += f":{size}"
        if st.button(f"Prepare vitals {fmt}", key=f"{KEY_PREFIX}prepare:{key}"):
            _prepare(
                key,
                lambda: export_vitals(
                    context.database(),
                    user,
                    patient_id=patient_id,
                    cycle=cycle,
                    fmt="csv" if fmt == "CSV" else "pdf",
                    page_size=size,
                    tz=context.ward_timezone(),
                    rules=context.rules(),
                ),
            )
        _offer(key, f"Download vitals {fmt}", size if fmt == "PDF" else None)
