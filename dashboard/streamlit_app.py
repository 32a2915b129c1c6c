"""il2-tox dashboard entry point: page set-up, the sign-in gate, and navigation by role.

Run with `make run` (or `streamlit run dashboard/streamlit_app.py` from the repository).
Signed out, the only page is the sign-in form. Signed in, the menu lists the pages of `PAGES`
the user's role may use. The menu is a convenience, not the check: each page file calls
`auth.require_role(...)` itself, with the same roles as its row here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

# `streamlit run` puts only this folder on sys.path; the product's core lives one level up.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import auth, warm  # noqa: E402

NURSE, PHYSICIAN, ADMIN = "nurse", "physician", "admin"


class PageEntry(NamedTuple):
    file: str  # in dashboard/app_pages/
    title: str
    icon: str
    roles: tuple[str, ...]
    # The page has forms with a "Keep as draft" button: the sidebar then carries the script
    # that presses them before the idle sign-out (an iframe, so only where it has work).
    keeps_drafts: bool = False


# Every page of the dashboard, in menu order; the first a role may use is its start page.
# Adding a page is one line here, and `auth.require_role(<the same roles>)` atop its file.
PAGES: list[PageEntry] = [
    PageEntry("ward.py", "Ward overview", ":material/bed:", (NURSE, PHYSICIAN, ADMIN)),
    PageEntry("patient.py", "Patient chart", ":material/monitoring:", (NURSE, PHYSICIAN, ADMIN)),
    PageEntry("entry.py", "Bedside entry", ":material/edit_note:", (NURSE, PHYSICIAN), True),
    PageEntry("flags.py", "Flags", ":material/flag:", (NURSE, PHYSICIAN)),
    PageEntry("admission.py", "Admit patient", ":material/person_add:", (NURSE, PHYSICIAN), True),
    PageEntry("accounts.py", "Accounts", ":material/manage_accounts:", (ADMIN,)),
    PageEntry("audit.py", "Audit log", ":material/history:", (ADMIN,)),
]

st.set_page_config(page_title="il2-tox · HD IL-2 ward", page_icon="🩺", layout="wide")
# Once per process: the libraries out of the garbage collector's sight, and no full collection
# after every script run (the server answers nobody meanwhile: dashboard/warm.py).
warm.freeze_libraries()

auth.enforce_idle_timeout()
user = auth.current_user()
if user is None:
    navigation = st.navigation(
        [st.Page(auth.sign_in_page, title="Sign in", icon=":material/login:", default=True)]
    )
else:
    allowed = [page for page in PAGES if user.role in page.roles]
    if not allowed:
        st.error(f"No page is open to the role {user.role}.")
        auth.sidebar(user)
        st.stop()
    folder = ROOT / "dashboard" / "app_pages"
    navigation = st.navigation(
        [
            st.Page(str(folder / page.file), title=page.title, icon=page.icon, default=i == 0)
            for i, page in enumerate(allowed)
        ]
    )
    shown = next(page for page in allowed if page.title == navigation.title)
    auth.sidebar(user, keep_drafts=shown.keeps_drafts)
navigation.run()
