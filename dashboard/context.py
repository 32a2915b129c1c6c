"""What every page shares: the database (one engine per process), the rules, the ward clock."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import streamlit as st

from il2_tox.course import Course
from il2_tox.rules.config import Rules, RulesError, load_rules
from il2_tox.services.course_io import iter_courses, list_admissions
from il2_tox.store import Database

TIMEZONE_ENV = "IL2TOX_TIMEZONE"


@st.cache_resource
def database() -> Database:
    """Return the process's Database (engines only: sessions are opened per rerun)."""
    return Database()


def rules() -> Rules:
    """Return the rules in force (the loader caches by file and modification time).

    A malformed site rules file stops the page with its one-line reason: no advice is shown
    rather than advice from thresholds nobody chose.
    """
    try:
        return load_rules()
    except RulesError as exc:
        st.error(f"The site rules file cannot be used, so no advice is shown: {exc}")
        st.stop()


def ward_timezone() -> ZoneInfo:
    """Return the ward's time zone (IL2TOX_TIMEZONE, default UTC) for display only."""
    return ZoneInfo(os.environ.get(TIMEZONE_ENV, "UTC"))


def now() -> datetime:
    return datetime.now(UTC)


def local(moment: datetime | None, fmt: str = "%d %b %H:%M") -> str:
    """Return a UTC time as the ward reads it."""
    if moment is None:
        return "—"
    return moment.astimezone(ward_timezone()).strftime(fmt)


def courses_of(db: Database) -> list[Course]:
    """Return the course of every current admission, read fresh from the database."""
    # One batched read (a query per table) rather than a session and queries per patient.
    ids = [item.admission_id for item in list_admissions(db)]
    return list(iter_courses(db, admissions=ids)) if ids else []
