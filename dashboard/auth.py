"""Sign-in, sign-out, and the role check every page makes before it shows anything.

The signed-in user (`SignedIn`) lives in `st.session_state`: one browser session, never cached
across users. Every page file calls `require_role(...)` first: the navigation menu lists only
the pages a role may use, but a menu is not a check (a page can be reached by its URL). The
use cases in `il2_tox.services` check the actor again on every write.
"""

from __future__ import annotations

import streamlit as st

from dashboard import context
from il2_tox.services.users import PERSON_ROLES, SignedIn, authenticate, record_sign_out

SESSION_KEY = "signed_in"
ALL_ROLES = PERSON_ROLES
SIGN_IN_FAILED = "Unknown username or wrong password."


def current_user() -> SignedIn | None:
    """Return who is signed in in this browser session, or None."""
    user = st.session_state.get(SESSION_KEY)
    return user if isinstance(user, SignedIn) else None


def sign_in(username: str, password: str) -> SignedIn | None:
    """Check the credentials (audited either way); on success keep the user in the session."""
    user = authenticate(context.database(), username, password)
    if user is not None:
        st.session_state[SESSION_KEY] = user
    return user


def sign_out() -> None:
    """Forget everything this session held (the user and any form contents); audit it."""
    user = current_user()
    if user is not None:
        record_sign_out(context.database(), user)
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def require_role(*roles: str) -> SignedIn:
    """Return the signed-in user if their role is one of `roles`; otherwise stop the page.

    Call it first in every page file, with the roles that page is for.
    """
    if not roles:
        raise ValueError("require_role needs the roles the page is for")
    user = current_user()
    if user is None:
        st.error("You are signed out. Sign in to see this page.")
        st.stop()
    if user.role not in roles:
        st.error(f"This page is for {', '.join(roles)} accounts; you are signed in as {user.role}.")
        st.stop()
    return user


def sign_in_page() -> None:
    """The sign-in form: the only page a signed-out visitor sees."""
    st.title("il2-tox · sign in")
    st.caption("HD IL-2 toxicity monitoring. Decision support, not a decision.")
    with st.form("sign_in", clear_on_submit=True):
        username = st.text_input("Username", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        if sign_in(username, password) is None:
            st.error(SIGN_IN_FAILED)
        else:
            st.rerun()


def sidebar(user: SignedIn) -> None:
    """Who is signed in (as plain text: the name is free text), and the sign-out button."""
    with st.sidebar:
        st.text(f"{user.display_name}\n{user.role} · {user.username}")
        if st.button("Sign out", icon=":material/logout:"):
            sign_out()
            st.rerun()
