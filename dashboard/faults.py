"""When the database cannot be reached or is busy: say so, keep what was typed, carry on.

A page that reads before it draws its forms would otherwise stop with a traceback, and a form
not drawn loses what was typed in it (Streamlit forgets a widget that is not drawn in a run).
`read_or_last` returns the value last read in this session instead, and `offline_notice` says
the page shows an earlier reading. A save that fails keeps its form as typed (the pages set a
new, empty form only after a save succeeds) and shows `SAVE_FAILED`; the form keeps its
idempotency key, so pressing Save again once the database is back stores the entry once, even
when the first attempt did reach the database and only its answer was lost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import streamlit as st
from sqlalchemy.exc import InterfaceError, OperationalError

from dashboard import context

# What a database that is down, unreachable, restarting or locked raises (SQLite: "database is
# locked" after the busy timeout; PostgreSQL: connection refused or lost).
DATABASE_FAULTS = (OperationalError, InterfaceError)

SAVE_FAILED = (
    "The database cannot be reached or is busy ({why}): this entry is not saved. What you "
    "typed is kept; press Save again when the database is back (an entry that did arrive is "
    "never stored twice)."
)
_LAST = "faults.last_read"
_OFFLINE = "faults.offline_since"

T = TypeVar("T")


def why(error: Exception) -> str:
    """Return the database's own one-line reason ("database is locked", "connection refused")."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return (lines[0] if lines else type(original).__name__)[:200]


def save_failed(error: Exception) -> str:
    """Return the message shown beside Save when a save could not reach the database."""
    return SAVE_FAILED.format(why=why(error))


def read_or_last(name: str, read: Callable[[], T]) -> T:
    """Return `read()`; if the database cannot be reached, what `name` read last in this
    session (and mark the page as showing an earlier reading). Stop the page with a clear
    message when there is no earlier reading."""
    last: dict[str, tuple[object, datetime]] = st.session_state.setdefault(_LAST, {})
    try:
        value = read()
    except DATABASE_FAULTS as error:
        st.session_state[_OFFLINE] = why(error)
        if name not in last:
            st.error(
                f"The database cannot be reached ({why(error)}). Nothing can be shown or saved "
                "until it is back; this page tries again when you reload it."
            )
            st.stop()
        stored, _ = last[name]
        return stored  # type: ignore[return-value]
    last[name] = (value, datetime.now(UTC))
    return value


def offline_notice(entry: bool = True) -> None:
    """Say, once per run, that the page shows an earlier reading (if `read_or_last` fell back);
    `entry`: the page has forms (what is typed is kept, Save works once the database is back)."""
    reason = st.session_state.pop(_OFFLINE, None)
    if reason is None:
        return
    last: dict[str, tuple[object, datetime]] = st.session_state.get(_LAST, {})
    since = min((at for _, at in last.values()), default=None)
    st.warning(
        f"The database cannot be reached ({reason}): the patient and advice shown are as last "
        f"read at {context.local(since, '%H:%M:%S')}."
        + (" What you type is kept; Save works once the database is back." if entry else ""),
        icon=":material/cloud_off:",
    )
