"""Accounts (admins): add accounts, disable and enable them, unlock them, reset passwords, and
map single sign-on identities. Accounts are never deleted.

UI only: each change is a use case of `il2_tox.services.users`, which checks that the actor is
an active admin and writes the change with its audit entry. A refused change names its field
here, and the form keeps what was typed.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import auth, context
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.users import (
    PERSON_ROLES,
    UserSummary,
    add_user,
    list_users,
    reset_password,
    set_active,
    set_sso_subject,
    unlock_user,
)

DONE = "accounts.done"
LABELS = {
    "username": "Username",
    "display_name": "Display name",
    "role": "Role",
    "password": "Password",
    "reason": "Reason",
    "sso_subject": "Single sign-on identity",
}


def _state(account: UserSummary) -> str:
    if not account.active:
        return "disabled"
    if account.locked(context.now()):
        return f"locked until {context.local(account.locked_until, '%H:%M')}"
    return "active"


def _table(accounts: list[UserSummary]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Username": [a.username for a in accounts],
            "Name": [a.display_name for a in accounts],
            "Role": [a.role for a in accounts],
            "State": [_state(a) for a in accounts],
            "Failed sign-ins": [a.failed_attempts for a in accounts],
            "Sign-on identity": [a.sso_subject or "" for a in accounts],
            "Created": [context.local(a.created_at, "%d %b %Y") for a in accounts],
        }
    )


def _show_refusal(error: Refused | PermissionDenied) -> None:
    if isinstance(error, Refused):
        for field, message in error.errors.items():
            st.error(f"{LABELS.get(field, field)}: {message}")
    else:
        st.error(str(error))


def _done(message: str) -> None:
    st.session_state[DONE] = message
    st.rerun()


user = auth.require_role("admin")
st.title("Accounts", anchor=False)
st.caption(
    "Accounts are never deleted: disable one that should no longer sign in. Every change is in "
    "the audit log."
)
db = context.database()
done = st.session_state.pop(DONE, None)
if done:
    st.success(done)
accounts = [a for a in list_users(db) if a.role in PERSON_ROLES]
st.dataframe(_table(accounts), hide_index=True, width="stretch")

with st.expander("Add an account", icon=":material/person_add:"):
    with st.form("accounts.add", enter_to_submit=False):
        first, second = st.columns(2)
        username = first.text_input(LABELS["username"], key="accounts.add.username", max_chars=64)
        display = second.text_input(
            LABELS["display_name"], key="accounts.add.display_name", max_chars=200
        )
        role = first.selectbox(LABELS["role"], PERSON_ROLES, index=None, key="accounts.add.role")
        password = first.text_input(
            LABELS["password"], type="password", key="accounts.add.password"
        )
        again = second.text_input("Password again", type="password", key="accounts.add.again")
        st.caption(
            "At least 8 characters; not the username, not a common password, not one "
            "character repeated."
        )
        added = st.form_submit_button("Add account", type="primary")
    if added:
        if password != again:
            st.error("Password: the two entries differ")
        else:
            try:
                made = add_user(db, username, role or "", password, display, actor=user)
            except (Refused, PermissionDenied) as error:
                _show_refusal(error)
            else:
                _done(f"Added {made.username} ({made.role}).")

if not accounts:
    st.stop()
st.subheader("Change an account", anchor=False)
names = [a.username for a in accounts]
chosen = st.selectbox(LABELS["username"], names, key="accounts.chosen")
target = next(a for a in accounts if a.username == chosen)
st.text(f"{target.display_name} · {target.role} · {_state(target)}")

disable_tab, unlock_tab, reset_tab, sso_tab = st.tabs(
    ["Disable / enable", "Unlock", "Reset password", "Single sign-on"]
)
with disable_tab, st.form(f"accounts.active.{chosen}", enter_to_submit=False):
    reason = st.text_input("Reason (kept in the audit log)", key=f"accounts.active.{chosen}.reason")
    label = "Disable account" if target.active else "Enable account"
    if st.form_submit_button(label):
        try:
            changed = set_active(db, chosen, not target.active, actor=user, reason=reason)
        except (Refused, PermissionDenied) as error:
            _show_refusal(error)
        else:
            _done(f"{changed.username} is now {'active' if changed.active else 'disabled'}.")

with unlock_tab:
    if target.failed_attempts or target.locked_until is not None:
        st.caption(f"{target.failed_attempts} failed sign-in(s) in a row; {_state(target)}.")
        if st.button("Unlock now", key=f"accounts.unlock.{chosen}"):
            try:
                unlock_user(db, chosen, actor=user)
            except (Refused, PermissionDenied) as error:
                _show_refusal(error)
            else:
                _done(f"{chosen} is unlocked.")
    else:
        st.caption("Not locked, and no failed sign-ins.")

with reset_tab, st.form(f"accounts.reset.{chosen}", enter_to_submit=False):
    new = st.text_input("New password", type="password", key=f"accounts.reset.{chosen}.new")
    new_again = st.text_input(
        "New password again", type="password", key=f"accounts.reset.{chosen}.again"
    )
    why = st.text_input("Reason for the reset", key=f"accounts.reset.{chosen}.reason")
    if st.form_submit_button("Reset password"):
        if new != new_again:
            st.error("Password: the two entries differ")
        else:
            try:
                reset_password(db, chosen, new, actor=user, reason=why)
            except (Refused, PermissionDenied) as error:
                _show_refusal(error)
            else:
                _done(f"{chosen}: password reset (and any lock ended).")

with sso_tab, st.form(f"accounts.sso.{chosen}", enter_to_submit=False):
    st.caption(
        "The identity the single sign-on provider gives: its `sub`, or a verified e-mail "
        "address. Signing in with it is signing in as this account, with its role. Leave "
        "blank to remove."
    )
    identity = st.text_input(
        LABELS["sso_subject"],
        value=target.sso_subject or "",
        key=f"accounts.sso.{chosen}.subject",
        max_chars=255,
    )
    if st.form_submit_button("Save identity"):
        try:
            mapped = set_sso_subject(db, chosen, identity, actor=user)
        except (Refused, PermissionDenied) as error:
            _show_refusal(error)
        else:
            _done(f"{mapped.username}: sign-on identity {mapped.sso_subject or 'removed'}.")
