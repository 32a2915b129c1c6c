"""The site rules file: shipped defaults load, every entry has a source, bad files are refused."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from il2_tox.rules.config import DEFAULT_RULES_PATH, RulesError, load_rules
from il2_tox.rules.docs import render_markdown

REPO = Path(__file__).resolve().parents[2]
SHIPPED = DEFAULT_RULES_PATH.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site-rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(RulesError) as caught:
        load_rules(write(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_it_loads_the_shipped_defaults() -> None:
    rules = load_rules(DEFAULT_RULES_PATH)
    assert rules.rule("hold.heart_rate").num("above") == 130
    assert rules.default_high("1742-6") == 40


def test_every_rule_and_reference_cites_a_known_source() -> None:
    rules = load_rules(DEFAULT_RULES_PATH)
    for code, rule in rules.rules.items():
        assert rule.source_ids, code
        assert rules.source(code)
    for ref in rules.reference.values():
        assert all(s in rules.sources for s in ref.source_ids)


def test_it_uses_the_file_named_by_il2tox_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, SHIPPED.replace("above = 130", "above = 125", 1))
    monkeypatch.setenv("IL2TOX_RULES", str(path))
    assert load_rules().rule("hold.heart_rate").num("above") == 125


def test_it_refuses_invalid_toml(tmp_path: Path) -> None:
    assert "not valid TOML" in refusal(tmp_path, SHIPPED + "\n[rule\n")


def test_it_refuses_a_missing_rule(tmp_path: Path) -> None:
    text = re.sub(r'\[rule\."hold\.spo2"\]\n.*?\n\n', "", SHIPPED, flags=re.DOTALL)
    assert 'rule."hold.spo2"' in refusal(tmp_path, text)


def test_it_refuses_a_missing_parameter(tmp_path: Path) -> None:
    text = SHIPPED.replace("below = 90\n", "", 1)
    assert "hold.spo2" in refusal(tmp_path, text)


def test_it_refuses_a_threshold_that_is_not_a_number(tmp_path: Path) -> None:
    text = SHIPPED.replace("above = 130", 'above = "130"', 1)
    assert "hold.heart_rate" in refusal(tmp_path, text)


def test_it_refuses_an_unknown_rule_so_a_typo_is_not_ignored(tmp_path: Path) -> None:
    extra = '\n[rule."hold.heartrate"]\nmeaning = "x"\nunit = "/min"\nsource = ["DUT-T3"]\n'
    text = SHIPPED + extra
    assert "hold.heartrate" in refusal(tmp_path, text)


def test_it_refuses_an_unknown_parameter(tmp_path: Path) -> None:
    text = SHIPPED.replace("above = 130", "above = 130\nabove_or_equal = 131", 1)
    assert "above_or_equal" in refusal(tmp_path, text)


def test_it_refuses_an_entry_without_a_source(tmp_path: Path) -> None:
    text = SHIPPED.replace(
        'above = 130\nunit = "/min"\nsource = ["DUT-T3"]',
        'above = 130\nunit = "/min"\nsource = []',
        1,
    )
    assert "source" in refusal(tmp_path, text)


def test_it_refuses_an_unknown_source_id(tmp_path: Path) -> None:
    text = SHIPPED.replace('source = ["DUT-T3"]', 'source = ["DUTCHER"]', 1)
    assert "DUTCHER" in refusal(tmp_path, text)


def test_it_refuses_a_band_list_of_another_length(tmp_path: Path) -> None:
    text = SHIPPED.replace("pulse_bounds = [40, 50, 90, 110, 130]", "pulse_bounds = [40, 50, 90]")
    assert "pulse_bounds" in refusal(tmp_path, text)


def test_it_allows_a_site_to_change_a_category_list(tmp_path: Path) -> None:
    text = SHIPPED.replace('values = ["half"]', 'values = ["third", "half"]', 1)
    assert load_rules(write(tmp_path, text)).rule("hold.rales").strs("values") == ("third", "half")


VITALS_EVERY = "every_h = 4\nwhile_dosing = false"


@pytest.mark.parametrize("value", ["0", "-4", "0.0", "nan", "inf", "168.01", "1e9"])
def test_it_refuses_a_monitoring_interval_out_of_range(tmp_path: Path, value: str) -> None:
    text = SHIPPED.replace(VITALS_EVERY, f"every_h = {value}\nwhile_dosing = false", 1)
    message = refusal(tmp_path, text)
    assert 'rule."monitoring.vitals".every_h' in message
    assert "more than 0 and at most 168" in message


@pytest.mark.parametrize("value", ["0.01", "168"])
def test_it_accepts_a_monitoring_interval_at_its_bounds(tmp_path: Path, value: str) -> None:
    text = SHIPPED.replace(VITALS_EVERY, f"every_h = {value}\nwhile_dosing = false", 1)
    assert load_rules(write(tmp_path, text)).rule("monitoring.vitals").num("every_h") == float(
        value
    )


def test_it_refuses_a_late_dose_delay_of_zero(tmp_path: Path) -> None:
    text = SHIPPED.replace("after_h = 1\n", "after_h = 0\n", 1)
    assert 'rule."handoff.late_dose".after_h' in refusal(tmp_path, text)


def test_it_refuses_a_monitoring_flag_that_is_not_true_or_false(tmp_path: Path) -> None:
    text = SHIPPED.replace(VITALS_EVERY, 'every_h = 4\nwhile_dosing = "no"', 1)
    assert 'rule."monitoring.vitals".while_dosing' in refusal(tmp_path, text)


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('unstable_advice = ["hold"]', 'unstable_advice = ["stop"]', "unstable_advice"),
        ('watcher_advice = ["caution"]', 'watcher_advice = ["Caution"]', "watcher_advice"),
        ('unstable_flags = ["critical"]', 'unstable_flags = ["severe"]', "unstable_flags"),
        ('watcher_flags = ["warning"]', 'watcher_flags = ["warning", 2]', "watcher_flags"),
        ('watcher_flags = ["warning"]', 'watcher_flags = "warning"', "watcher_flags"),
    ],
)
def test_it_refuses_a_severity_rule_naming_no_advice_or_severity(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    assert f'rule."handoff.severity".{where}' in refusal(tmp_path, SHIPPED.replace(old, new, 1))


def test_the_rules_command_names_a_malformed_handoff_entry(tmp_path: Path) -> None:
    path = write(tmp_path, SHIPPED.replace("after_h = 1\n", "after_h = -1\n", 1))
    done = subprocess.run(
        [sys.executable, "-m", "il2_tox", "rules", "--file", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert 'rule."handoff.late_dose".after_h' in line


def test_it_reports_a_missing_file() -> None:
    with pytest.raises(RulesError, match="not found"):
        load_rules("/nonexistent/rules.toml")


def test_the_rules_command_refuses_a_bad_file_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "[rule\n")
    done = subprocess.run(
        [sys.executable, "-m", "il2_tox", "rules", "--file", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1


def test_docs_rules_md_is_generated_from_the_rules_file() -> None:
    expected = render_markdown(load_rules(DEFAULT_RULES_PATH))
    actual = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert actual == expected, "regenerate: python -m il2_tox rules --markdown > docs/rules.md"


def test_docs_rules_md_lists_every_rule_code() -> None:
    text = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    for code in load_rules(DEFAULT_RULES_PATH).rules:
        assert f"`{code}`" in text
