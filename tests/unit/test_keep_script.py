"""The browser script that presses "Keep as draft" before the idle sign-out: when it presses
(the timeout less a margin), which idle period it belongs to, and which buttons it presses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.auth import KEEP_KEY, idle_keep_margin, keep_pressed, keep_watch_script

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("timeout", "margin"),
    [
        (timedelta(minutes=15), timedelta(seconds=90)),
        (timedelta(minutes=720), timedelta(seconds=90)),
        (timedelta(minutes=3), timedelta(seconds=90)),
        (timedelta(minutes=2), timedelta(seconds=60)),
        (timedelta(minutes=1), timedelta(seconds=30)),
        (timedelta(seconds=8), timedelta(seconds=5)),  # never less than 5 s
    ],
)
def test_the_keep_comes_the_margin_before_the_timeout(
    timeout: timedelta, margin: timedelta
) -> None:
    assert idle_keep_margin(timeout) == margin


def waits(script: str) -> int:
    (found,) = re.findall(r"waitMs = (\d+)", script)
    return int(found)


def test_the_script_waits_the_timeout_less_the_margin() -> None:
    assert waits(keep_watch_script(T0, timedelta(minutes=15))) == 810_000  # 13:30
    assert waits(keep_watch_script(T0, timedelta(minutes=1))) == 30_000


def test_the_script_names_its_idle_period_by_the_last_activity() -> None:
    script = keep_watch_script(T0, timedelta(minutes=15))
    assert 'period = "2026-11-27T03:00:00+00:00"' in script
    # A run that is not activity sends the very same script: no new period, no second press.
    assert keep_watch_script(T0, timedelta(minutes=15)) == script
    later = keep_watch_script(T0 + timedelta(seconds=1), timedelta(minutes=15))
    assert later != script


def test_the_script_presses_only_keep_buttons_of_forms_typed_in_once_a_period() -> None:
    script = keep_watch_script(T0, timedelta(minutes=15))
    assert 'selector = "[class*=\\"st-key-auth-keep-\\"] button"' in script
    assert KEEP_KEY == "auth.keep."  # the button's key, whose CSS class the selector names
    assert "[data-il2tox-typed]" in script
    assert "state.pressed = true" in script
    assert script.startswith("<script>") and script.endswith("</script>")
    for event in ("input", "change", "keydown", "paste"):
        assert f'"{event}"' in script


def test_a_run_is_a_keep_press_only_when_a_keep_button_is_true() -> None:
    assert keep_pressed({"auth.keep.entry.form.obs.1.0": True, "entry.obs.1.0.hr": 80.0})
    assert not keep_pressed({"auth.keep.entry.form.obs.1.0": False})
    assert not keep_pressed({"entry.keep": True, "auth.last_active": T0})
