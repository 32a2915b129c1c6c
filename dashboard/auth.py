"""Sign-in, sign-out, the idle timeout, and the role check every page makes before it shows
anything.

The signed-in user (`SignedIn`) lives in `st.session_state`: one browser session, never cached
across users. Every page file calls `require_role(...)` first: the navigation menu lists only
the pages a role may use, but a menu is not a check (a page can be reached by its URL). The
use cases in `il2_tox.services` check the actor again on every write.

Idle timeout (`IL2TOX_IDLE_MINUTES`, default 15): every run of the app script is activity; a
small fragment in the sidebar looks every 15 s and, once the time has passed, reruns the app,
which signs the user out. What the session's forms held on the server (`DRAFT_PREFIXES`) is
kept for that user (`il2_tox.services.drafts`) and put back when they sign in again. The
admission form's table of prior toxicities is kept as its rows (`dashboard.admission_form`):
its editor's value is an edit delta, which Streamlit does not let the app set back.

Values typed into a form that was never submitted exist only in the browser. So every entry
form has a "Keep as draft" submit button (`keep_draft_button`): it copies the form's values to
the server, saves nothing to the record, and is not activity (its value is True at the start
of the run it triggers: `enforce_idle_timeout` then leaves `LAST_ACTIVE` where it was). A small
script in the sidebar of the pages with such forms (`keep_watch_script`, `PageEntry.
keeps_drafts`; re-sent only by a run that is activity) presses
the Keep buttons of the forms typed in, once, `idle_keep_margin` before the timeout: what was
typed is on the server when the sign-out stores the draft.

A click that reaches the server after the timeout (before the sidebar check noticed) must not
act as the user. Streamlit runs widget callbacks before the script, so before
`enforce_idle_timeout`: every save callback is wrapped in `guarded`, which does nothing once
the time has passed but note the form; the script then signs out, and the submitted values go
into the draft with a "not saved" notice for when the user signs in again. A fragment's rerun
skips the script too: every fragment calls `rerun_if_timed_out` first.

Single sign-on: when `.streamlit/secrets.toml` has an `[auth]` section, the sign-in page also
offers `st.login` (OIDC); the identity is mapped to an account by `sso_sign_in`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec

import streamlit as st

from dashboard import admission_form, context
from dashboard.entry_form import NOT_ASSESSED
from dashboard.faults import DATABASE_FAULTS
from il2_tox.services.drafts import (
    encode_draft,
    encode_value,
    idle_expired,
    idle_timeout,
    sign_out_idle,
    split_draft,
    storable,
    take_draft,
)
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.users import (
    LOCKOUT_ATTEMPTS,
    LOCKOUT_PERIOD,
    PERSON_ROLES,
    SignedIn,
    authenticate,
    check_still_allowed,
    record_sign_out,
    sso_sign_in,
)

SESSION_KEY = "signed_in"
LAST_ACTIVE = "auth.last_active"
NOTICE = "auth.notice"
SSO_TRIED = "auth.sso_tried"
HELD = "auth.held"  # the forms submitted after the timeout in this run (not saved)
ALL_ROLES = PERSON_ROLES
SIGN_IN_FAILED = "Unknown username or wrong password."
LOCKOUT_HINT = (
    f"After {LOCKOUT_ATTEMPTS} failed attempts in a row an account is locked for "
    f"{int(LOCKOUT_PERIOD.total_seconds() // 60)} minutes; an admin can unlock it sooner."
)
SSO_BUTTON = "Sign in with single sign-on"
IDLE_CHECK = timedelta(seconds=15)
ACCOUNT_RECHECK = timedelta(seconds=10)  # a refreshing fragment re-reads the account this often
ACCOUNT_CHECKED = "auth.account_checked"
KEEP_LABEL = "Keep as draft"
KEEP_KEY = "auth.keep."  # + the form's key: the button's key (its CSS class st-key-auth-keep-...)
KEPT_NOTICE = "Kept as a draft (not saved)."
KEEP_MARGIN = timedelta(seconds=90)  # the Keep press comes this long before the timeout...
KEEP_MARGIN_MIN = timedelta(seconds=5)  # ...but at least this long, and at most half of it
# Session values kept across an idle sign-out: the entry, admission, acknowledgement and
# correction forms.
DRAFT_PREFIXES = ("entry.", "admit.", "ack.", "corr.")
# ...except the wristband check (done again after signing back in), buttons (Streamlit refuses
# a button's value set by the app), uploads and results of saves already made.
NOT_KEPT = re.compile(
    r"^entry\.(confirm|import|upload|result|unusual)\.|^admit\.admitted$"
    r"|^corr\.msg\.|^corr\.(obs|dose)\.\d+\.\d+\.(save|withdraw)$"
)


P = ParamSpec("P")


def current_user() -> SignedIn | None:
    """Return who is signed in in this browser session, or None."""
    user = st.session_state.get(SESSION_KEY)
    return user if isinstance(user, SignedIn) else None


def now() -> datetime:
    return datetime.now(UTC)


def _start_session(user: SignedIn) -> None:
    """Keep the user in the session, and give back what their forms held at an idle timeout."""
    st.session_state.pop(NOTICE, None)
    st.session_state[SESSION_KEY] = user
    st.session_state[LAST_ACTIVE] = now()
    try:
        restored = take_draft(context.database(), user)
    except PermissionDenied:
        restored = None
    if restored:
        values, unsaved, minutes = split_draft(restored)
        for key, value in values.items():
            st.session_state[key] = value
        # Bedside entry opens on a patient the draft holds a form for, not on the first bed.
        patients = sorted({int(f[1]) for key in values if (f := ENTRY_ADMISSION.match(key))})
        if patients:
            st.session_state[RESTORED_ADMISSIONS] = patients
        notice = (
            f"Restored {_restored_count(values)} your forms held when you were signed out for "
            "inactivity. They were not saved: check them, then save."
        )
        if unsaved:
            notice = (
                f"Not saved: {', '.join(unsaved)}. You were signed out after "
                f"{_minutes(minutes)} without activity before it reached the server. What you "
                "entered is back in the form: check it and save. " + notice
            )
        st.session_state[NOTICE] = notice


def _restored_count(values: Mapping[str, Any]) -> str:
    """Return what a restored draft holds, in words: "12 value(s) and 2 table row(s)".

    The table of prior toxicities is one draft value holding its rows: its rows are counted.
    """
    rows = values.get(admission_form.TOXICITY_DRAFT)
    count = len(values) - (admission_form.TOXICITY_DRAFT in values)
    text = f"{count} value(s)"
    if isinstance(rows, list) and rows:
        text += f" and {len(rows)} table row(s) of prior toxicities"
    return text


def sign_in(username: str, password: str) -> SignedIn | None:
    """Check the credentials (audited either way); on success keep the user in the session."""
    user = authenticate(context.database(), username, password)
    if user is not None:
        _start_session(user)
    return user


def sign_out() -> None:
    """Forget everything this session held (the user and any form contents); audit it."""
    user = current_user()
    if user is not None:
        record_sign_out(context.database(), user)
    _forget_session()
    if sso_configured() and _sso_logged_in():
        st.logout()


def _forget_session() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]


# ---------------------------------------------------------------------------------------------
# Idle timeout


# The admission ids of the entry forms a restored draft holds (Bedside entry opens on the first).
RESTORED_ADMISSIONS = "auth.restored_admissions"
ENTRY_ADMISSION = re.compile(r"^entry\.[a-z]+\.(\d+)\.\d+\.")
# One form's widgets: entry.<form>.<admission>.<generation>.<field>, admit.<generation>.<field>.
FORM_FIELD = re.compile(r"^(entry\.[a-z]+\.\d+\.\d+|admit\.\d+)\.(.+)$")
CLOCK_FIELDS = frozenset({"date", "time", "admitted_date", "admitted_time"})
UNTYPED = (None, "", NOT_ASSESSED)


def draft_values(state: Mapping[str, Any]) -> dict[str, Any]:
    """Return the session values an idle sign-out keeps: the forms', less what must not be.

    A form with nothing typed in it (every field empty or "not assessed") keeps nothing: its
    date and time are only when it was drawn, and put back after the sign-in they would stand
    as a stale observation, dose or admission time in an empty form. The admission form's
    table of prior toxicities is kept as its rows (`admission_form.TOXICITY_DRAFT`, see
    `admission_form.rows_to_draft`), not as the editor's delta; an empty table keeps nothing.
    """
    kept = {
        key: value
        for key, value in state.items()
        if isinstance(key, str)
        and key.startswith(DRAFT_PREFIXES)
        and not NOT_KEPT.match(key)
        and not admission_form.TABLE_STATE.match(key)
        and key != admission_form.TOXICITY_DRAFT
    }
    typed: set[str] = set()
    for key, value in kept.items():
        found = FORM_FIELD.match(key)
        if found and found[2] not in CLOCK_FIELDS and not _untyped(value):
            typed.add(found[1])
    # The admission form's table: its editor holds a delta, so the draft keeps its rows. It is
    # one draft value: a table too long to store as one is left out, so the rest of the draft
    # is still stored (a value over the limit would refuse the whole draft).
    rows = admission_form.table_draft(state)
    if rows:
        typed.add(f"admit.{state.get(admission_form.GEN, 0)}")
        if storable(encode_value(rows)):
            kept[admission_form.TOXICITY_DRAFT] = rows
    return {
        key: value
        for key, value in kept.items()
        if (found := FORM_FIELD.match(key)) is None or found[1] in typed
    }


def _untyped(value: object) -> bool:
    return any(value is blank or value == blank for blank in UNTYPED) or value == []


def _minutes(minutes: int | None) -> str:
    if minutes is None:
        return "the idle time"
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


def timed_out(at: datetime | None = None) -> bool:
    """Return whether this session may no longer act as its user: signed out, or idle too long.

    A timeout that is not configured correctly counts as timed out (the script then stops with
    its reason).
    """
    if current_user() is None:
        return True
    try:
        timeout = idle_timeout()
    except ValueError:
        return True
    last = st.session_state.get(LAST_ACTIVE)
    return isinstance(last, datetime) and idle_expired(last, at or now(), timeout)


def guarded(
    form: str | Callable[..., str] | None,
) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Run the decorated widget callback only if the session has not timed out.

    Every callback that saves or acknowledges as the user needs this: Streamlit runs callbacks
    before the script, so before `enforce_idle_timeout` sees the timeout. A timed-out callback
    does nothing but name `form` (a text, or a function of the callback's arguments) in the
    session; the script then signs out and keeps the submitted values as an unsaved draft.
    `form` None is for a callback that saves nothing (opening or closing a form): timed out, it
    does nothing and names nothing.
    """

    def wrap(action: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(action)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            if not timed_out():
                action(*args, **kwargs)
                return
            if current_user() is None or form is None:
                return
            name = form if isinstance(form, str) else form(*args, **kwargs)
            held = st.session_state.get(HELD)
            st.session_state[HELD] = [*(held if isinstance(held, list) else []), name]

        return run

    return wrap


def enforce_idle_timeout(at: datetime | None = None) -> None:
    """Sign the user out if the session has been idle for the timeout; else note the activity.

    Call once at the top of the app script, before anything is shown. A timeout that is not
    configured correctly stops the app with its one-line reason.
    """
    user = current_user()
    if user is None:
        return
    moment = at or now()
    try:
        timeout = idle_timeout()
    except ValueError as error:
        st.error(f"The site configuration cannot be used: {error}")
        st.stop()
    last = st.session_state.get(LAST_ACTIVE)
    held = st.session_state.pop(HELD, None)
    if isinstance(last, datetime) and idle_expired(last, moment, timeout):
        _idle_sign_out(user, timeout, moment, held if isinstance(held, list) else [])
        return
    if keep_pressed(st.session_state.to_dict()) and isinstance(last, datetime):
        return  # a "Keep as draft" press (often the browser's own) is not activity
    st.session_state[LAST_ACTIVE] = moment


def _idle_sign_out(user: SignedIn, timeout: timedelta, at: datetime, held: list[str]) -> None:
    contents, _skipped = encode_draft(draft_values(st.session_state.to_dict()))
    kept = False
    try:
        kept = bool(
            sign_out_idle(context.database(), user, contents, unsaved=held, timeout=timeout, now=at)
            or held
        )
    except PermissionDenied:
        record_sign_out(context.database(), user, reason="idle timeout")
    except Refused:
        record_sign_out(context.database(), user, reason="idle timeout (draft not storable)")
    _forget_session()
    message = (
        f"You were signed out after {_minutes(int(timeout.total_seconds() // 60))} without "
        "activity."
    )
    if held:
        message += f" Not saved: {', '.join(dict.fromkeys(held))}."
    if kept:
        message += " What your forms held is kept and comes back when you sign in again."
    st.session_state[NOTICE] = message


def keep_pressed(state: Mapping[str, Any]) -> bool:
    """Return whether this run is a "Keep as draft" press: a Keep button's value is True.

    A pressed button is True in the session from the start of the run it triggers, before the
    script (and without a callback, which would run before the idle check).
    """
    return any(
        isinstance(key, str) and key.startswith(KEEP_KEY) and state[key] is True for key in state
    )


def keep_draft_button(form: str) -> None:
    """Draw the "Keep as draft" submit button of the form with key `form` (call inside it).

    Pressing it (by hand, or by `keep_watch_script` before the timeout) sends the form's values
    to the server, where an idle sign-out keeps them as the user's draft; it saves nothing to
    the record and is not activity. Its run says so under the button.
    """
    pressed = st.form_submit_button(
        KEEP_LABEL,
        key=f"{KEEP_KEY}{form}",
        icon=":material/inventory_2:",
        help="Keeps what is typed here for you if you are signed out for inactivity. "
        "Nothing is saved to the record.",
    )
    if pressed:
        st.info(KEPT_NOTICE, icon=":material/inventory_2:")


def idle_keep_margin(timeout: timedelta) -> timedelta:
    """Return how long before the timeout the browser presses "Keep as draft".

    `KEEP_MARGIN` (room for a slow network or a busy browser), at most half the timeout, at
    least `KEEP_MARGIN_MIN`: for 15 minutes, 90 s; for 1 minute, 30 s.
    """
    return max(KEEP_MARGIN_MIN, min(KEEP_MARGIN, timeout / 2))


KEEP_SCRIPT = """<script>
(function () {
  // il2-tox: press "Keep as draft" in the forms typed in, once, before the idle sign-out.
  var period = %(period)s, waitMs = %(wait_ms)d, selector = %(selector)s;
  var doc = window.parent.document, shared = window.parent;
  var state = shared.__il2toxKeep;
  if (!state || state.period !== period) {
    // A new idle period starts with the run that sent this script (activity on the server).
    state = shared.__il2toxKeep = {period: period, due: Date.now() + waitMs, pressed: false};
  }
  var events = ["input", "change", "keydown", "paste"];
  function typed(event) {
    var target = event.target;
    var form = target && target.closest && target.closest('[data-testid="stForm"]');
    if (form) { form.setAttribute("data-il2tox-typed", "1"); }
  }
  events.forEach(function (name) { doc.addEventListener(name, typed, true); });
  window.addEventListener("pagehide", function () {
    events.forEach(function (name) { doc.removeEventListener(name, typed, true); });
  });
  var timer = setInterval(function () {
    if (shared.__il2toxKeep !== state) { clearInterval(timer); return; }
    if (state.pressed || Date.now() < state.due) { return; }
    state.pressed = true;  // once per idle period, whether or not a form was typed in
    clearInterval(timer);
    doc.querySelectorAll('[data-testid="stForm"][data-il2tox-typed]').forEach(function (form) {
      form.removeAttribute("data-il2tox-typed");
      form.querySelectorAll(selector).forEach(function (button) { button.click(); });
    });
  }, 1000);
})();
</script>"""


def keep_watch_script(last_active: datetime, timeout: timedelta) -> str:
    """Return the browser script that presses the typed-in forms' Keep buttons before timeout.

    It presses them once, `timeout - idle_keep_margin(timeout)` after it arrives; it arrives
    with each run that is activity (`last_active` names the idle period, so a run that is not
    activity sends the same script and starts no new period). A form nobody typed in since the
    last press is not pressed: nothing new to keep.
    """
    wait = timeout - idle_keep_margin(timeout)
    return KEEP_SCRIPT % {
        "period": json.dumps(last_active.isoformat()),
        "wait_ms": int(wait.total_seconds() * 1000),
        "selector": json.dumps('[class*="st-key-auth-keep-"] button'),
    }


def _keep_watch() -> None:
    last = st.session_state.get(LAST_ACTIVE)
    try:
        timeout = idle_timeout()
    except ValueError:
        return  # enforce_idle_timeout has stopped the app with the reason
    if isinstance(last, datetime):
        st.iframe(keep_watch_script(last, timeout), height="content")


def rerun_if_timed_out() -> None:
    """Rerun the whole app (which signs out) if the session has timed out; else do nothing.

    Call first in every fragment: a fragment's rerun skips the top of the app script, so
    without this a refreshing fragment, or a click inside one, would still read as the user
    after the timeout. The check itself is not activity. It also re-reads the account (at most
    every `ACCOUNT_RECHECK`): a chart left open by an account since disabled, or given another
    role, is signed out here (audited), as a page run would.
    """
    user = current_user()
    if user is None:
        return
    if timed_out():
        st.rerun(scope="app")
    denied = _revoked(user)
    if denied is not None:
        record_sign_out(context.database(), user, reason="account no longer allowed")
        _forget_session()
        st.session_state[NOTICE] = f"{denied} You have been signed out."
        st.rerun(scope="app")


def _revoked(user: SignedIn) -> str | None:
    """Return why the account, read now, may no longer act in its role (see
    `check_still_allowed`), or None; read at most every ACCOUNT_RECHECK. A database fault
    counts as allowed, as on pages: what is shown was read before, and every save checks."""
    at = now()
    last = st.session_state.get(ACCOUNT_CHECKED)
    if isinstance(last, datetime) and timedelta(0) <= at - last < ACCOUNT_RECHECK:
        return None
    try:
        check_still_allowed(context.database(), user, (user.role,), "see this page")
    except DATABASE_FAULTS:
        return None
    except PermissionDenied as denied:
        return str(denied)
    st.session_state[ACCOUNT_CHECKED] = at
    return None


@st.fragment(run_every=IDLE_CHECK)
def _idle_watch() -> None:
    """Rerun the app once the session has timed out (this check itself is not activity)."""
    rerun_if_timed_out()


# ---------------------------------------------------------------------------------------------
# Single sign-on


def sso_configured() -> bool:
    """Return whether `.streamlit/secrets.toml` has an `[auth]` section (OIDC via st.login)."""
    try:
        section = st.secrets.get("auth")
    except (FileNotFoundError, KeyError):
        return False
    return isinstance(section, Mapping) and bool(section)


def _sso_provider() -> str | None:
    """Return the provider name of `[auth.NAME]`, or None for a single unnamed provider."""
    section = st.secrets.get("auth") or {}
    named = [name for name, value in section.items() if isinstance(value, Mapping)]
    return named[0] if named else None


def _sso_logged_in() -> bool:
    try:
        return bool(st.user.is_logged_in)
    except (AttributeError, KeyError):
        return False


def _sso_claims() -> dict[str, Any]:
    """Return the identity provider's claims about the person (`sub`, `email`, ...)."""
    return dict(st.user.to_dict())


def _sso_gate() -> None:
    """Map a person signed in with the identity provider to their account (once a session)."""
    if not _sso_logged_in():
        return
    if not st.session_state.get(SSO_TRIED):
        st.session_state[SSO_TRIED] = True
        user = sso_sign_in(context.database(), _sso_claims())
        if user is not None:
            _start_session(user)
            st.rerun()
    st.error(
        "Your single sign-on identity has no active account here. Ask an admin to map it to "
        "your account, or sign in with a username and password."
    )
    if st.button("Sign out of single sign-on"):
        st.session_state.pop(SSO_TRIED, None)
        st.logout()


# ---------------------------------------------------------------------------------------------
# Pages


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
    try:  # what the session remembers is not enough: the account as it is now
        check_still_allowed(context.database(), user, roles, "see this page")
        st.session_state[ACCOUNT_CHECKED] = now()  # the fragments' re-read can wait 10 s
    except DATABASE_FAULTS:
        # The database is down or busy: the page shows what this session last read (and
        # says so) and every save still checks the account itself.
        pass
    except PermissionDenied as denied:
        record_sign_out(context.database(), user, reason="account no longer allowed")
        _forget_session()
        st.error(f"{denied} You have been signed out.")
        st.stop()
    return user


def sign_in_page() -> None:
    """The sign-in form: the only page a signed-out visitor sees."""
    st.title("il2-tox · sign in")
    st.caption("HD IL-2 toxicity monitoring. Decision support, not a decision.")
    notice = st.session_state.get(NOTICE)
    if notice:
        st.info(notice)
    if sso_configured():
        _sso_gate()
        if not _sso_logged_in() and st.button(SSO_BUTTON, icon=":material/key:"):
            st.login(_sso_provider())
    with st.form("sign_in", clear_on_submit=True):
        username = st.text_input("Username", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        if sign_in(username, password) is None:
            st.error(SIGN_IN_FAILED)
            st.caption(LOCKOUT_HINT)
        else:
            st.rerun()


def sidebar(user: SignedIn, *, keep_drafts: bool = False) -> None:
    """Who is signed in (as plain text: the name is free text), and the sign-out button.

    `keep_drafts`: the page has forms with a "Keep as draft" button, so the sidebar also
    carries the script that presses them before the timeout. Other pages go without: the
    script is an iframe, a new document on every navigation, a fifth of a ward page's drawing.
    """
    with st.sidebar:
        st.text(f"{user.display_name}\n{user.role} · {user.username}")
        notice = st.session_state.pop(NOTICE, None)
        if notice:
            st.info(notice)
        if st.button("Sign out", icon=":material/logout:"):
            sign_out()
            st.rerun()
        _idle_watch()
        if keep_drafts:
            _keep_watch()
